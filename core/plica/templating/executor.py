"""Execution of parsed templates with Go ``text/template`` semantics (after ``text/template/exec.go``).

Each tree is compiled once into nested closures: ``walk(state, dot)`` closures write output, ``eval(state,
dot)`` closures return values. Errors carry the node they happened at so that the message names the line,
column and node text the way Go does.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from .args import GO_PARAM_TYPES, NILABLE, convert, ideal_constant
from .errors import TemplateError
from .fields import field_slow, print_value
from .funcs import FuncSpec
from .golang.fmt import sort_key, sprint_value
from .golang.reflect import go_kind, go_type_name
from .golang.strconv import go_quote
from .golang.types import MISSING, Int64, TypedNil, truth
from .nodes import (
    ActionNode,
    BoolNode,
    BreakNode,
    ChainNode,
    CommandNode,
    ContinueNode,
    DotNode,
    FieldNode,
    IdentifierNode,
    IfNode,
    ListNode,
    NilNode,
    Node,
    NumberNode,
    PipeNode,
    RangeNode,
    StringNode,
    TemplateNode,
    TextNode,
    Tree,
    VariableNode,
    WithNode,
)
from .runtime import (
    BREAK,
    CONTINUE,
    NOFINAL,
    BreakLoop,
    Cmd,
    ContinueLoop,
    Eval,
    ExecError,
    State,
    Walk,
    cmd_const,
    cmd_raiser,
    const,
    get_var,
    guarded_call,
    noop,
    raiser,
    set_var,
)

__all__ = ["Template"]

MAX_EXEC_DEPTH = 100000

# what Go's evalArg says it expected when a literal does not fit the parameter type
_LITERAL_WANTS = {
    "string": "string",
    "int": "integer",
    "int64": "integer",
    "float64": "float",
    "bool": "bool",
}

# --------------------------------------------------------------------------------------------------------
# compiler


def _declares(lst: ListNode | None) -> bool:
    """Whether actions directly in ``lst`` declare variables (which must be popped at the matching end)."""
    if lst is None:
        return False
    return any(isinstance(n, ActionNode) and n.pipe.decl for n in lst.nodes)


def _last_node(pipe: PipeNode) -> Node:
    if not pipe.cmds:
        return pipe
    last = pipe.cmds[-1]
    return last.args[-1] if last.args else last


class _Compiler:
    def __init__(self, funcs: Mapping[str, FuncSpec]) -> None:
        self.funcs = funcs

    # -- walks -------------------------------------------------------------------------------------------

    def list(self, lst: ListNode) -> Walk:
        fns = [self.node(n) for n in lst.nodes]
        fns = [f for f in fns if f is not None]
        if not fns:
            return noop
        if len(fns) == 1:
            return fns[0]
        if len(fns) == 2:
            f0, f1 = fns

            def walk2(s: State, dot: Any) -> None:
                f0(s, dot)
                f1(s, dot)

            return walk2
        fs = tuple(fns)

        def walk(s: State, dot: Any) -> None:
            for f in fs:
                f(s, dot)

        return walk

    def node(self, n: Node) -> Walk | None:
        if isinstance(n, TextNode):
            text = n.text
            if not text:
                return None

            def walk_text(s: State, dot: Any) -> None:
                s.out.append(text)

            return walk_text
        if isinstance(n, ActionNode):
            return self.action(n)
        if isinstance(n, IfNode | WithNode):
            return self.if_with(n)
        if isinstance(n, RangeNode):
            return self.range(n)
        if isinstance(n, TemplateNode):
            return self.template(n)
        if isinstance(n, BreakNode):

            def walk_break(s: State, dot: Any) -> None:
                raise BREAK

            return walk_break
        if isinstance(n, ContinueNode):

            def walk_continue(s: State, dot: Any) -> None:
                raise CONTINUE

            return walk_continue
        if isinstance(n, ListNode):
            return self.list(n)
        raise TemplateError(f"template: unknown node: {n}")

    def action(self, n: ActionNode) -> Walk:
        ev = self.pipeline(n.pipe)
        if n.pipe.decl:

            def walk_decl(s: State, dot: Any) -> None:
                ev(s, dot)

            return walk_decl

        def walk_action(s: State, dot: Any) -> None:
            v = ev(s, dot)
            if type(v) is str:
                s.out.append(v)
            else:
                s.out.append(print_value(v))

        return walk_action

    def if_with(self, n: IfNode | WithNode) -> Walk:
        ev = self.pipeline(n.pipe)
        body = self.list(n.list)
        else_body = self.list(n.else_list) if n.else_list is not None else None
        is_with = isinstance(n, WithNode)
        needs_pop = bool(n.pipe.decl) or _declares(n.list) or _declares(n.else_list)

        if not is_with and not needs_pop:
            if else_body is None:

                def walk_if(s: State, dot: Any) -> None:
                    if truth(ev(s, dot)):
                        body(s, dot)

                return walk_if

            eb = else_body

            def walk_if_else(s: State, dot: Any) -> None:
                if truth(ev(s, dot)):
                    body(s, dot)
                else:
                    eb(s, dot)

            return walk_if_else

        def walk_branch(s: State, dot: Any) -> None:
            mark = len(s.vars)
            v = ev(s, dot)
            if truth(v):
                body(s, v if is_with else dot)
            elif else_body is not None:
                else_body(s, dot)
            if needs_pop:
                del s.vars[mark:]

        return walk_branch

    def range(self, n: RangeNode) -> Walk:
        pipe = n.pipe
        ev = self.pipeline(pipe)
        body = self.list(n.list)
        else_body = self.list(n.else_list) if n.else_list is not None else None
        ndecl = len(pipe.decl)
        assign = pipe.is_assign
        names = [d.ident[0] for d in pipe.decl]
        err_node = _last_node(pipe)

        def set_vars(s: State, index: Any, elem: Any) -> None:
            vs = s.vars
            if assign:
                if ndecl > 1:
                    set_var(s, names[0], index, n)
                    set_var(s, names[1], elem, n)
                else:
                    set_var(s, names[0], elem, n)
            else:
                vs[-1][1] = elem
                if ndecl > 1:
                    vs[-2][1] = index

        def walk_range(s: State, dot: Any) -> None:
            vs = s.vars
            mark0 = len(vs)
            try:
                val = ev(s, dot)
                mark = len(vs)
                t = type(val)
                items: Any
                if t is list or t is tuple or isinstance(val, list | tuple | bytes | bytearray):
                    items = enumerate(val)
                elif isinstance(val, Mapping):
                    items = ((k, val[k]) for k in sorted(val, key=sort_key))
                elif t is int or (isinstance(val, int) and not isinstance(val, bool)):
                    if ndecl > 1:
                        raise ExecError(
                            err_node,
                            f"can't use {sprint_value(val)} to iterate over more than one variable",
                        )
                    items = ((MISSING, i) for i in range(int(val)))
                elif (
                    val is MISSING
                    or val is None
                    or (isinstance(val, TypedNil) and val.kind in ("slice", "map"))
                ):
                    items = ()
                elif go_kind(val) in ("slice", "array") and hasattr(val, "__iter__"):
                    items = enumerate(list(val))
                else:
                    raise ExecError(err_node, f"range can't iterate over {sprint_value(val)}")
                ran = False
                for index, elem in items:
                    ran = True
                    if ndecl:
                        set_vars(s, index, elem)
                    try:
                        body(s, elem)
                    except ContinueLoop:
                        pass
                    except BreakLoop:
                        break
                    finally:
                        del vs[mark:]
                if not ran and else_body is not None:
                    else_body(s, dot)
            finally:
                del vs[mark0:]

        return walk_range

    def template(self, n: TemplateNode) -> Walk:
        name = n.name
        ev = self.pipeline(n.pipe) if n.pipe is not None else None

        def walk_template(s: State, dot: Any) -> None:
            w = s.compiled.get(name)
            if w is None:
                raise ExecError(n, f"template {go_quote(name)} not defined")
            if s.depth >= MAX_EXEC_DEPTH:
                raise ExecError(n, f"exceeded maximum template depth ({MAX_EXEC_DEPTH})")
            newdot = ev(s, dot) if ev is not None else MISSING
            saved = s.vars
            s.vars = [["$", newdot]]
            s.depth += 1
            try:
                w(s, newdot)
            except ExecError as e:
                if e.exec_name is None:
                    e.exec_name = name
                raise
            finally:
                s.vars = saved
                s.depth -= 1

        return walk_template

    # -- evaluation --------------------------------------------------------------------------------------

    def pipeline(self, pipe: PipeNode) -> Eval:
        cmds = [self.command(c, i > 0) for i, c in enumerate(pipe.cmds)]
        names = [d.ident[0] for d in pipe.decl]
        assign = pipe.is_assign
        if len(cmds) == 1 and not names:
            c0 = cmds[0]

            def eval_pipe1(s: State, dot: Any) -> Any:
                v = c0(s, dot, NOFINAL)
                return MISSING if v is None else v

            return eval_pipe1

        cs = tuple(cmds)

        def eval_pipe(s: State, dot: Any) -> Any:
            v = NOFINAL
            for c in cs:
                v = c(s, dot, v)
                if v is None:
                    v = MISSING
            for name in names:
                if assign:
                    set_var(s, name, v, pipe)
                else:
                    s.vars.append([name, v])
            return v

        return eval_pipe

    def command(self, cmd: CommandNode, has_final: bool) -> Cmd:
        first = cmd.args[0]
        rest = cmd.args[1:]
        if isinstance(first, FieldNode):
            return self.field_chain_cmd(None, first.ident, first, rest, has_final)
        if isinstance(first, ChainNode):
            if isinstance(first.node, NilNode):
                return cmd_raiser(first, f"indirection through explicit nil in {first}")
            recv = self.arg(first.node, "any")
            return self.field_chain_cmd(recv, first.field, first, rest, has_final)
        if isinstance(first, IdentifierNode):
            return self.function(first, cmd, rest, has_final)
        if isinstance(first, VariableNode):
            if len(first.ident) == 1:
                if rest or has_final:
                    return cmd_raiser(first, f"can't give argument to non-function {first}")
                vname = first.ident[0]

                def cmd_var(s: State, dot: Any, final: Any) -> Any:
                    return get_var(s, vname, first)

                return cmd_var
            vname = first.ident[0]
            vnode = first

            def var_recv(s: State, dot: Any) -> Any:
                return get_var(s, vname, vnode)

            return self.field_chain_cmd(var_recv, first.ident[1:], first, rest, has_final)
        if rest or has_final:
            return cmd_raiser(first, f"can't give argument to non-function {first}")
        if isinstance(first, PipeNode):
            ev = self.pipeline(first)

            def cmd_pipe(s: State, dot: Any, final: Any) -> Any:
                return ev(s, dot)

            return cmd_pipe
        if isinstance(first, BoolNode):
            return cmd_const(first.value)
        if isinstance(first, DotNode):

            def cmd_dot(s: State, dot: Any, final: Any) -> Any:
                return dot

            return cmd_dot
        if isinstance(first, NilNode):
            return cmd_raiser(first, "nil is not a command")
        if isinstance(first, NumberNode):
            v, err = ideal_constant(first)
            return cmd_raiser(first, err) if err else cmd_const(v)
        if isinstance(first, StringNode):
            return cmd_const(first.text)
        return cmd_raiser(first, f"can't evaluate command {go_quote(str(first))}")

    def field_chain_cmd(
        self, recv: Eval | None, idents: list[str], node: Node, arg_nodes: list[Node], has_final: bool
    ) -> Cmd:
        """``.A.B.C args`` evaluated on ``recv`` (or dot when None); the last field may be a method."""
        arg_evs = [self.arg(a, "any") for a in arg_nodes]
        has_args = bool(arg_nodes) or has_final
        head = tuple(idents[:-1])
        last = idents[-1]
        fslow = field_slow

        if not has_args:

            def cmd_fields(s: State, dot: Any, final: Any) -> Any:
                v = dot if recv is None else recv(s, dot)
                for name in head:
                    v = v.get(name, MISSING) if type(v) is dict else fslow(v, name, node, None, False)
                if type(v) is dict:
                    return v.get(last, MISSING)
                return fslow(v, last, node, None, False)

            return cmd_fields

        def cmd_method(s: State, dot: Any, final: Any) -> Any:
            v = dot if recv is None else recv(s, dot)
            for name in head:
                v = fslow(v, name, node, None, False)
            if v is MISSING:
                return MISSING
            args = [e(s, dot) for e in arg_evs]
            if final is not NOFINAL:
                args.append(None if final is MISSING else final)
            return fslow(v, last, node, args, True)

        return cmd_method

    def arg(self, n: Node, ptype: str) -> Eval:
        """An argument evaluator returning a value converted to the parameter type ``ptype``."""
        if isinstance(n, DotNode):

            def arg_dot(s: State, dot: Any) -> Any:
                return convert(dot, ptype, n, False)

            return arg_dot
        if isinstance(n, NilNode):
            if ptype in NILABLE:
                return const(None)
            return raiser(n, f"cannot assign nil to {GO_PARAM_TYPES[ptype]}")
        if isinstance(n, FieldNode | ChainNode | VariableNode | PipeNode | IdentifierNode):
            if isinstance(n, FieldNode):
                c = self.field_chain_cmd(None, n.ident, n, [], False)
                from_field = True
            elif isinstance(n, ChainNode):
                c = self.command(_single(n), False)
                from_field = True
            elif isinstance(n, VariableNode):
                c = self.command(_single(n), False)
                from_field = len(n.ident) > 1
            elif isinstance(n, PipeNode):
                pe = self.pipeline(n)

                def c(s: State, dot: Any, final: Any) -> Any:
                    return pe(s, dot)

                from_field = False
            else:
                c = self.function(n, n, [], False)
                from_field = False
            if ptype == "any":

                def arg_any(s: State, dot: Any) -> Any:
                    v = c(s, dot, NOFINAL)
                    return None if v is MISSING else v

                return arg_any
            if ptype == "value":

                def arg_value(s: State, dot: Any) -> Any:
                    return c(s, dot, NOFINAL)

                return arg_value

            def arg_typed(s: State, dot: Any) -> Any:
                return convert(c(s, dot, NOFINAL), ptype, n, from_field)

            return arg_typed
        tn = GO_PARAM_TYPES.get(ptype, ptype)
        if isinstance(n, StringNode):
            if ptype in ("string", "any", "value"):
                return const(n.text)
        elif isinstance(n, NumberNode):
            if ptype in ("int", "int64") and n.is_int:
                return const(n.int_val if ptype == "int" else Int64(n.int_val))
            if ptype == "float64" and n.is_float:
                return const(n.float_val)
            if ptype in ("any", "value"):
                v, err = ideal_constant(n)
                return raiser(n, err) if err else const(v)
        elif isinstance(n, BoolNode):
            if ptype in ("bool", "any", "value"):
                return const(n.value)
        else:
            return raiser(n, f"can't handle {n} for arg of type {tn}")
        want = _LITERAL_WANTS.get(ptype)
        if want is not None:
            return raiser(n, f"expected {want}; found {n}")
        return raiser(n, f"can't handle {n} for arg of type {tn}")

    def function(self, ident: IdentifierNode, call_node: Node, arg_nodes: list[Node], has_final: bool) -> Cmd:
        name = ident.ident
        spec = self.funcs.get(name)
        if spec is None:
            return cmd_raiser(ident, f"{go_quote(name)} is not a defined function")
        nargs = len(arg_nodes)
        num_in = nargs + (1 if has_final else 0)
        fixed = len(spec.params)
        if spec.variadic is not None:
            if num_in < fixed:
                return cmd_raiser(
                    ident, f"wrong number of args for {name}: want at least {fixed} got {nargs}"
                )
        elif num_in != fixed:
            return cmd_raiser(ident, f"wrong number of args for {name}: want {fixed} got {num_in}")

        def ptype_at(i: int) -> str:
            if i < fixed:
                return spec.params[i]
            assert spec.variadic is not None
            return spec.variadic

        if spec.special in ("and", "or"):
            return self._and_or(spec.special, [self.arg(a, "value") for a in arg_nodes], has_final)
        if spec.special == "call":
            return self._call_builtin(ident, call_node, arg_nodes, has_final)

        evs = tuple(self.arg(a, ptype_at(i)) for i, a in enumerate(arg_nodes))
        final_type = ptype_at(num_in - 1) if has_final else "any"
        impl = spec.impl

        if not has_final:
            if nargs == 0:

                def call0(s: State, dot: Any, final: Any) -> Any:
                    return guarded_call(call_node, name, impl)

                return call0
            if nargs == 1:
                e0 = evs[0]

                def call1(s: State, dot: Any, final: Any) -> Any:
                    return guarded_call(call_node, name, impl, e0(s, dot))

                return call1
            if nargs == 2:
                e0, e1 = evs

                def call2(s: State, dot: Any, final: Any) -> Any:
                    return guarded_call(call_node, name, impl, e0(s, dot), e1(s, dot))

                return call2

        final_node: Node = arg_nodes[-1] if arg_nodes else ident

        def calln(s: State, dot: Any, final: Any) -> Any:
            argv = [e(s, dot) for e in evs]
            if has_final:
                argv.append(convert(final, final_type, final_node, False))
            return guarded_call(call_node, name, impl, *argv)

        return calln

    def _and_or(self, which: str, evs: list[Eval], has_final: bool) -> Cmd:
        want = which == "or"
        ev_t = tuple(evs)

        def cmd_and_or(s: State, dot: Any, final: Any) -> Any:
            v: Any = MISSING
            for e in ev_t:
                v = e(s, dot)
                if truth(v) == want:
                    return v
            if has_final:
                return final
            return v

        return cmd_and_or

    def _call_builtin(
        self, ident: IdentifierNode, call_node: Node, arg_nodes: list[Node], has_final: bool
    ) -> Cmd:
        evs = [self.arg(a, "value") for a in arg_nodes]
        fn_node_text = str(arg_nodes[0]) if arg_nodes else "<nil>"

        def cmd_call(s: State, dot: Any, final: Any) -> Any:
            vals = [e(s, dot) for e in evs]
            if has_final:
                vals.append(final)
            fn = vals[0]
            args = [None if a is MISSING else a for a in vals[1:]]
            if fn is None or fn is MISSING:
                raise ExecError(call_node, "error calling call: call of nil")
            if not callable(fn) or isinstance(fn, type):
                raise ExecError(
                    call_node, f"error calling call: non-function {fn_node_text} of type {go_type_name(fn)}"
                )
            return guarded_call(call_node, "call", fn, *args)

        return cmd_call


def _single(n: Node) -> CommandNode:
    c = CommandNode(n.pos)
    c.args.append(n)
    return c


# --------------------------------------------------------------------------------------------------------


def _location(tree_text: str, parse_name: str, pos: int) -> tuple[str, int, int]:
    before = tree_text[:pos]
    nl = before.rfind("\n")
    line = before.count("\n") + 1
    col_text = before if nl < 0 else before[nl + 1 :]
    col = len(col_text.encode("utf-8", "surrogateescape"))
    return f"{parse_name}:{line}:{col}", line, col


class Template:
    """A parsed template set: the top-level template plus its ``define``/``block`` templates.

    ``execute`` is thread-safe; a Template is immutable once built.
    """

    __slots__ = ("_compiled", "_root", "_trees", "funcset", "name", "text")

    def __init__(
        self, name: str, text: str, trees: dict[str, Tree], funcs: Mapping[str, FuncSpec], funcset: str
    ) -> None:
        self.name = name
        self.text = text
        self.funcset = funcset
        self._trees = trees
        comp = _Compiler(funcs)
        self._compiled: dict[str, Walk] = {}
        for tname, tree in trees.items():
            assert tree.root is not None
            self._compiled[tname] = comp.list(tree.root)
        self._root = self._compiled.get(name, noop)

    def defined_templates(self) -> list[str]:
        return sorted(self._trees)

    def execute(self, data: Any) -> str:
        """Run the template on ``data``; raises TemplateError (never another exception type)."""
        s = State(self._compiled, data)
        try:
            self._root(s, data)
        except ExecError as e:
            raise self._exec_error(e) from None
        except RecursionError:
            raise TemplateError(
                f"template: {self.name}: exceeded maximum template depth (Python recursion limit)",
                name=self.name,
            ) from None
        except TemplateError:
            raise
        except Exception as e:  # pragma: no cover - defensive: a bug must still surface as TemplateError
            raise TemplateError(f"template: {self.name}: internal error: {e!r}", name=self.name) from e
        return "".join(s.out)

    def _exec_error(self, e: ExecError) -> TemplateError:
        exec_name = e.exec_name or self.name
        node = e.node
        if node is None:
            msg = f"template: {exec_name}: {e.msg}"
            return TemplateError(msg, name=self.name, fail_message=e.fail_message)
        loc, line, col = _location(self.text, self.name, node.pos)
        msg = f"template: {loc}: executing {go_quote(exec_name)} at <{node}>: {e.msg}"
        return TemplateError(msg, name=self.name, line=line, column=col, fail_message=e.fail_message)
