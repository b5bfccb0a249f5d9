"""Parser for Go ``text/template`` source, after ``text/template/parse/parse.go``; the tree it builds is
in ``nodes``."""

from __future__ import annotations

from collections.abc import Container

from . import lexer as L
from .errors import TemplateError
from .golang.strconv import UnquoteError, go_quote, go_unquote, parse_float, parse_int
from .lexer import Item
from .nodes import (
    ActionNode,
    BoolNode,
    BreakNode,
    ChainNode,
    CommandNode,
    ContinueNode,
    DotNode,
    ElseNode,
    EndNode,
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
    is_empty_tree,
)

__all__ = ["parse_trees"]

MAX_STACK_DEPTH = 10000


# --------------------------------------------------------------------------------------------------------


class ParseError(Exception):
    pass


class _Parser:
    def __init__(
        self,
        name: str,
        text: str,
        items: list[Item],
        funcs: Container[str],
        tree_set: dict[str, Tree],
    ) -> None:
        self.parse_name = name
        self.text = text
        self.items = items
        self.i = 0
        self.funcs = funcs
        self.tree_set = tree_set
        self.vars: list[str] = ["$"]
        self.range_depth = 0
        self.stack_depth = 0
        self.action_line = 0
        self.last: Item = items[0]

    # -- token stream ------------------------------------------------------------------------------------

    def next(self) -> Item:
        items = self.items
        # Past the end, keep returning the terminal EOF/ERROR item.
        it = items[self.i] if self.i < len(items) else items[-1]
        self.i += 1
        self.last = it
        return it

    def backup(self, n: int = 1) -> None:
        self.i -= n

    def peek(self) -> Item:
        items = self.items
        return items[self.i] if self.i < len(items) else items[-1]

    def next_non_space(self) -> Item:
        while True:
            it = self.next()
            if it.typ != L.SPACE:
                return it

    def peek_non_space(self) -> Item:
        it = self.next_non_space()
        self.backup()
        return it

    # -- errors ------------------------------------------------------------------------------------------

    def errorf(self, msg: str) -> ParseError:
        return ParseError(f"template: {self.parse_name}:{self.last.line}: {msg}", self.last.line)

    def unexpected(self, token: Item, context: str) -> ParseError:
        if token.typ == L.ERROR:
            extra = ""
            if self.action_line != 0 and self.action_line != token.line:
                extra = f" in action started at {self.parse_name}:{self.action_line}"
                if token.val.endswith(" action"):
                    extra = extra[len(" in action") :]
            return self.errorf(f"{token}{extra}")
        return self.errorf(f"unexpected {token} in {context}")

    def expect(self, typ: int, context: str) -> Item:
        tok = self.next_non_space()
        if tok.typ != typ:
            raise self.unexpected(tok, context)
        return tok

    # -- grammar -----------------------------------------------------------------------------------------

    def add(self, tree: Tree) -> None:
        old = self.tree_set.get(tree.name)
        if old is None or is_empty_tree(old.root):
            self.tree_set[tree.name] = tree
            return
        if not is_empty_tree(tree.root):
            raise self.errorf(f"template: multiple definition of template {go_quote(tree.name)}")

    def parse_top(self) -> Tree:
        tree = Tree(self.parse_name, self.parse_name, self.text)
        root = ListNode(self.peek().pos)
        while self.peek().typ != L.EOF:
            if self.peek().typ == L.LEFT_DELIM:
                mark = self.i
                self.next()
                if self.next_non_space().typ == L.DEFINE:
                    self.parse_definition()
                    continue
                self.i = mark
            n = self.text_or_action()
            if isinstance(n, EndNode | ElseNode):
                raise self.errorf(f"unexpected {n}")
            if n is not None:
                root.nodes.append(n)
        tree.root = root
        self.add(tree)
        return tree

    def parse_definition(self) -> None:
        context = "define clause"
        tok = self.next_non_space()
        if tok.typ not in (L.STRING, L.RAW_STRING):
            raise self.unexpected(tok, context)
        try:
            name = go_unquote(tok.val)
        except UnquoteError:
            raise self.errorf("invalid syntax") from None
        self.expect(L.RIGHT_DELIM, context)
        self.definition_body(name, context)

    def definition_body(self, name: str, context: str) -> None:
        """The body of a ``define`` or ``block`` up to its ``end``: a template of its own, with its own
        variables and outside any range (Go's parseDefinition on a new tree)."""
        saved_vars, saved_range = self.vars, self.range_depth
        self.vars = ["$"]
        self.range_depth = 0
        tree = Tree(name, self.parse_name, self.text)
        lst, end = self.item_list()
        if not isinstance(end, EndNode):
            raise self.errorf(f"unexpected {end} in {context}")
        tree.root = lst
        self.add(tree)
        self.vars = saved_vars
        self.range_depth = saved_range

    def item_list(self) -> tuple[ListNode, Node]:
        lst = ListNode(self.peek_non_space().pos)
        while self.peek_non_space().typ != L.EOF:
            n = self.text_or_action()
            if isinstance(n, EndNode | ElseNode):
                return lst, n
            if n is not None:
                lst.nodes.append(n)
        raise self.errorf("unexpected EOF")

    def text_or_action(self) -> Node | None:
        tok = self.next_non_space()
        if tok.typ == L.TEXT:
            return TextNode(tok.pos, tok.val)
        if tok.typ == L.LEFT_DELIM:
            self.action_line = tok.line
            try:
                return self.action()
            finally:
                self.action_line = 0
        if tok.typ == L.COMMENT:
            return None
        raise self.unexpected(tok, "input")

    def action(self) -> Node:
        tok = self.next_non_space()
        t = tok.typ
        if t == L.BLOCK:
            return self.block_control()
        if t == L.BREAK:
            return self.loop_control(tok, BreakNode)
        if t == L.CONTINUE:
            return self.loop_control(tok, ContinueNode)
        if t == L.ELSE:
            return self.else_control()
        if t == L.END:
            return EndNode(self.expect(L.RIGHT_DELIM, "end").pos)
        if t == L.IF:
            return self.if_control()
        if t == L.RANGE:
            return self.range_control()
        if t == L.TEMPLATE:
            return self.template_control()
        if t == L.WITH:
            return self.with_control()
        self.backup()
        tok = self.peek()
        return ActionNode(tok.pos, tok.line, self.pipeline("command", L.RIGHT_DELIM))

    def loop_control(self, tok: Item, node_type: type[BreakNode | ContinueNode]) -> Node:
        """``{{break}}`` or ``{{continue}}``: nothing more in the action, and only inside a range."""
        keyword = node_type.text
        nxt = self.next_non_space()
        if nxt.typ != L.RIGHT_DELIM:
            raise self.unexpected(nxt, keyword)
        if self.range_depth == 0:
            raise self.errorf(f"{keyword} outside {{{{range}}}}")
        return node_type(tok.pos, tok.line)

    def pipeline(self, context: str, end: int) -> PipeNode:
        tok = self.peek_non_space()
        pipe = PipeNode(tok.pos, tok.line)
        while True:
            v = self.peek_non_space()
            if v.typ != L.VARIABLE:
                break
            self.next_non_space()
            mark = self.i
            nxt = self.peek_non_space()
            if nxt.typ in (L.ASSIGN, L.DECLARE):
                pipe.is_assign = nxt.typ == L.ASSIGN
                self.next_non_space()
                pipe.decl.append(VariableNode(v.pos, v.val))
                self.vars.append(v.val)
                break
            if nxt.typ == L.CHAR and nxt.val == ",":
                self.next_non_space()
                pipe.decl.append(VariableNode(v.pos, v.val))
                self.vars.append(v.val)
                if context == "range" and len(pipe.decl) < 2:
                    if self.peek_non_space().typ in (L.VARIABLE, L.RIGHT_DELIM, L.RIGHT_PAREN):
                        continue
                    raise self.errorf("range can only initialize variables")
                raise self.errorf(f"too many declarations in {context}")
            # Not a declaration: push the variable back.
            self.i = mark - 1
            break
        while True:
            tok = self.next_non_space()
            if tok.typ == end:
                self.check_pipeline(pipe, context)
                return pipe
            if tok.typ in (
                L.BOOL,
                L.CHAR_CONSTANT,
                L.COMPLEX,
                L.DOT,
                L.FIELD,
                L.IDENTIFIER,
                L.NUMBER,
                L.NIL,
                L.RAW_STRING,
                L.STRING,
                L.VARIABLE,
                L.LEFT_PAREN,
            ):
                self.backup()
                pipe.cmds.append(self.command())
            else:
                raise self.unexpected(tok, context)

    def check_pipeline(self, pipe: PipeNode, context: str) -> None:
        if not pipe.cmds:
            raise self.errorf(f"missing value for {context}")
        for i, c in enumerate(pipe.cmds[1:]):
            if isinstance(c.args[0], BoolNode | DotNode | NilNode | NumberNode | StringNode):
                raise self.errorf(f"non executable command in pipeline stage {i + 2}")

    def parse_control(self, context: str) -> tuple[int, int, PipeNode, ListNode, ListNode | None]:
        nvars = len(self.vars)
        try:
            pipe = self.pipeline(context, L.RIGHT_DELIM)
            if context == "range":
                self.range_depth += 1
            lst, nxt = self.item_list()
            if context == "range":
                self.range_depth -= 1
            else_list: ListNode | None = None
            if isinstance(nxt, ElseNode):
                if context == "if" and self.peek().typ == L.IF:
                    self.next()
                    else_list = ListNode(nxt.pos)
                    else_list.nodes.append(self.if_control())
                elif context == "with" and self.peek().typ == L.WITH:
                    self.next()
                    else_list = ListNode(nxt.pos)
                    else_list.nodes.append(self.with_control())
                else:
                    else_list, nxt = self.item_list()
                    if not isinstance(nxt, EndNode):
                        raise self.errorf(f"expected end; found {nxt}")
            return pipe.pos, pipe.line, pipe, lst, else_list
        finally:
            del self.vars[nvars:]

    def if_control(self) -> Node:
        pos, line, pipe, lst, el = self.parse_control("if")
        return IfNode("if", pos, line, pipe, lst, el)

    def range_control(self) -> Node:
        pos, line, pipe, lst, el = self.parse_control("range")
        return RangeNode("range", pos, line, pipe, lst, el)

    def with_control(self) -> Node:
        pos, line, pipe, lst, el = self.parse_control("with")
        return WithNode("with", pos, line, pipe, lst, el)

    def else_control(self) -> Node:
        pk = self.peek_non_space()
        if pk.typ in (L.IF, L.WITH):
            # "{{else if" is "{{else}}{{if": the keyword stays pending for parse_control
            return ElseNode(pk.pos, pk.line)
        tok = self.expect(L.RIGHT_DELIM, "else")
        return ElseNode(tok.pos, tok.line)

    def parse_template_name(self, tok: Item, context: str) -> str:
        if tok.typ in (L.STRING, L.RAW_STRING):
            try:
                return go_unquote(tok.val)
            except UnquoteError:
                raise self.errorf("invalid syntax") from None
        raise self.unexpected(tok, context)

    def block_control(self) -> Node:
        context = "block clause"
        tok = self.next_non_space()
        name = self.parse_template_name(tok, context)
        pipe = self.pipeline(context, L.RIGHT_DELIM)
        self.definition_body(name, context)
        return TemplateNode(tok.pos, tok.line, name, pipe)

    def template_control(self) -> Node:
        context = "template clause"
        tok = self.next_non_space()
        name = self.parse_template_name(tok, context)
        pipe: PipeNode | None = None
        if self.next_non_space().typ != L.RIGHT_DELIM:
            self.backup()
            pipe = self.pipeline(context, L.RIGHT_DELIM)
        return TemplateNode(tok.pos, tok.line, name, pipe)

    def command(self) -> CommandNode:
        cmd = CommandNode(self.peek_non_space().pos)
        while True:
            self.peek_non_space()
            operand = self.operand()
            if operand is not None:
                cmd.args.append(operand)
            tok = self.next()
            if tok.typ == L.SPACE:
                continue
            if tok.typ in (L.RIGHT_DELIM, L.RIGHT_PAREN):
                self.backup()
            elif tok.typ == L.PIPE:
                pass
            else:
                raise self.unexpected(tok, "operand")
            break
        if not cmd.args:
            raise self.errorf("empty command")
        return cmd

    def operand(self) -> Node | None:
        node = self.term()
        if node is None:
            return None
        if self.peek().typ == L.FIELD:
            chain = ChainNode(self.peek().pos, node)
            while self.peek().typ == L.FIELD:
                chain.add(self.next().val)
            if isinstance(node, FieldNode):
                return FieldNode(chain.pos, str(chain))
            if isinstance(node, VariableNode):
                return VariableNode(chain.pos, str(chain))
            if isinstance(node, BoolNode | StringNode | NumberNode | NilNode | DotNode):
                raise self.errorf(f"unexpected . after term {go_quote(str(node))}")
            return chain
        return node

    def term(self) -> Node | None:
        tok = self.next_non_space()
        t = tok.typ
        if t == L.IDENTIFIER:
            if tok.val not in self.funcs:
                raise self.errorf(f"function {go_quote(tok.val)} not defined")
            return IdentifierNode(tok.pos, tok.val)
        if t == L.DOT:
            return DotNode(tok.pos)
        if t == L.NIL:
            return NilNode(tok.pos)
        if t == L.VARIABLE:
            return self.use_var(tok.pos, tok.val)
        if t == L.FIELD:
            return FieldNode(tok.pos, tok.val)
        if t == L.BOOL:
            return BoolNode(tok.pos, tok.val == "true")
        if t in (L.CHAR_CONSTANT, L.COMPLEX, L.NUMBER):
            return self.new_number(tok)
        if t == L.LEFT_PAREN:
            if self.stack_depth >= MAX_STACK_DEPTH:
                raise self.errorf("max expression depth exceeded")
            self.stack_depth += 1
            try:
                return self.pipeline("parenthesized pipeline", L.RIGHT_PAREN)
            finally:
                self.stack_depth -= 1
        if t in (L.STRING, L.RAW_STRING):
            try:
                s = go_unquote(tok.val)
            except UnquoteError:
                raise self.errorf("invalid syntax") from None
            return StringNode(tok.pos, tok.val, s)
        self.backup()
        return None

    def use_var(self, pos: int, name: str) -> Node:
        v = VariableNode(pos, name)
        if v.ident[0] not in self.vars:
            raise self.errorf(f"undefined variable {go_quote(v.ident[0])}")
        return v

    def new_number(self, tok: Item) -> NumberNode:
        n = NumberNode(tok.pos, tok.val)
        text = tok.val
        if tok.typ == L.CHAR_CONSTANT:
            try:
                r = go_unquote(text)
            except UnquoteError:
                raise self.errorf(f"malformed character constant: {text}") from None
            v = ord(r) if len(r) == 1 else 0xFFFD
            n.int_val = v
            n.is_int = n.is_uint = n.is_float = True
            n.float_val = float(v)
            return n
        if tok.typ == L.COMPLEX:
            raise self.errorf(f"complex constants are not supported: {go_quote(text)}")
        if text.endswith("i"):
            raise self.errorf(f"imaginary constants are not supported: {go_quote(text)}")
        iv = parse_int(text)
        if iv is not None:
            if 0 <= iv < (1 << 64):
                n.is_uint = True
            if -(1 << 63) <= iv < (1 << 63):
                n.is_int = True
                n.int_val = iv
            if n.is_int or n.is_uint:
                n.is_float = True
                n.float_val = float(iv)
                if not n.is_int:
                    n.int_val = iv
                return n
        fv = parse_float(text)
        if fv is not None and not (iv is not None):
            if not any(c in text for c in ".eEpP"):
                raise self.errorf(f"integer overflow: {go_quote(text)}")
            n.is_float = True
            n.float_val = fv
            if fv == int(fv) and abs(fv) < 2**63:
                n.is_int = True
                n.int_val = int(fv)
                if fv >= 0:
                    n.is_uint = True
            return n
        if iv is not None:
            raise self.errorf(f"integer overflow: {go_quote(text)}")
        raise self.errorf(f"illegal number syntax: {go_quote(text)}")


def parse_trees(text: str, name: str, funcs: Container[str]) -> dict[str, Tree]:
    """Parse ``text``; the result maps template names (the top-level one and each define/block) to trees."""
    items = L.lex(text)
    tree_set: dict[str, Tree] = {}
    p = _Parser(name, text, items, funcs, tree_set)
    try:
        p.parse_top()
    except ParseError as e:
        raise TemplateError(str(e.args[0]), name=name, line=e.args[1], phase="parse") from None
    except RecursionError:
        raise TemplateError(
            f"template: {name}:{p.last.line}: max expression depth exceeded", name=name, phase="parse"
        ) from None
    return tree_set
