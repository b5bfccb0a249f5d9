"""The parse tree of a Go ``text/template``, after ``text/template/parse/node.go``.

Nodes keep Go's positions (character offsets) so that execution errors can name the line and column of the
failing node, and each node renders back to template text (``str(node)``) for the ``at <…>`` context.
"""

from __future__ import annotations

from typing import ClassVar

from .golang.strconv import go_quote

__all__ = [
    "ActionNode",
    "BoolNode",
    "BranchNode",
    "BreakNode",
    "ChainNode",
    "CommandNode",
    "ContinueNode",
    "DotNode",
    "ElseNode",
    "EndNode",
    "FieldNode",
    "IdentifierNode",
    "IfNode",
    "ListNode",
    "NilNode",
    "Node",
    "NumberNode",
    "PipeNode",
    "RangeNode",
    "StringNode",
    "TemplateNode",
    "TextNode",
    "Tree",
    "VariableNode",
    "WithNode",
    "is_empty_tree",
]


class Node:
    __slots__ = ("pos",)

    def __init__(self, pos: int) -> None:
        self.pos = pos

    def __str__(self) -> str:  # pragma: no cover - overridden
        return ""


class ListNode(Node):
    __slots__ = ("nodes",)

    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.nodes: list[Node] = []

    def __str__(self) -> str:
        return "".join(str(n) for n in self.nodes)


class TextNode(Node):
    __slots__ = ("text",)

    def __init__(self, pos: int, text: str) -> None:
        super().__init__(pos)
        self.text = text

    def __str__(self) -> str:
        return self.text


class VariableNode(Node):
    __slots__ = ("ident",)

    def __init__(self, pos: int, ident: str) -> None:
        super().__init__(pos)
        self.ident = ident.split(".")

    def __str__(self) -> str:
        return ".".join(self.ident)


class PipeNode(Node):
    __slots__ = ("cmds", "decl", "is_assign", "line")

    def __init__(self, pos: int, line: int) -> None:
        super().__init__(pos)
        self.line = line
        self.is_assign = False
        self.decl: list[VariableNode] = []
        self.cmds: list[CommandNode] = []

    def __str__(self) -> str:
        out = ""
        if self.decl:
            out = ", ".join(str(v) for v in self.decl) + (" = " if self.is_assign else " := ")
        return out + " | ".join(str(c) for c in self.cmds)


class CommandNode(Node):
    __slots__ = ("args",)

    def __init__(self, pos: int) -> None:
        super().__init__(pos)
        self.args: list[Node] = []

    def __str__(self) -> str:
        parts = []
        for a in self.args:
            parts.append(f"({a})" if isinstance(a, PipeNode) else str(a))
        return " ".join(parts)


class IdentifierNode(Node):
    __slots__ = ("ident",)

    def __init__(self, pos: int, ident: str) -> None:
        super().__init__(pos)
        self.ident = ident

    def __str__(self) -> str:
        return self.ident


class _FixedNode(Node):
    """A node whose template text is always the same: its class's ``text``."""

    __slots__ = ()
    text: ClassVar[str] = ""

    def __str__(self) -> str:
        return self.text


class _KeywordNode(_FixedNode):
    """A keyword alone in its action (``{{else}}``, ``{{break}}``, ``{{continue}}``), which keeps its line."""

    __slots__ = ("line",)

    def __init__(self, pos: int, line: int) -> None:
        super().__init__(pos)
        self.line = line


class DotNode(_FixedNode):
    __slots__ = ()
    text = "."


class NilNode(_FixedNode):
    __slots__ = ()
    text = "nil"


class FieldNode(Node):
    __slots__ = ("ident",)

    def __init__(self, pos: int, ident: str) -> None:
        super().__init__(pos)
        self.ident = ident[1:].split(".")

    def __str__(self) -> str:
        return "".join("." + i for i in self.ident)


class ChainNode(Node):
    __slots__ = ("field", "node")

    def __init__(self, pos: int, node: Node) -> None:
        super().__init__(pos)
        self.node = node
        self.field: list[str] = []

    def add(self, field: str) -> None:
        if not field or field[0] != ".":
            raise ValueError("no dot in field")
        self.field.append(field[1:])

    def __str__(self) -> str:
        head = f"({self.node})" if isinstance(self.node, PipeNode) else str(self.node)
        return head + "".join("." + f for f in self.field)


class BoolNode(Node):
    __slots__ = ("value",)

    def __init__(self, pos: int, value: bool) -> None:
        super().__init__(pos)
        self.value = value

    def __str__(self) -> str:
        return "true" if self.value else "false"


class NumberNode(Node):
    __slots__ = ("float_val", "int_val", "is_complex", "is_float", "is_int", "is_uint", "text")

    def __init__(self, pos: int, text: str) -> None:
        super().__init__(pos)
        self.text = text
        self.is_int = False
        self.is_uint = False
        self.is_float = False
        self.is_complex = False
        self.int_val = 0
        self.float_val = 0.0

    def __str__(self) -> str:
        return self.text


class StringNode(Node):
    __slots__ = ("quoted", "text")

    def __init__(self, pos: int, quoted: str, text: str) -> None:
        super().__init__(pos)
        self.quoted = quoted
        self.text = text

    def __str__(self) -> str:
        return self.quoted


class EndNode(_FixedNode):
    __slots__ = ()
    text = "{{end}}"


class ElseNode(_KeywordNode):
    __slots__ = ()
    text = "{{else}}"


class ActionNode(Node):
    __slots__ = ("line", "pipe")

    def __init__(self, pos: int, line: int, pipe: PipeNode) -> None:
        super().__init__(pos)
        self.line = line
        self.pipe = pipe

    def __str__(self) -> str:
        return "{{" + str(self.pipe) + "}}"


class BranchNode(Node):
    __slots__ = ("else_list", "keyword", "line", "list", "pipe")

    def __init__(
        self, keyword: str, pos: int, line: int, pipe: PipeNode, lst: ListNode, else_list: ListNode | None
    ) -> None:
        super().__init__(pos)
        self.keyword = keyword
        self.line = line
        self.pipe = pipe
        self.list = lst
        self.else_list = else_list

    def __str__(self) -> str:
        out = "{{" + self.keyword + " " + str(self.pipe) + "}}" + str(self.list)
        if self.else_list is not None:
            out += "{{else}}" + str(self.else_list)
        return out + "{{end}}"


class IfNode(BranchNode):
    __slots__ = ()


class RangeNode(BranchNode):
    __slots__ = ()


class WithNode(BranchNode):
    __slots__ = ()


class BreakNode(_KeywordNode):
    __slots__ = ()
    text = "{{break}}"


class ContinueNode(_KeywordNode):
    __slots__ = ()
    text = "{{continue}}"


class TemplateNode(Node):
    __slots__ = ("line", "name", "pipe")

    def __init__(self, pos: int, line: int, name: str, pipe: PipeNode | None) -> None:
        super().__init__(pos)
        self.line = line
        self.name = name
        self.pipe = pipe

    def __str__(self) -> str:
        if self.pipe is None:
            return "{{template " + go_quote(self.name) + "}}"
        return "{{template " + go_quote(self.name) + " " + str(self.pipe) + "}}"


class Tree:
    """One parsed template (the top-level one or a ``define``/``block``)."""

    __slots__ = ("name", "parse_name", "root", "text")

    def __init__(self, name: str, parse_name: str, text: str) -> None:
        self.name = name
        self.parse_name = parse_name
        self.text = text
        self.root: ListNode | None = None


def is_empty_tree(n: Node | None) -> bool:
    if n is None:
        return True
    if isinstance(n, ListNode):
        return all(is_empty_tree(x) for x in n.nodes)
    if isinstance(n, TextNode):
        return n.text.strip(" \t\r\n\v\f") == ""
    return False
