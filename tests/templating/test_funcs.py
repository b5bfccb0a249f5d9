"""sprig v3.3.0 and step function behaviour (expected values from sprig's docs and Go semantics)."""

from __future__ import annotations

import datetime as dt
import re
from typing import Any

import pytest

from plica.templating import Int64, TemplateError, function_names, parse, render


def r(text: str, data: Any = None, funcs: str = "x509") -> str:
    return render(text, {} if data is None else data, funcs=funcs)


# -- strings ----------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ('{{ trim "  hello  " }}', "hello"),
        ('{{ trimAll "$" "$5.00" }}', "5.00"),
        ('{{ "$5.00" | trimall "$" }}', "5.00"),
        ('{{ trimPrefix "-" "-hello" }}', "hello"),
        ('{{ trimSuffix "-" "hello-" }}', "hello"),
        ('{{ upper "hello" }}|{{ lower "HELLO" }}', "HELLO|hello"),
        ('{{ title "hello world" }}', "Hello World"),
        ('{{ untitle "Hello World" }}', "hello world"),
        ('{{ replace " " "-" "I Am Henry VIII" }}', "I-Am-Henry-VIII"),
        ('{{ "I Am" | replace " " "-" }}', "I-Am"),
        (
            '{{ contains "cat" "catch" }}|{{ hasPrefix "cat" "catch" }}|{{ hasSuffix "ch" "catch" }}',
            "true|true|true",
        ),
        ('{{ quote "hello" }}|{{ squote "hello" }}|{{ quote "a" 1 nil }}', '"hello"|\'hello\'|"a" "1"'),
        ('{{ cat "hello" "beautiful" "world" }}|{{ cat "a" nil 1 }}', "hello beautiful world|a 1"),
        ('{{ indent 4 "a\\nb" }}', "    a\n    b"),
        ('{{ nindent 2 "a" }}', "\n  a"),
        ('{{ repeat 3 "ab" }}', "ababab"),
        (
            '{{ substr 0 5 "hello world" }}|{{ substr 6 -1 "hello world" }}|{{ substr -1 5 "hello world" }}',
            "hello|world|hello",
        ),
        ('{{ trunc 5 "hello world" }}|{{ trunc -5 "hello world" }}|{{ trunc 50 "hi" }}', "hello|world|hi"),
        ('{{ abbrev 5 "hello world" }}|{{ abbrev 3 "hello" }}', "he...|hello"),
        ('{{ abbrevboth 5 10 "1234 5678 9123" }}', "...5678..."),
        ('{{ initials "First Try" }}', "FT"),
        ('{{ nospace "hello w o r l d" }}', "helloworld"),
        ('{{ wrap 5 "Hello World" }}', "Hello\nWorld"),
        ('{{ wrapWith 5 "\\t" "Hello World" }}', "Hello\tWorld"),
        ('{{ swapcase "This Is A.Test" }}', "tHIS iS a.tEST"),
        (
            '{{ snakecase "FirstName" }}|{{ kebabcase "FirstName" }}|{{ camelcase "http_server" }}',
            "first_name|first-name|HttpServer",
        ),
        ('{{ plural "one anchovy" "many anchovies" 1 }}|{{ plural "one" "many" 2 }}', "one anchovy|many"),
        ("{{ toString 5 }}|{{ toString 1.5 }}|{{ toString nil }}", "5|1.5|<nil>"),
        ('{{ toStrings (list 1 "a" nil 2.5) }}', "[1 a 2.5]"),
        ('{{ (split "$" "foo$bar$baz")._1 }}|{{ split "$" "a$b" }}', "bar|map[_0:a _1:b]"),
        ('{{ splitList "$" "foo$bar$baz" }}|{{ typeOf (splitList "," "a") }}', "[foo bar baz]|[]string"),
        ('{{ splitn "$" 2 "foo$bar$baz" }}', "map[_0:foo _1:bar$baz]"),
        ('{{ join "_" (list "a" "b" 1) }}|{{ join "," .l }}', "a_b_1|x,y"),
        ('{{ sortAlpha (list "b" "C" "a") }}', "[C a b]"),
        ('{{ sha1sum "Hello world!" }}', "d3486ae9136e7856bc42212385ea797094475802"),
        (
            '{{ sha256sum "Hello world!" }}',
            "c0535e4be2b79ffd93291305436bf889314e4a3faec05ecffcbb7df31ad9e51a",
        ),
        ('{{ adler32sum "Hello world!" }}', "487130206"),
        (
            '{{ b64enc "hello" }}|{{ b64dec "aGVsbG8=" }}|{{ b32enc "hello" }}|{{ b32dec "NBSWY3DP" }}',
            "aGVsbG8=|hello|NBSWY3DP|hello",
        ),
        ('{{ b64dec "!!!!" }}', "illegal base64 data at input byte 0"),
        ("{{ hello }}", "Hello!"),
    ],
)
def test_string_functions(text: str, want: str) -> None:
    assert r(text, {"l": ["x", "y"]}) == want


def test_sha512sum() -> None:
    assert r('{{ sha512sum "" }}').startswith("cf83e1357eefb8bd")


def test_random_functions() -> None:
    # Newlines part the values: randAscii draws from printable ASCII, which includes every punctuation mark.
    out = r(
        "{{ randAlphaNum 10 }}\n{{ randAlpha 5 }}\n{{ randNumeric 4 }}\n{{ randAscii 3 }}\n{{ uuidv4 }}\n{{ randBytes 6 }}"
    )
    an, al, num, asc, uid, rb = out.split("\n")
    assert re.fullmatch(r"[A-Za-z0-9]{10}", an)
    assert re.fullmatch(r"[A-Za-z]{5}", al)
    assert re.fullmatch(r"[0-9]{4}", num)
    assert len(asc) == 3
    assert re.fullmatch(r"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}", uid)
    assert len(rb) == 8
    assert 1 <= int(r("{{ randInt 1 3 }}")) < 3
    assert sorted(r('{{ shuffle "abc" }}')) == ["a", "b", "c"]


# -- regex ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ('{{ regexMatch "^[a-z]+$" "abc" }}|{{ regexMatch "^[a-z]+$" "abc\\n" }}', "true|false"),
        ('{{ regexMatch "(" "x" }}', "false"),
        (
            '{{ regexFindAll "[2,4,6,8]" "123456789" -1 }}|{{ regexFindAll "[2,4,6,8]" "123456789" 2 }}',
            "[2 4 6 8]|[2 4]",
        ),
        ('{{ regexFind "[a-zA-Z][1-9]" "abcd1234" }}', "d1"),
        ('{{ regexReplaceAll "a(x*)b" "-ab-axxb-" "${1}W" }}', "-W-xxW-"),
        ('{{ regexReplaceAll "a(x*)b" "-ab-axxb-" "$1W" }}', "---"),
        ('{{ regexReplaceAll "x*" "abxd" "-" }}', "-a-b-d-"),
        ('{{ regexReplaceAllLiteral "a(x*)b" "-ab-axxb-" "${1}" }}', "-${1}-${1}-"),
        ('{{ regexSplit "z+" "pizza" -1 }}|{{ regexSplit "z+" "pizza" 1 }}', "[pi a]|[pizza]"),
        ('{{ regexQuoteMeta "1.2.3" }}', "1\\.2\\.3"),
        ('{{ regexMatch "[[:digit:]]+" "a1" }}', "true"),
        (
            '{{ regexReplaceAll "(?P<first>\\\\w+) (?P<last>\\\\w+)" "Jane Doe" "${last}, ${first}" }}',
            "Doe, Jane",
        ),
    ],
)
def test_regex_functions(text: str, want: str) -> None:
    assert r(text) == want


def test_regex_bad_pattern_errors() -> None:
    with pytest.raises(TemplateError, match="error calling regexFind: error parsing regexp"):
        r('{{ regexFind "(" "x" }}')
    with pytest.raises(TemplateError, match="error calling mustRegexMatch"):
        r('{{ mustRegexMatch "(" "x" }}')


# -- lists ------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (
            "{{ list 1 2 3 | first }}|{{ list 1 2 3 | rest }}|{{ list 1 2 3 | last }}|{{ list 1 2 3 | initial }}",
            "1|[2 3]|3|[1 2]",
        ),
        ("{{ first (list) }}|{{ toJson (rest (list)) }}", "<no value>|null"),
        (
            "{{ append (list 1 2) 3 }}|{{ push (list 1) 2 }}|{{ prepend (list 1 2) 0 }}",
            "[1 2 3]|[1 2]|[0 1 2]",
        ),
        ("{{ concat (list 1 2) (list 3) .s }}", "[1 2 3 a]"),
        ('{{ uniq (list 1 1 2 "a" "a") }}|{{ uniq (list 1 1.0) }}', "[1 2 a]|[1 1]"),
        ("{{ without (list 1 2 3 4) 1 3 }}", "[2 4]"),
        ("{{ has 4 (list 1 2 3 4) }}|{{ has 5 (list 1) }}|{{ has 1 nil }}", "true|false|false"),
        ('{{ compact (list 1 "" nil "x" 0 false) }}', "[1 x]"),
        ("{{ reverse (list 1 2 3) }}", "[3 2 1]"),
        (
            "{{ slice (list 1 2 3 4 5) 1 3 }}|{{ slice (list 1 2 3) 1 }}|{{ slice (list 1 2) }}",
            "[2 3]|[2 3]|[1 2]",
        ),
        ("{{ chunk 2 (list 1 2 3 4 5) }}", "[[1 2] [3 4] [5]]"),
        ("{{ until 5 }}|{{ untilStep 3 6 2 }}|{{ until -3 }}", "[0 1 2 3 4]|[3 5]|[0 -1 -2]"),
        (
            "{{ seq 5 }}|{{ seq -3 }}|{{ seq 2 5 }}|{{ seq 0 2 10 }}",
            "1 2 3 4 5|1 0 -1 -2 -3|2 3 4 5|0 2 4 6 8 10",
        ),
        ("{{ tuple 1 2 }}", "[1 2]"),
        ("{{ typeOf (list 1) }}|{{ typeOf (until 2) }}", "[]interface {}|[]int"),
    ],
)
def test_list_functions(text: str, want: str) -> None:
    assert r(text, {"s": ["a"]}) == want


def test_list_function_errors() -> None:
    with pytest.raises(TemplateError, match="error calling first: Cannot find first on type string"):
        r('{{ first "abc" }}')
    with pytest.raises(TemplateError, match="error calling first: runtime error: invalid memory address"):
        r("{{ first .Missing }}")
    with pytest.raises(TemplateError, match="Cannot concat type map as list"):
        r("{{ concat (list 1) (dict) }}")


def test_concat_typed_nil_slice() -> None:
    from plica.templating import TypedNil

    assert r("{{ concat .p (list 1) }}", {"p": TypedNil("[]string")}) == "[1]"
    assert r("{{ first .p | toJson }}", {"p": TypedNil("[]string")}) == "null"


# -- dicts ------------------------------------------------------------------------------------------------


def test_dict_functions() -> None:
    t = (
        '{{ $d := dict "name1" "value1" "name2" "value2" }}'
        '{{ $d }}|{{ get $d "name1" }}|{{ get $d "nope" }}|{{ hasKey $d "name2" }}|'
        '{{ $_ := set $d "k" "v" }}{{ $d.k }}|{{ $_ := unset $d "k" }}{{ hasKey $d "k" }}|'
        '{{ keys $d | sortAlpha }}|{{ values (dict "a" 1) }}|{{ pick $d "name1" }}|{{ omit $d "name1" }}|'
        '{{ pluck "name1" $d (dict "name1" "x") (dict) }}|{{ dict "odd" }}'
    )
    assert r(t) == (
        "map[name1:value1 name2:value2]|value1||true|v|false|[name1 name2]|[1]|map[name1:value1]|"
        "map[name2:value2]|[value1 x]|map[odd:]"
    )


def test_set_mutates_and_returns() -> None:
    data = {"Extensions": {"permit-pty": ""}}
    assert r('{{ set .Extensions "login@github.com" "jdoe" | toJson }}', data) == (
        '{"login@github.com":"jdoe","permit-pty":""}'
    )
    assert data["Extensions"]["login@github.com"] == "jdoe"


def test_set_on_nil_map_panics() -> None:
    with pytest.raises(TemplateError, match="error calling set: assignment to entry in nil map"):
        r('{{ set .Extensions "k" "v" }}', {"Extensions": None})


def test_merge_and_dig() -> None:
    t = (
        '{{ $dst := dict "a" 1 "b" (dict "c" 1) "z" "" }}'
        '{{ $src := dict "a" 2 "b" (dict "d" 2) "e" 3 "z" "filled" }}'
        "{{ merge $dst $src | toJson }}"
    )
    assert r(t) == '{"a":1,"b":{"c":1,"d":2},"e":3,"z":"filled"}'
    t2 = '{{ mergeOverwrite (dict "a" 1 "b" 2) (dict "a" 9 "b" "") | toJson }}'
    assert r(t2) == '{"a":9,"b":2}'
    d = {"a": {"b": {"c": "deep"}}}
    assert r('{{ dig "a" "b" "c" "dflt" . }}|{{ dig "a" "x" "c" "dflt" . }}', d) == "deep|dflt"


# -- defaults, JSON ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (
            '{{ default "foo" "" }}|{{ default "foo" "bar" }}|{{ default "foo" 0 }}|{{ "" | default "d" }}',
            "foo|bar|foo|d",
        ),
        ("{{ empty 0 }}|{{ empty (list) }}|{{ empty .o }}|{{ empty nil }}", "true|true|false|true"),
        ('{{ coalesce 0 "" "x" }}|{{ coalesce 0 "" }}', "x|<no value>"),
        ('{{ ternary "foo" "bar" true }}|{{ false | ternary "foo" "bar" }}', "foo|bar"),
        ('{{ all 1 "a" }}|{{ all 1 "" }}|{{ any 0 "" }}|{{ any 0 "x" }}', "true|false|false|true"),
        ('{{ toJson (dict "a" "<b>&" "z" 1.5 "n" nil) }}', '{"a":"\\u003cb\\u003e\\u0026","n":null,"z":1.5}'),
        ('{{ toRawJson (dict "a" "<b>") }}', '{"a":"<b>"}'),
        ('{{ toPrettyJson (dict "a" 1 "b" (list 1 2)) }}', '{\n  "a": 1,\n  "b": [\n    1,\n    2\n  ]\n}'),
        ("{{ toJson (list) }}|{{ toJson (dict) }}|{{ toJson .Missing }}", "[]|{}|null"),
        ('{{ (fromJson "{\\"a\\": 1}").a }}|{{ typeOf (fromJson "{\\"a\\": 1}").a }}', "1|float64"),
        ('{{ fromJson "bad" }}', "<no value>"),
        (
            "{{ toJson 1e21 }}|{{ toJson 0.000001 }}|{{ toJson 1e-7 }}|{{ toJson 3.0 }}",
            "1e+21|0.000001|1e-7|3",
        ),
        ('{{ toJson "\\u2028" }}', '"\\u2028"'),
    ],
)
def test_defaults_and_json(text: str, want: str) -> None:
    class Opaque:
        pass

    assert r(text, {"o": Opaque()}) == want


def test_must_from_json_errors() -> None:
    with pytest.raises(TemplateError, match="error calling mustFromJson: invalid character"):
        r('{{ mustFromJson "bad" }}')


def test_to_json_time_and_bytes() -> None:
    t = dt.datetime(2020, 12, 2, 3, 43, 16, 120000, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert (
        r("{{ toJson .t }}|{{ toJson .b }}", {"t": t, "b": b"\x00\x01"})
        == '"2020-12-02T03:43:16.12+02:00"|"AAE="'
    )


def test_to_json_struct_order_kept_map_sorted() -> None:
    class S:
        __go_type__ = "x.S"

        def __go_json__(self) -> dict[str, Any]:
            return {"z": 1, "a": {"y": 1, "b": 2}}

    assert r("{{ toJson .s }}", {"s": S()}) == '{"z":1,"a":{"b":2,"y":1}}'


# -- math -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("{{ add 1 2 3 }}|{{ add1 1 }}|{{ sub 5 3 }}|{{ mul 2 3 4 }}", "6|2|2|24"),
        ("{{ div 7 2 }}|{{ div -7 2 }}|{{ mod 7 3 }}|{{ mod -7 3 }}", "3|-3|1|-1"),
        ("{{ max 1 5 3 }}|{{ biggest 1 9 }}|{{ min 4 1 3 }}", "5|9|1"),
        (
            '{{ int "42" }}|{{ int 3.9 }}|{{ int64 "0x10" }}|{{ float64 "1.5" }}|{{ int "1.0" }}|{{ int "x" }}',
            "42|3|16|1.5|1|0",
        ),
        ('{{ atoi "12" }}|{{ atoi "x" }}|{{ atoi "0x10" }}', "12|0|0"),
        ("{{ floor 1.5 }}|{{ ceil 1.5 }}|{{ round 123.555555 3 }}|{{ round 123.5 0 }}", "1|2|123.556|124"),
        (
            "{{ addf 1.5 2 }}|{{ subf 1.5 0.5 }}|{{ mulf 0.1 3 }}|{{ divf 10 4 }}|{{ add1f 1.5 }}",
            "3.5|1|0.3|2.5|2.5",
        ),
        ("{{ maxf 1 2.5 }}|{{ minf 1 2.5 }}", "2.5|1"),
        ('{{ toDecimal "0777" }}', "511"),
        ("{{ add .f 1 }}", "2"),
    ],
)
def test_math(text: str, want: str) -> None:
    assert r(text, {"f": 1.5}) == want


def test_div_by_zero() -> None:
    with pytest.raises(TemplateError, match="error calling div: runtime error: integer divide by zero"):
        r("{{ div 1 0 }}")


# -- types ------------------------------------------------------------------------------------------------


class RSAKey:
    __go_type__ = "*rsa.PublicKey"


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (
            '{{ typeOf 1.5 }}|{{ typeOf "x" }}|{{ typeOf .Missing }}|{{ typeOf .k }}',
            "float64|string|<nil>|*rsa.PublicKey",
        ),
        ('{{ typeIs "*rsa.PublicKey" .k }}|{{ typeIs "string" 1 }}', "true|false"),
        ('{{ typeIsLike "rsa.PublicKey" .k }}', "true"),
        (
            "{{ kindOf (list) }}|{{ kindOf (dict) }}|{{ kindOf .k }}|{{ kindOf .Missing }}|{{ kindOf 1.5 }}",
            "slice|map|ptr|invalid|float64",
        ),
        ('{{ kindIs "map" (dict) }}', "true"),
        ("{{ deepEqual (list 1 2) (list 1 2) }}|{{ deepEqual 1 1.0 }}", "true|false"),
        (
            '{{ typeOf (fromJson "[1]") }}|{{ typeOf (fromJson "{}") }}',
            "[]interface {}|map[string]interface {}",
        ),
    ],
)
def test_type_functions(text: str, want: str) -> None:
    assert r(text, {"k": RSAKey()}) == want


# -- dates ------------------------------------------------------------------------------------------------

T = dt.datetime(2021, 3, 4, 5, 6, 7, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ('{{ dateInZone "2006-01-02T15:04:05Z07:00" .t "UTC" }}', "2021-03-04T05:06:07Z"),
        (
            '{{ dateInZone "Mon Jan _2 15:04:05 MST 2006" .t "America/Los_Angeles" }}',
            "Wed Mar  3 21:06:07 PST 2021",
        ),
        ('{{ date_in_zone "2006-01-02" .t "No/Such_Zone" }}', "2021-03-04"),
        ('{{ dateInZone "2006-01-02 15:04" 0 "UTC" }}', "1970-01-01 00:00"),
        ('{{ htmlDateInZone .t "UTC" }}', "2021-03-04"),
        ('{{ dateInZone "15:04" (dateModify "-1.5h" .t) "UTC" }}', "03:36"),
        ('{{ (dateModify "bad" .t).Unix }}', "1614834367"),
        ("{{ unixEpoch .t }}", "1614834367"),
        ('{{ duration "95" }}|{{ duration 95 }}|{{ duration (int64 95) }}', "1m35s|0s|1m35s"),
        ('{{ durationRound "2h10m" }}|{{ durationRound "1h" }}|{{ durationRound "3000h" }}', "2h|60m|4mo"),
        ('{{ toDate "2006-01-02" "bad" }}', "0001-01-01 00:00:00 +0000 UTC"),
        ('{{ (toDate "2006-01-02" "2021-03-04").Day }}', "4"),
        ("{{ now | typeOf }}", "time.Time"),
    ],
)
def test_dates(text: str, want: str) -> None:
    assert r(text, {"t": T}) == want


def test_date_ignores_float64_and_uses_now() -> None:
    this_year = str(dt.datetime.now(dt.UTC).year)
    assert r('{{ dateInZone "2006" .Token.nbf "UTC" }}', {"Token": {"nbf": 1000.0}}) == this_year
    assert r('{{ date "2006" .Token.nbf }}', {"Token": {"nbf": 1000.0}}) == str(dt.datetime.now().year)


def test_must_to_date_error() -> None:
    with pytest.raises(TemplateError, match=r'error calling mustToDate: parsing time "bad"'):
        r('{{ mustToDate "2006-01-02" "bad" }}')


def test_ago() -> None:
    past = dt.datetime.now(dt.UTC) - dt.timedelta(minutes=2)
    assert r("{{ ago .t }}", {"t": past}) in ("2m0s", "2m1s")


# -- step additions ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        ("{{ toTime .Token.nbf }}", "2020-12-02 00:49:56 +0000 UTC"),
        ("{{ .Token.nbf | formatTime }}", "2020-12-02T00:49:56Z"),
        ("{{ toTime 1606871396 | formatTime }}", "2020-12-02T01:09:56Z"),
        ("{{ formatTime .t }}", "2021-03-04T05:06:07Z"),
        ('{{ parseTime "2024-07-02T23:16:02Z" }}', "2024-07-02 23:16:02 +0000 UTC"),
        ('{{ parseTime "time.RFC3339" "2024-07-02T23:16:02+02:00" }}', "2024-07-02 23:16:02 +0200 +0200"),
        (
            '{{ parseTime "time.UnixDate" "Tue Jul  2 16:20:48 PDT 2024" "America/Los_Angeles" }}',
            "2024-07-02 16:20:48 -0700 PDT",
        ),
        ('{{ parseTime "bad" }}', "0001-01-01 00:00:00 +0000 UTC"),
        ('{{ parseTime "a" "b" "c" "d" }}', "0001-01-01 00:00:00 +0000 UTC"),
        (
            '{{ toTimeLayout "RFC3339" }}|{{ toTimeLayout "time.rfc3339nano" }}|{{ toTimeLayout "2006" }}',
            "2006-01-02T15:04:05Z07:00|2006-01-02T15:04:05.999999999Z07:00|2006",
        ),
        ('{{ toTimeLayout "DateTime" }}|{{ toTimeLayout "Kitchen" }}', "2006-01-02 15:04:05|3:04PM"),
        ("{{ typeOf parseTime }}", "time.Time"),
    ],
)
def test_step_time_functions(text: str, want: str) -> None:
    assert r(text, {"Token": {"nbf": 1606871396.0 - 1200}, "t": T}) == want


def test_to_time_of_other_types_is_now() -> None:
    assert r('{{ (toTime "x").Year }}', {}) == str(dt.datetime.now(dt.UTC).year)


def test_must_parse_time_error() -> None:
    with pytest.raises(TemplateError, match="error calling mustParseTime"):
        r('{{ mustParseTime "bad" }}')


def test_fail_sets_fail_message() -> None:
    with pytest.raises(TemplateError) as ei:
        r('{{ fail "Key length must be at least 3072 bits" }}')
    assert ei.value.fail_message == "Key length must be at least 3072 bits"
    assert "error calling fail: Key length must be at least 3072 bits" in str(ei.value)


def test_fail_with_empty_message_is_plain_error() -> None:
    with pytest.raises(TemplateError) as ei:
        r('{{ fail "" }}')
    assert ei.value.fail_message is None


def test_webhook_funcset_uses_sprig_fail() -> None:
    with pytest.raises(TemplateError) as ei:
        r('{{ fail "x" }}', funcs="webhook")
    assert ei.value.fail_message is None
    with pytest.raises(TemplateError, match='function "toTime" not defined'):
        parse("{{ toTime 1 }}", funcs="webhook")


def test_function_sets() -> None:
    x509 = set(function_names("x509"))
    ssh = set(function_names("ssh"))
    assert {"asn1Enc", "asn1Marshal", "asn1Seq", "asn1Set"} <= x509
    assert not {"asn1Enc", "asn1Marshal", "asn1Seq", "asn1Set"} & ssh
    assert {"toTime", "formatTime", "parseTime", "mustParseTime", "toTimeLayout", "fail"} <= ssh
    assert "env" not in x509 and "expandenv" not in x509
    assert x509 - ssh == {"asn1Enc", "asn1Marshal", "asn1Seq", "asn1Set"}
    with pytest.raises(TemplateError, match='function "asn1Enc" not defined'):
        parse('{{ asn1Enc "x" }}', funcs="ssh")
    with pytest.raises(TemplateError, match='function "expandenv" not defined'):
        parse('{{ expandenv "$HOME" }}')


# -- paths, urls, network, crypto, semver -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "want"),
    [
        (
            '{{ base "/a/b.txt" }}|{{ dir "/a/b.txt" }}|{{ clean "a//b/../c" }}|{{ ext "x.tar.gz" }}|{{ isAbs "/x" }}',
            "b.txt|/a|a/c|.gz|true",
        ),
        ('{{ base "" }}|{{ dir "x" }}|{{ clean "/../a" }}|{{ osBase "a/b/" }}', ".|.|/a|b"),
        (
            '{{ $u := urlParse "https://user:pass@host.example:8443/p/a?x=1#frag" }}'
            "{{ $u.scheme }}|{{ $u.host }}|{{ $u.hostname }}|{{ $u.path }}|{{ $u.query }}|{{ $u.fragment }}|{{ $u.userinfo }}",
            "https|host.example:8443|host.example|/p/a|x=1|frag|user:pass",
        ),
        (
            '{{ urlJoin (dict "fragment" "fragment" "host" "host:80" "path" "/path" "query" "query" "scheme" "http") }}',
            "http://host:80/path?query#fragment",
        ),
        (
            '{{ (semver "1.2.3-alpha.1+123").Major }}|{{ (semver "v1.2.3-alpha.1+123").Prerelease }}',
            "1|alpha.1",
        ),
        (
            '{{ semverCompare "^1.2.0" "1.2.3" }}|{{ semverCompare "~1.2" "1.3.0" }}|{{ semverCompare ">=1.0, <2" "1.5" }}',
            "true|false|true",
        ),
        ('{{ semverCompare "1.2.x" "1.2.9" }}|{{ semverCompare ">1.0 || <0.5" "0.7.0" }}', "true|false"),
    ],
)
def test_paths_urls_semver(text: str, want: str) -> None:
    assert r(text) == want


def test_get_host_by_name() -> None:
    assert r('{{ getHostByName "localhost" }}') in ("127.0.0.1", "::1")


def test_crypto_functions() -> None:
    assert r('{{ derivePassword 1 "long" "password" "user" "example.com" }}') == "ZedaFaxcZaso9*"
    enc = r('{{ encryptAES "secretkey" "plaintext" }}')
    assert r('{{ decryptAES "secretkey" .e }}', {"e": enc}) == "plaintext"
    assert r('{{ genPrivateKey "ecdsa" }}').startswith("-----BEGIN EC PRIVATE KEY-----")
    assert r('{{ genPrivateKey "ed25519" }}').startswith("-----BEGIN PRIVATE KEY-----")
    assert r('{{ genPrivateKey "nope" }}') == "Unknown type nope"
    out = r(
        '{{ $ca := genCA "test-ca" 1 }}{{ $c := genSignedCert "leaf" (list "10.0.0.1") (list "a.example") 1 $ca }}{{ $c.Cert }}'
    )
    assert out.startswith("-----BEGIN CERTIFICATE-----")
    with pytest.raises(TemplateError, match="bcrypt is not supported"):
        r('{{ bcrypt "x" }}')


def test_int64_results_compare_with_ints() -> None:
    assert r("{{ if gt (len .l) 1 }}many{{ end }}", {"l": [1, 2]}) == "many"
    assert r("{{ eq (int64 3) 3 }}", {}) == "true"
    assert isinstance(Int64(3), int)
