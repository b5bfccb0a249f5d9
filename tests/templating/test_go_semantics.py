"""Go text/template semantics (expected outputs are Go's documented behaviour)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from plica.templating import Int64, StringSlice, TemplateError, TypedNil, parse, render


def r(text: str, data: Any = None, **kw: Any) -> str:
    return render(text, {} if data is None else data, **kw)


class Obj:
    __go_type__ = "main.Obj"

    def __init__(self, **kw: Any) -> None:
        self.__dict__.update(kw)

    def Greet(self, who: str) -> str:
        return "hello " + who

    def Nothing(self) -> None:
        return None


# -- text, trimming, comments ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("plain text", "plain text"),
        ("a  {{- 1 -}}  b", "a1b"),
        ("a \n\t{{- 1 }} b", "a1 b"),
        ("a {{ 1 -}} \n b", "a 1b"),
        ("a {{/* comment */}} b", "a  b"),
        ("a {{- /* comment */ -}} b", "ab"),
        ("{{/* multi\nline */}}x", "x"),
        ("{{-3}}", "-3"),
        ("{{ -3 }}", "-3"),
        ("", ""),
    ],
)
def test_text_trim_comments(text: str, want: str) -> None:
    assert r(text) == want


# -- literals ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ('{{ "a\\tb\\n" }}', "a\tb\n"),
        ('{{ "\\u00e9\\x41\\101" }}', "éAA"),
        ("{{ `raw\\n` }}", "raw\\n"),
        ("{{ 'a' }}", "97"),
        ("{{ '\\n' }}", "10"),
        ("{{ 0x1F }}", "31"),
        ("{{ 0o17 }}", "15"),
        ("{{ 017 }}", "15"),
        ("{{ 0b101 }}", "5"),
        ("{{ 1_000 }}", "1000"),
        ("{{ 1.5 }}", "1.5"),
        ("{{ 1e3 }}", "1000"),
        ("{{ 1e6 }}", "1e+06"),
        ("{{ -2 }}", "-2"),
        ("{{ .5 }}", "0.5"),
        ("{{ true }} {{ false }}", "true false"),
    ],
)
def test_literals(text: str, want: str) -> None:
    assert r(text) == want


def test_nil_is_not_a_command() -> None:
    with pytest.raises(TemplateError, match="nil is not a command"):
        r("{{ nil }}")


# -- printing values (fmt %v) -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (1606870196.0, "1.606870196e+09"),
        (100000.0, "100000"),
        (1234567.0, "1.234567e+06"),
        (0.0001, "0.0001"),
        (0.00001, "1e-05"),
        (3.0, "3"),
        (-2.5, "-2.5"),
        (12, "12"),
        (True, "true"),
        ("s", "s"),
        (["a", "b", 1.5, None], "[a b 1.5 <nil>]"),
        ({"b": 2.0, "a": [1.0]}, "map[a:[1] b:2]"),
        ({}, "map[]"),
        ([], "[]"),
        (None, "<no value>"),
        (dt.datetime(2020, 12, 2, 3, 43, 16, 123000, tzinfo=dt.UTC), "2020-12-02 03:43:16.123 +0000 UTC"),
        (
            dt.datetime(2020, 12, 2, 3, 43, 16, tzinfo=dt.timezone(dt.timedelta(hours=-8))),
            "2020-12-02 03:43:16 -0800 -0800",
        ),
        (TypedNil("*x509.Certificate"), "<nil>"),
        (TypedNil("[]string"), "[]"),
        (b"\x01\x02", "[1 2]"),
    ],
)
def test_print_values(value: Any, want: str) -> None:
    assert r("{{ .v }}", {"v": value}) == want


def test_json_number_prints_like_go() -> None:
    data = {"Token": {"exp": 1606870196.0}}
    assert r("{{ .Token.exp }}|{{ toJson .Token.exp }}", data) == "1.606870196e+09|1606870196"


# -- missing keys and nil ---------------------------------------------------------------------------------


def test_missing_key_prints_no_value() -> None:
    assert r("{{ .Missing }}") == "<no value>"


def test_chained_field_on_missing_is_fine() -> None:
    assert r("{{ .Insecure.User.x }}|{{ .A.B.C }}", {"Insecure": {}}) == "<no value>|<no value>"


def test_field_through_null_fails() -> None:
    with pytest.raises(TemplateError) as ei:
        r("x\n  {{ .Token.x.y }}", {"Token": {"x": None}}, name="leaf")
    assert str(ei.value) == (
        'template: leaf:2:11: executing "leaf" at <.Token.x.y>: nil pointer evaluating interface {}.y'
    )
    assert ei.value.line == 2
    assert ei.value.column == 11


def test_missing_passed_to_interface_param_is_nil() -> None:
    assert r('{{ toJson .Missing }}|{{ .Missing | default "d" }}|{{ default "d" .Missing }}') == "null|d|d"


def test_missing_passed_to_string_param_fails() -> None:
    with pytest.raises(TemplateError, match=r"invalid value; expected string"):
        r('{{ splitList " " .Token.groups }}', {"Token": {}})
    with pytest.raises(TemplateError, match=r"invalid value; expected string"):
        r("{{ .Missing | upper }}")


def test_wrong_type_for_string_param() -> None:
    with pytest.raises(TemplateError, match=r"wrong type for value; expected string; got \[\]interface \{\}"):
        r('{{ splitList " " .Token.groups }}', {"Token": {"groups": ["a", "b"]}})
    with pytest.raises(TemplateError, match=r"wrong type for value; expected string; got float64"):
        r("{{ upper .n }}", {"n": 1.0})


def test_null_value_to_string_param() -> None:
    with pytest.raises(TemplateError, match=r"wrong type for value; expected string; got interface \{\}"):
        r("{{ upper .n }}", {"n": None})


def test_variable_holding_null_allows_field_access() -> None:
    # the pipeline unwraps the nil interface into an invalid value, which field access tolerates
    assert r("{{ $x := .n }}{{ $x.y }}", {"n": None}) == "<no value>"


# -- truthiness -------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "want"),
    [
        (False, "F"),
        (True, "T"),
        (0, "F"),
        (0.0, "F"),
        (0.5, "T"),
        ("", "F"),
        ("x", "T"),
        ([], "F"),
        ([0], "T"),
        ({}, "F"),
        ({"a": 1}, "T"),
        (None, "F"),
        (Obj(), "T"),
        (TypedNil("*rsa.PublicKey"), "F"),
        (dt.datetime(2020, 1, 1, tzinfo=dt.UTC), "T"),
    ],
)
def test_truthiness(value: Any, want: str) -> None:
    assert r("{{ if .v }}T{{ else }}F{{ end }}", {"v": value}) == want


def test_and_or_return_operands_and_short_circuit() -> None:
    assert r('{{ and 1 0 2 }}|{{ and 1 2 }}|{{ or 0 "" "x" }}|{{ or 0 "" }}|{{ not 0 }}') == "0|2|x||true"
    # short-circuit: the failing call is never evaluated
    assert r('{{ and false (fail "boom") }}|{{ or true (fail "boom") }}') == "false|true"
    assert r("{{ 0 | and 1 }}|{{ 5 | or 0 }}") == "0|5"


# -- comparisons ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("{{ eq 1 1 }}", "true"),
        ("{{ eq 1 2 3 1 }}", "true"),
        ('{{ eq "a" "b" }}', "false"),
        ("{{ eq .f 3.0 }}", "true"),
        ("{{ ne 1 2 }}", "true"),
        ("{{ lt 1 2 }}", "true"),
        ('{{ lt "a" "b" }}', "true"),
        ("{{ le 2 2 }}", "true"),
        ("{{ gt 3 2 }}", "true"),
        ("{{ ge 1 2 }}", "false"),
        ('{{ eq .Missing "x" }}', "false"),
        ("{{ eq .n nil }}", "true"),
        ("{{ lt (int .f) 4 }}", "true"),
        ("{{ eq (add 1 2) 3 }}", "true"),
    ],
)
def test_comparisons(text: str, want: str) -> None:
    assert r(text, {"f": 3.0, "n": None}) == want


def test_float_vs_int_comparison_fails() -> None:
    with pytest.raises(TemplateError, match="incompatible types for comparison"):
        r("{{ lt .Token.exp 3 }}", {"Token": {"exp": 1.0}})
    with pytest.raises(TemplateError, match="incompatible types for comparison"):
        r("{{ eq .f 3 }}", {"f": 3.0})


def test_invalid_type_for_lt() -> None:
    with pytest.raises(TemplateError, match="invalid type for comparison"):
        r("{{ lt .l 1 }}", {"l": [1]})
    with pytest.raises(TemplateError, match="missing argument for comparison"):
        r("{{ eq 1 }}")


# -- range, with, if, else if -----------------------------------------------------------------------------


def test_range_list_and_vars() -> None:
    assert r("{{ range $i, $e := . }}{{ $i }}={{ $e }} {{ end }}", ["a", "b"]) == "0=a 1=b "
    assert r("{{ range $e := . }}{{ $e }}{{ end }}", [1, 2]) == "12"
    assert r("{{ range . }}[{{ . }}]{{ end }}", [1, 2]) == "[1][2]"


def test_range_map_sorted() -> None:
    assert (
        r("{{ range $k, $v := . }}{{ $k }}:{{ $v }},{{ end }}", {"b": 2.0, "a": 1.0, "C": 0.0})
        == "C:0,a:1,b:2,"
    )
    assert r("{{ range . }}{{ . }}{{ end }}", {"b": 2, "a": 1}) == "12"


def test_range_else_and_nil() -> None:
    assert r("{{ range . }}x{{ else }}empty{{ end }}", []) == "empty"
    assert r("{{ range .Missing }}x{{ else }}empty{{ end }}") == "empty"
    assert r("{{ range .n }}x{{ else }}empty{{ end }}", {"n": None}) == "empty"
    assert r("{{ range .t }}x{{ else }}empty{{ end }}", {"t": TypedNil("[]string")}) == "empty"


def test_range_int() -> None:
    assert r("{{ range 3 }}{{ . }}{{ end }}") == "012"
    assert r("{{ range $i := 2 }}{{ $i }}{{ end }}") == "01"


def test_range_over_string_fails() -> None:
    with pytest.raises(TemplateError, match="range can't iterate over abc"):
        r("{{ range .s }}{{ end }}", {"s": "abc"})


def test_break_continue() -> None:
    t = "{{ range . }}{{ if eq . 2 }}{{ continue }}{{ end }}{{ if eq . 4 }}{{ break }}{{ end }}{{ . }}{{ end }}"
    assert r(t, [1, 2, 3, 4, 5]) == "13"


def test_break_outside_range_is_parse_error() -> None:
    with pytest.raises(TemplateError, match=r"\{\{break\}\} outside \{\{range\}\}"):
        parse("{{ break }}")


def test_with_else() -> None:
    assert r("{{ with .x }}{{ . }}{{ else }}none{{ end }}", {"x": ""}) == "none"
    assert r("{{ with .x }}<{{ . }}>{{ end }}", {"x": "v"}) == "<v>"
    assert r("{{ with .x }}a{{ else with .y }}b{{ . }}{{ end }}", {"y": 2}) == "b2"


def test_if_else_if_chain() -> None:
    t = "{{ if .x }}a{{ else if .y }}b{{ else }}c{{ end }}"
    assert r(t, {"x": 1}) == "a"
    assert r(t, {"y": 1}) == "b"
    assert r(t, {}) == "c"


def test_dollar_is_root_data() -> None:
    assert r("{{ range .l }}{{ $.name }}{{ . }}{{ end }}", {"l": [1, 2], "name": "n"}) == "n1n2"


# -- variables --------------------------------------------------------------------------------------------


def test_variables_declare_assign_scope() -> None:
    assert r("{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}") == "2"
    assert r('{{ $x := "a" }}{{ if true }}{{ $x := "b" }}{{ $x }}{{ end }}{{ $x }}') == "ba"
    assert r("{{ with $x := .a }}{{ $x.b }}{{ end }}", {"a": {"b": "B"}}) == "B"


def test_undefined_variable_is_parse_error() -> None:
    with pytest.raises(TemplateError, match=r'undefined variable "\$y"'):
        parse("{{ $y }}")
    with pytest.raises(TemplateError, match=r'undefined variable "\$x"'):
        parse("{{ if true }}{{ $x := 1 }}{{ end }}{{ $x }}")


# -- define / template / block ----------------------------------------------------------------------------


def test_define_template_block() -> None:
    assert r('{{ define "T" }}hi {{ . }}{{ end }}{{ template "T" "x" }}') == "hi x"
    assert r('{{ block "B" . }}default {{ . }}{{ end }}', 5) == "default 5"
    assert r('{{ define "T" }}[{{ .a }}]{{ end }}{{ template "T" }}', {"a": 1}) == "[<no value>]"
    # templates do not inherit variables
    assert r('{{ define "T" }}{{ $ }}{{ end }}{{ $x := 1 }}{{ template "T" 7 }}') == "7"


def test_template_not_defined() -> None:
    with pytest.raises(TemplateError, match=r'template "nope" not defined'):
        r('{{ template "nope" }}')


def test_error_inside_define_names_executing_template() -> None:
    with pytest.raises(TemplateError) as ei:
        r('{{ define "inner" }}{{ .x.y }}{{ end }}{{ template "inner" . }}', {"x": None}, name="leaf")
    assert 'executing "inner" at <.x.y>' in str(ei.value)
    assert str(ei.value).startswith("template: leaf:1:")


def test_recursive_template_reports_depth() -> None:
    with pytest.raises(TemplateError, match="exceeded maximum template depth"):
        r('{{ define "T" }}{{ template "T" . }}{{ end }}{{ template "T" . }}')


# -- pipelines, parentheses, chains, methods --------------------------------------------------------------


def test_pipelines_pass_last_argument() -> None:
    assert r('{{ "abc" | printf "%s-%s" "x" }}') == "x-abc"
    assert r('{{ "a b" | replace " " "-" | upper }}') == "A-B"


def test_parenthesised_and_chains() -> None:
    assert r('{{ (len "abc") }}|{{ (dict "a" (dict "b" 1)).a.b }}') == "3|1"
    assert r('{{ $m := dict "k" (list 1 2) }}{{ index $m.k 1 }}') == "2"


def test_struct_fields_and_methods() -> None:
    o = Obj(Name="n", Inner=Obj(Value=3))
    data = {"o": o}
    assert r('{{ .o.Name }}|{{ .o.Inner.Value }}|{{ .o.Greet "you" }}|{{ "me" | .o.Greet }}', data) == (
        "n|3|hello you|hello me"
    )
    assert r("{{ .o.Nothing }}", data) == "<no value>"
    with pytest.raises(TemplateError, match=r"can't evaluate field Missing in type main.Obj"):
        r("{{ .o.Missing }}", data)
    with pytest.raises(TemplateError, match=r"Name has arguments but cannot be invoked as function"):
        r('{{ .o.Name "x" }}', data)


def test_field_on_basic_types_fails() -> None:
    with pytest.raises(TemplateError, match=r"can't evaluate field x in type string"):
        r("{{ .s.x }}", {"s": "str"})
    with pytest.raises(TemplateError, match=r"can't evaluate field x in type \[\]interface \{\}"):
        r("{{ .l.x }}", {"l": []})


def test_map_key_with_args_fails() -> None:
    with pytest.raises(TemplateError, match=r"a is not a method but has arguments"):
        r("{{ .a 1 }}", {"a": 1})


def test_typed_nil_pointer_field() -> None:
    with pytest.raises(TemplateError, match=r"nil pointer evaluating \*x509.Certificate.Subject"):
        r("{{ .c.Subject }}", {"c": TypedNil("*x509.Certificate")})


def test_time_methods() -> None:
    t = dt.datetime(2021, 3, 4, 5, 6, 7, tzinfo=dt.UTC)
    out = r(
        '{{ .t.Unix }}|{{ .t.Year }}|{{ .t.Month }}|{{ .t.Format "2006-01-02" }}|{{ typeOf .t.Unix }}',
        {"t": t},
    )
    assert out == "1614834367|2021|March|2021-03-04|int64"
    assert r("{{ now.Year }}") == str(dt.datetime.now().year)


def test_can_give_argument_to_non_function() -> None:
    with pytest.raises(TemplateError, match=r"can't give argument to non-function \$x"):
        r("{{ $x := 1 }}{{ $x 2 }}")


# -- builtins ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ('{{ len "héllo" }}', "6"),
        ("{{ len .l }}", "2"),
        ("{{ len .m }}", "1"),
        ("{{ index .l 1 }}", "20"),
        ('{{ index .m "k" }}', "v"),
        ('{{ index .m "nope" }}', "<no value>"),
        ('{{ index .nested "a" "b" }}', "deep"),
        ("{{ html \"<a href='x'>&\" }}", "&lt;a href=&#39;x&#39;&gt;&amp;"),
        ('{{ js "it\'s <b> & =" }}', "it\\'s \\u003Cb\\u003E \\u0026 \\u003D"),
        ('{{ urlquery "a b&c=d/é" }}', "a+b%26c%3Dd%2F%C3%A9"),
        ("{{ html .Missing }}", "&lt;no value&gt;"),
        ('{{ print 1 2 "x" 3 nil }}', "1 2x3 <nil>"),
        ('{{ println 1 "a" }}', "1 a\n"),
        (
            '{{ printf "%05.1f|%x|%X|%q|%5s|%-4d|%t|%v|%%" 3.14159 255 "hi" "a" "ab" 7 true .l }}',
            '003.1|ff|6869|"a"|   ab|7   |true|[10 20]|%',
        ),
        ('{{ printf "%d %s" 1 }}', "1 %!s(MISSING)"),
        ('{{ printf "%d" "x" }}', "%!d(string=x)"),
        ('{{ printf "%s" 1 2 }}', "%!s(int=1)%!(EXTRA int=2)"),
        ('{{ printf "%v %T %T" .f .f .l }}', "1.5 float64 []interface {}"),
        (
            '{{ printf "%e %g %.2e %8.3f" 1234.5678 1234.5678 1234.5678 3.14159 }}',
            "1.234568e+03 1234.5678 1.23e+03    3.142",
        ),
    ],
)
def test_builtins(text: str, want: str) -> None:
    data = {"l": [10, 20], "m": {"k": "v"}, "nested": {"a": {"b": "deep"}}, "f": 1.5}
    assert r(text, data) == want


def test_index_errors() -> None:
    with pytest.raises(TemplateError, match="index out of range: 5"):
        r("{{ index .l 5 }}", {"l": [1]})
    with pytest.raises(TemplateError, match="index of untyped nil"):
        r("{{ index .Missing 0 }}")
    with pytest.raises(
        TemplateError, match=r"can't index item of type string|cannot index slice/array with type string"
    ):
        r('{{ index .l "x" }}', {"l": [1]})


def test_call_builtin() -> None:
    assert r("{{ call .f 2 3 }}", {"f": lambda a, b: a * b}) == "6"
    with pytest.raises(TemplateError, match="error calling call: call of nil"):
        r("{{ call .Missing }}")


def test_go_int_types() -> None:
    assert r(
        "{{ typeOf (add 1 2) }}|{{ typeOf 1 }}|{{ typeOf 1.0 }}|{{ typeOf .s }}", {"s": StringSlice(["a"])}
    ) == ("int64|int|float64|[]string")
    assert r("{{ .i }}", {"i": Int64(5)}) == "5"


def test_parse_once_execute_many() -> None:
    t = parse("{{ .a }}-{{ range .l }}{{ . }}{{ end }}")
    assert t.execute({"a": 1, "l": [1, 2]}) == "1-12"
    assert t.execute({"a": 2, "l": []}) == "2-"


def test_len_and_range_on_slice_like_objects() -> None:
    class Ed25519Key(bytes):
        __go_type__ = "ed25519.PublicKey"

    class Names:
        __go_type__ = "[]net.IP"
        __go_kind__ = "slice"

        def __init__(self, items: list[str]) -> None:
            self.items = items

        def __len__(self) -> int:
            return len(self.items)

        def __iter__(self) -> Any:
            return iter(self.items)

    data = {"k": Ed25519Key(b"\x00" * 32), "ips": Names(["10.0.0.1", "::1"])}
    assert r("{{ len .k }}|{{ typeOf .k }}|{{ kindOf .k }}", data) == "32|ed25519.PublicKey|slice"
    assert (
        r("{{ len .ips }}|{{ range $i, $ip := .ips }}{{ $i }}={{ $ip }} {{ end }}", data)
        == "2|0=10.0.0.1 1=::1 "
    )


def test_execute_is_thread_safe() -> None:
    from concurrent.futures import ThreadPoolExecutor

    t = parse(
        '{{ range $i, $e := .l }}{{ $x := $e }}{{ $i }}{{ $x }}{{ end }}{{ template "d" .n }}'
        '{{ define "d" }}<{{ . }}>{{ end }}'
    )

    def run(n: int) -> str:
        return t.execute({"l": [n, n + 1], "n": n})

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(run, range(200)))
    assert results == [f"0{n}1{n + 1}<{n}>" for n in range(200)]
