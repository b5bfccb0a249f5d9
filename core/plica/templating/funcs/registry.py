"""How template functions are declared: each with its Go parameter types, in the table of its family."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

__all__ = ["FuncSpec", "registrar"]

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


def registrar(table: dict[str, FuncSpec]) -> Callable[..., Callable[[F], F]]:
    """A decorator factory that enters a function into ``table`` under each of the space-separated names:
    ``@register("trimAll trimall", "string", "string")`` or ``register("list", variadic="any")(fn)``."""

    def register(names: str, *params: str, variadic: str | None = None) -> Callable[[F], F]:
        def deco(fn: F) -> F:
            for n in names.split():
                table[n] = FuncSpec(n, fn, params, variadic)
            return fn

        return deco

    return register
