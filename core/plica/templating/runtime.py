"""What the compiled closures of a template share at run time: the execution state, the error that
carries its node, loop control, variables and the small constant and raising closures."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .errors import FailSignal
from .nodes import Node

__all__ = [
    "BREAK",
    "CONTINUE",
    "NOFINAL",
    "BreakLoop",
    "Cmd",
    "ContinueLoop",
    "Eval",
    "ExecError",
    "State",
    "Walk",
    "cmd_const",
    "cmd_raiser",
    "const",
    "get_var",
    "guarded_call",
    "noop",
    "raiser",
    "set_var",
]

Walk = Callable[["State", Any], None]
Eval = Callable[["State", Any], Any]
Cmd = Callable[["State", Any, Any], Any]


class _NoFinal:
    """No value is piped into this command (Go's ``missingVal``)."""

    __slots__ = ()

    def __repr__(self) -> str:
        return "NOFINAL"


NOFINAL: Any = _NoFinal()


class ExecError(Exception):
    def __init__(self, node: Node | None, msg: str, fail_message: str | None = None) -> None:
        super().__init__(msg)
        self.node = node
        self.msg = msg
        self.exec_name: str | None = None
        self.fail_message = fail_message


class BreakLoop(Exception):
    pass


class ContinueLoop(Exception):
    pass


BREAK = BreakLoop()
CONTINUE = ContinueLoop()


class State:
    __slots__ = ("compiled", "depth", "out", "vars")

    def __init__(self, compiled: dict[str, Walk], data: Any) -> None:
        self.compiled = compiled
        self.out: list[str] = []
        self.vars: list[list[Any]] = [["$", data]]
        self.depth = 0


def guarded_call(node: Node, name: str, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` for the function or method ``name`` at ``node``: what it raises becomes Go's ``error calling
    NAME: …`` (step's ``fail`` keeps its message for the client); loop control and recursion pass through."""
    try:
        return fn(*args)
    except (ExecError, RecursionError):
        raise
    except FailSignal as e:
        raise ExecError(node, f"error calling {name}: {e}", e.message or None) from None
    except Exception as e:
        raise ExecError(node, f"error calling {name}: {e}") from None


def raiser(node: Node, msg: str) -> Eval:
    def ev(s: State, dot: Any) -> Any:
        raise ExecError(node, msg)

    return ev


def const(v: Any) -> Eval:
    def ev(s: State, dot: Any) -> Any:
        return v

    return ev


def noop(s: State, dot: Any) -> None:
    return None


def cmd_raiser(node: Node, msg: str) -> Cmd:
    def cmd(s: State, dot: Any, final: Any) -> Any:
        raise ExecError(node, msg)

    return cmd


def cmd_const(v: Any) -> Cmd:
    def cmd(s: State, dot: Any, final: Any) -> Any:
        return v

    return cmd


def get_var(s: State, name: str, node: Node) -> Any:
    vs = s.vars
    for i in range(len(vs) - 1, -1, -1):
        if vs[i][0] == name:
            return vs[i][1]
    raise ExecError(node, f"undefined variable: {name}")


def set_var(s: State, name: str, value: Any, node: Node) -> None:
    vs = s.vars
    for i in range(len(vs) - 1, -1, -1):
        if vs[i][0] == name:
            vs[i][1] = value
            return
    raise ExecError(node, f"undefined variable: {name}")
