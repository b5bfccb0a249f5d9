"""Lexer for Go ``text/template`` source (default ``{{ }}`` delimiters), after ``text/template/parse/lex.go``."""

from __future__ import annotations

import unicodedata
from typing import NamedTuple

from .golang.strconv import go_quote

__all__ = ["Item", "lex"]

# Item types. Keywords sort after KEYWORD so that ``typ > KEYWORD`` identifies them, as in Go.
ERROR = 0
BOOL = 1
CHAR = 2
CHAR_CONSTANT = 3
COMMENT = 4
COMPLEX = 5
ASSIGN = 6
DECLARE = 7
EOF = 8
FIELD = 9
IDENTIFIER = 10
LEFT_DELIM = 11
LEFT_PAREN = 12
NUMBER = 13
PIPE = 14
RAW_STRING = 15
RIGHT_DELIM = 16
RIGHT_PAREN = 17
SPACE = 18
STRING = 19
TEXT = 20
VARIABLE = 21
KEYWORD = 22
BLOCK = 23
BREAK = 24
CONTINUE = 25
DOT = 26
DEFINE = 27
ELSE = 28
END = 29
IF = 30
NIL = 31
RANGE = 32
TEMPLATE = 33
WITH = 34

KEYWORDS = {
    ".": DOT,
    "block": BLOCK,
    "break": BREAK,
    "continue": CONTINUE,
    "define": DEFINE,
    "else": ELSE,
    "end": END,
    "if": IF,
    "range": RANGE,
    "nil": NIL,
    "template": TEMPLATE,
    "with": WITH,
}

LEFT = "{{"
RIGHT = "}}"
LEFT_COMMENT = "/*"
RIGHT_COMMENT = "*/"
SPACE_CHARS = " \t\r\n"


class Item(NamedTuple):
    typ: int
    pos: int
    val: str
    line: int

    def __str__(self) -> str:
        if self.typ == EOF:
            return "EOF"
        if self.typ == ERROR:
            return self.val
        if self.typ > KEYWORD:
            return f"<{self.val}>"
        if len(self.val) > 10:
            return go_quote(self.val[:10]) + "..."
        return go_quote(self.val)


def _is_space(c: str) -> bool:
    return c in SPACE_CHARS and c != ""


def _is_alnum(c: str) -> bool:
    if c == "_":
        return True
    if c.isascii():
        return c.isalnum()
    cat = unicodedata.category(c)
    return cat.startswith("L") or cat == "Nd"


def _has_left_trim(s: str, i: int) -> bool:
    return len(s) >= i + 2 and s[i] == "-" and _is_space(s[i + 1])


def _has_right_trim(s: str, i: int) -> bool:
    return len(s) >= i + 2 and _is_space(s[i]) and s[i + 1] == "-"


class _Lexer:
    def __init__(self, text: str) -> None:
        self.s = text
        self.pos = 0
        self.start = 0
        self.line = 1
        self.start_line = 1
        self.items: list[Item] = []
        self.paren_depth = 0
        self.done = False

    # -- helpers -----------------------------------------------------------------------------------------

    def emit(self, typ: int) -> None:
        val = self.s[self.start : self.pos]
        self.items.append(Item(typ, self.start, val, self.start_line))
        self.line += val.count("\n") if typ in (TEXT, SPACE, RAW_STRING, COMMENT) else 0
        self.start = self.pos
        self.start_line = self.line

    def ignore(self) -> None:
        self.line += self.s.count("\n", self.start, self.pos)
        self.start = self.pos
        self.start_line = self.line

    def error(self, msg: str) -> None:
        self.items.append(Item(ERROR, self.start, msg, self.start_line))
        self.done = True

    def peek(self) -> str:
        return self.s[self.pos] if self.pos < len(self.s) else ""

    def at_right_delim(self) -> tuple[bool, bool]:
        s, p = self.s, self.pos
        if _has_right_trim(s, p) and s.startswith(RIGHT, p + 2):
            return True, True
        if s.startswith(RIGHT, p):
            return True, False
        return False, False

    def skip_trimmed_space(self) -> None:
        """Move past the space that a trim marker (`` -}}``) removes after its delimiter."""
        rest = self.s[self.pos :]
        self.pos += len(rest) - len(rest.lstrip(SPACE_CHARS))

    def at_terminator(self) -> bool:
        c = self.peek()
        if c == "" or _is_space(c) or c in ".,|:)(":
            return True
        return self.s.startswith(RIGHT, self.pos)

    # -- states ------------------------------------------------------------------------------------------

    def run(self) -> list[Item]:
        inside = False
        while not self.done:
            inside = self.lex_inside_action() if inside else self.lex_text()
        return self.items

    def lex_text(self) -> bool:
        s = self.s
        x = s.find(LEFT, self.pos)
        if x >= 0:
            if x > self.pos:
                self.pos = x
                trim = 0
                delim_end = x + len(LEFT)
                if _has_left_trim(s, delim_end):
                    seg = s[self.start : self.pos]
                    trim = len(seg) - len(seg.rstrip(SPACE_CHARS))
                self.pos -= trim
                if self.pos > self.start:
                    self.emit(TEXT)
                self.pos += trim
                self.ignore()
            return self.lex_left_delim()
        self.pos = len(s)
        if self.pos > self.start:
            self.emit(TEXT)
        self.items.append(Item(EOF, self.pos, "", self.line))
        self.done = True
        return False

    def lex_left_delim(self) -> bool:
        s = self.s
        self.pos += len(LEFT)
        trim = _has_left_trim(s, self.pos)
        after = 2 if trim else 0
        if s.startswith(LEFT_COMMENT, self.pos + after):
            self.pos += after
            self.ignore()
            return self.lex_comment()
        self.emit(LEFT_DELIM)
        self.pos += after
        self.ignore()
        self.paren_depth = 0
        return True

    def lex_comment(self) -> bool:
        s = self.s
        self.pos += len(LEFT_COMMENT)
        x = s.find(RIGHT_COMMENT, self.pos)
        if x < 0:
            self.error("unclosed comment")
            return False
        self.pos = x + len(RIGHT_COMMENT)
        delim, trim = self.at_right_delim()
        if not delim:
            self.error("comment ends before closing delimiter")
            return False
        if trim:
            self.pos += 2
        self.pos += len(RIGHT)
        if trim:
            self.skip_trimmed_space()
        self.ignore()
        return False

    def lex_right_delim(self) -> bool:
        _, trim = self.at_right_delim()
        if trim:
            self.pos += 2
            self.ignore()
        self.pos += len(RIGHT)
        self.emit(RIGHT_DELIM)
        if trim:
            self.skip_trimmed_space()
            self.ignore()
        return False

    def lex_inside_action(self) -> bool:
        delim, _ = self.at_right_delim()
        if delim:
            if self.paren_depth == 0:
                return self.lex_right_delim()
            self.error("unclosed left paren")
            return False
        s = self.s
        if self.pos >= len(s):
            self.error("unclosed action")
            return False
        c = s[self.pos]
        if _is_space(c):
            return self.lex_space()
        self.pos += 1
        if c == "=":
            self.emit(ASSIGN)
        elif c == ":":
            if self.peek() != "=":
                self.error("expected :=")
                return False
            self.pos += 1
            self.emit(DECLARE)
        elif c == "|":
            self.emit(PIPE)
        elif c == '"':
            return self.lex_quote()
        elif c == "`":
            return self.lex_raw_quote()
        elif c == "$":
            return self.lex_variable()
        elif c == "'":
            return self.lex_char()
        elif c == "." and self.pos < len(s) and not ("0" <= s[self.pos] <= "9"):
            return self.lex_field_or_variable(FIELD)
        elif c in "+-." or "0" <= c <= "9":
            self.pos -= 1
            return self.lex_number()
        elif _is_alnum(c):
            self.pos -= 1
            return self.lex_identifier()
        elif c == "(":
            self.paren_depth += 1
            self.emit(LEFT_PAREN)
        elif c == ")":
            self.paren_depth -= 1
            if self.paren_depth < 0:
                self.error("unexpected right paren")
                return False
            self.emit(RIGHT_PAREN)
        elif c.isascii() and c.isprintable():
            self.emit(CHAR)
        else:
            self.error(f"unrecognized character in action: {_rune_repr(c)}")
            return False
        return True

    def lex_space(self) -> bool:
        s = self.s
        n = 0
        while self.pos < len(s) and _is_space(s[self.pos]):
            self.pos += 1
            n += 1
        # A trim-marked right delimiter starts with a space: leave that space for it.
        if _has_right_trim(s, self.pos - 1) and s.startswith(RIGHT, self.pos + 1):
            self.pos -= 1
            if n == 1:
                return self.lex_right_delim()
        self.emit(SPACE)
        return True

    def lex_identifier(self) -> bool:
        s = self.s
        while self.pos < len(s) and _is_alnum(s[self.pos]):
            self.pos += 1
        word = s[self.start : self.pos]
        if not self.at_terminator():
            self.error(f"bad character {_rune_repr(self.peek())}")
            return False
        kw = KEYWORDS.get(word)
        if kw is not None and kw > KEYWORD:
            self.emit(kw)
        elif word in ("true", "false"):
            self.emit(BOOL)
        else:
            self.emit(IDENTIFIER)
        return True

    def lex_variable(self) -> bool:
        if self.at_terminator():
            self.emit(VARIABLE)
            return True
        return self.lex_field_or_variable(VARIABLE)

    def lex_field_or_variable(self, typ: int) -> bool:
        if self.at_terminator():
            self.emit(VARIABLE if typ == VARIABLE else DOT)
            return True
        s = self.s
        while self.pos < len(s) and _is_alnum(s[self.pos]):
            self.pos += 1
        if not self.at_terminator():
            self.error(f"bad character {_rune_repr(self.peek())}")
            return False
        self.emit(typ)
        return True

    def lex_char(self) -> bool:
        return self.lex_escaped("'", CHAR_CONSTANT, "unterminated character constant")

    def lex_number(self) -> bool:
        if not self.scan_number():
            self.error(f"bad number syntax: {go_quote(self.s[self.start : self.pos])}")
            return False
        if self.peek() in ("+", "-") and self.peek() != "":
            if not self.scan_number() or self.s[self.pos - 1] != "i":
                self.error(f"bad number syntax: {go_quote(self.s[self.start : self.pos])}")
                return False
            self.emit(COMPLEX)
            return True
        self.emit(NUMBER)
        return True

    def _accept(self, valid: str) -> bool:
        if self.pos < len(self.s) and self.s[self.pos] in valid:
            self.pos += 1
            return True
        return False

    def _accept_run(self, valid: str) -> None:
        while self.pos < len(self.s) and self.s[self.pos] in valid:
            self.pos += 1

    def scan_number(self) -> bool:
        self._accept("+-")
        digits = "0123456789_"
        if self._accept("0"):
            if self._accept("xX"):
                digits = "0123456789abcdefABCDEF_"
            elif self._accept("oO"):
                digits = "01234567_"
            elif self._accept("bB"):
                digits = "01_"
        self._accept_run(digits)
        if self._accept("."):
            self._accept_run(digits)
        if len(digits) == 11 and self._accept("eE"):
            self._accept("+-")
            self._accept_run("0123456789_")
        if len(digits) == 23 and self._accept("pP"):
            self._accept("+-")
            self._accept_run("0123456789_")
        self._accept("i")
        c = self.peek()
        if c and _is_alnum(c):
            self.pos += 1
            return False
        return True

    def lex_quote(self) -> bool:
        return self.lex_escaped('"', STRING, "unterminated quoted string")

    def lex_escaped(self, quote: str, typ: int, unterminated: str) -> bool:
        """The rest of a quoted string or character constant, up to the closing ``quote``."""
        s = self.s
        while True:
            c = s[self.pos] if self.pos < len(s) else ""
            self.pos += 1
            if c == "\\":
                c2 = s[self.pos] if self.pos < len(s) else ""
                if c2 not in ("", "\n"):
                    self.pos += 1
                    continue
                self.error(unterminated)
                return False
            if c in ("", "\n"):
                self.error(unterminated)
                return False
            if c == quote:
                break
        self.emit(typ)
        return True

    def lex_raw_quote(self) -> bool:
        x = self.s.find("`", self.pos)
        if x < 0:
            self.error("unterminated raw quoted string")
            return False
        self.pos = x + 1
        self.emit(RAW_STRING)
        return True


def _rune_repr(c: str) -> str:
    """Go's ``%#U``: ``U+0023 '#'``."""
    if c == "":
        return "U+FFFFFFFFFFFFFFFF"
    o = ord(c)
    if c.isprintable():
        return f"U+{o:04X} '{c}'"
    return f"U+{o:04X}"


def lex(text: str) -> list[Item]:
    """All items of ``text``; the last one is EOF or ERROR."""
    return _Lexer(text).run()
