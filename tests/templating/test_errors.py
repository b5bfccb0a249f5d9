"""Parse and execution errors: Go's messages, positions, and always TemplateError."""

from __future__ import annotations

import random
from typing import Any

import pytest

from plica.templating import TemplateError, parse, render


@pytest.mark.parametrize(
    ("text", "msg"),
    [
        ("{{ .Foo", "template: t:1: unclosed action"),
        ("{{ .Foo }", 'template: t:1: unexpected "}" in operand'),
        ("{{ if .x }}a", "template: t:1: unexpected EOF"),
        ("{{ end }}", "template: t:1: unexpected {{end}}"),
        ("{{ else }}", "template: t:1: unexpected {{else}}"),
        ('{{ env "HOME" }}', 'template: t:1: function "env" not defined'),
        ("{{ nosuchfunc }}", 'template: t:1: function "nosuchfunc" not defined'),
        ("{{/* x */ }}", "template: t:1: comment ends before closing delimiter"),
        ("{{ /* x */ }}", 'template: t:1: unexpected "/" in command'),
        ("{{/* x }}", "template: t:1: unclosed comment"),
        ('{{ "abc }}', "template: t:1: unterminated quoted string"),
        ("{{ $x }}", 'template: t:1: undefined variable "$x"'),
        ("{{ 1 | 2 }}", "template: t:1: non executable command in pipeline stage 2"),
        ("{{ }}", "template: t:1: missing value for command"),
        ("{{ (1 }}", "template: t:1: unclosed left paren"),
        ("{{ 1) }}", "template: t:1: unexpected right paren"),
        ("{{ 3x }}", 'template: t:1: bad number syntax: "3x"'),
        ("{{ .a.b.3 }}", 'template: t:1: unexpected ".3" in operand'),
        ("{{ .a#b }}", "template: t:1: bad character U+0023 '#'"),
        ("{{ range $a, $b, $c := . }}{{ end }}", "too many declarations in range"),
        (
            '{{ define "a" }}1{{ end }}{{ define "a" }}2{{ end }}',
            'template: multiple definition of template "a"',
        ),
        ("{{ .x | .y 1 }}", None),
        ("a\nb\n{{ if }}", "template: t:3: missing value for if"),
        ("{{ 1.2.3 }}", None),
        ("{{ @ }}", None),
        ("{{ template .x }}", 'template: t:1: unexpected ".x" in template clause'),
        ("{{ true.x }}", 'unexpected . after term "true"'),
    ],
)
def test_parse_errors(text: str, msg: str | None) -> None:
    if msg is None:
        # only the type matters for these (they may fail at parse or execution)
        with pytest.raises(TemplateError):
            parse(text, name="t").execute({"x": {"y": 1}})
        return
    with pytest.raises(TemplateError) as ei:
        parse(text, name="t")
    assert str(ei.value).startswith(msg) or msg in str(ei.value)
    assert ei.value.phase == "parse"


@pytest.mark.parametrize(
    ("text", "data", "msg"),
    [
        (
            "{{ .a.b }}",
            {"a": None},
            'template: t:1:5: executing "t" at <.a.b>: nil pointer evaluating interface {}.b',
        ),
        (
            "line1\n  {{ lt .Token.exp 3 }}",
            {"Token": {"exp": 1.0}},
            'template: t:2:5: executing "t" at <lt .Token.exp 3>: error calling lt: incompatible types for comparison',
        ),
        (
            '{{ splitList " " .Token.groups }}',
            {"Token": {}},
            'template: t:1:23: executing "t" at <.Token.groups>: invalid value; expected string',
        ),
        (
            "{{ index .l 3 }}",
            {"l": [1]},
            'template: t:1:3: executing "t" at <index .l 3>: error calling index: index out of range: 3',
        ),
        (
            "{{ len 3 }}",
            {},
            'template: t:1:3: executing "t" at <len 3>: error calling len: len of type int',
        ),
        (
            '{{ repeat "x" "y" }}',
            {},
            'template: t:1:10: executing "t" at <"x">: expected integer; found "x"',
        ),
        (
            "{{ upper }}",
            {},
            'template: t:1:3: executing "t" at <upper>: wrong number of args for upper: want 1 got 0',
        ),
        (
            "{{ list 1 | toJson 2 }}",
            {},
            'template: t:1:12: executing "t" at <toJson>: wrong number of args for toJson: want 1 got 2',
        ),
        (
            "{{ default }}",
            {},
            'template: t:1:3: executing "t" at <default>: wrong number of args for default: want at least 1 got 0',
        ),
        (
            "{{ .s.x }}",
            {"s": "str"},
            'template: t:1:5: executing "t" at <.s.x>: can\'t evaluate field x in type string',
        ),
        ("{{ upper nil }}", {}, 'template: t:1:9: executing "t" at <nil>: cannot assign nil to string'),
        ("{{ 1 2 }}", {}, "can't give argument to non-function 1"),
        ('{{ fail "é%" }}', {}, 'template: t:1:3: executing "t" at <fail "é%">: error calling fail: é%'),
        # columns count bytes, like Go
        ("é {{ .a.b }}", {"a": None}, 'template: t:1:8: executing "t" at <.a.b>'),
    ],
)
def test_exec_errors(text: str, data: dict[str, Any], msg: str) -> None:
    t = parse(text, name="t")
    with pytest.raises(TemplateError) as ei:
        t.execute(data)
    assert str(ei.value).startswith(msg) or msg in str(ei.value)
    assert ei.value.phase == "exec"
    assert ei.value.name == "t"


def test_error_is_reported_at_use_not_parse() -> None:
    # an execution-time problem in a branch that is never taken is not an error
    assert render('{{ if false }}{{ fail "x" }}{{ lt 1.0 2 }}{{ .a.b.c }}{{ end }}ok', {"a": None}) == "ok"


def test_exec_errors_name_and_line_attributes() -> None:
    with pytest.raises(TemplateError) as ei:
        render("{\n\n  {{ .a.b }}\n}", {"a": None}, name="leaf")
    e = ei.value
    assert e.name == "leaf"
    assert e.line == 3
    assert e.column == 7
    assert str(e) == 'template: leaf:3:7: executing "leaf" at <.a.b>: nil pointer evaluating interface {}.b'


def test_python_exceptions_in_methods_become_template_errors() -> None:
    class Boom:
        __go_type__ = "x.Boom"

        def Explode(self) -> str:
            raise ZeroDivisionError("division by zero")

    with pytest.raises(TemplateError, match="error calling Explode: division by zero"):
        render("{{ .b.Explode }}", {"b": Boom()})


def test_bad_funcset_name() -> None:
    with pytest.raises(ValueError, match="unknown function set"):
        parse("x", funcs="nope")


_ATOMS = [
    "{{",
    "}}",
    "{{-",
    "-}}",
    " ",
    "\n",
    ".",
    ".a",
    ".a.b",
    "$",
    "$x",
    ":=",
    "=",
    "|",
    "(",
    ")",
    '"s"',
    "`r`",
    "'c'",
    "1",
    "1.5",
    "0x",
    "-",
    "nil",
    "true",
    "if",
    "else",
    "end",
    "range",
    "with",
    "define",
    "template",
    "block",
    "break",
    "continue",
    "toJson",
    "printf",
    "index",
    "and",
    "or",
    "eq",
    "lt",
    "len",
    "slice",
    "fail",
    "asn1Enc",
    "default",
    "dict",
    "list",
    "first",
    "/*",
    "*/",
    ",",
    "@",
    "é",
    "{{/*",
    "*/}}",
    "x",
]


def test_fuzz_only_template_errors() -> None:
    rng = random.Random(1234)
    data = {"a": {"b": [1, None, "x"]}, "x": None, "l": [1, 2], "s": "str", "f": 1.5}
    for _ in range(3000):
        text = "".join(rng.choice(_ATOMS) for _ in range(rng.randint(1, 14)))
        try:
            out = parse(text, name="fuzz").execute(data)
            assert isinstance(out, str)
        except TemplateError:
            pass
