"""The exceptions of the template engine: the error a template raises, and the errors Go code returns."""

from __future__ import annotations

__all__ = ["FailSignal", "GoError", "TemplateError"]


class TemplateError(Exception):
    """A template failed to parse or execute.

    ``str(err)`` is the Go-style message, e.g.
    ``template: leaf:3:12: executing "leaf" at <.Foo.bar>: nil pointer evaluating interface {}.bar``.
    ``fail_message`` is set (non-empty) when the step ``fail`` function aborted the execution: the CA
    answers 400 with that text instead of a generic 500.
    """

    def __init__(
        self,
        message: str,
        *,
        name: str = "template",
        line: int | None = None,
        column: int | None = None,
        phase: str = "exec",
        fail_message: str | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.name = name
        self.line = line
        self.column = column
        self.phase = phase
        self.fail_message = fail_message


class GoError(Exception):
    """Raised by template functions; becomes ``error calling NAME: <message>``."""


class FailSignal(GoError):
    """Raised by step's ``fail``: the CA turns a non-empty message into an HTTP 400."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message
