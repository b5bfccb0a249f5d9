"""How template functions are declared: each with its Go parameter types, in the table of its family."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["FuncSpec", "function_table"]

F = TypeVar("F", bound=Callable[..., Any])


@dataclass(frozen=True, slots=True)
class FuncSpec:
    """A template function: its implementation and the Go types of its parameters (see ``funcs``).

    ``special`` names the builtins the executor implements itself (``and``, ``or``, ``call``).
    """

    name: str
    impl: Callable[..., Any]
    params: tuple[str, ...]
    variadic: str | None = None
    special: str | None = None


def function_table() -> tuple[dict[str, FuncSpec], Callable[..., Callable[[F], F]]]:
    """A family's function table, empty, and the decorator factory that enters a function into it under
    each of the space-separated names: ``FUNCS, sprig = function_table()``, then
    ``@sprig("trimAll trimall", "string", "string")`` or ``sprig("list", variadic="any")(fn)``."""
    table: dict[str, FuncSpec] = {}

    def register(names: str, *params: str, variadic: str | None = None) -> Callable[[F], F]:
        def deco(fn: F) -> F:
            for n in names.split():
                table[n] = FuncSpec(n, fn, params, variadic)
            return fn

        return deco

    return table, register
