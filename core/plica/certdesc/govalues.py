"""Go values in template data: `toJson` (`go_json`), `%v` (`go_str`), JSON numbers and Go slices.

Template data objects stand for Go values under the `plica.templating` value model: attribute `Foo` is
field `.Foo` (zero-argument methods are called), `__go_type__` is what `typeOf` prints, `__go_json__()`
is what `toJson` prints (step's names and omissions; for structs the dict is in field order) and
`__go_str__()` is the `%v` text.
"""

from __future__ import annotations

import base64
from collections.abc import Collection, Iterable, Mapping
from typing import Any

import attrs


def go_json(value: Any) -> Any:
    """The JSON-able form of a template value: `__go_json__` resolved all the way down."""
    hook = getattr(value, "__go_json__", None)
    if hook is not None and not isinstance(value, type):
        return go_json(hook())
    if isinstance(value, Mapping):
        return {str(k): go_json(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [go_json(v) for v in value]
    if isinstance(value, (bytes, bytearray)):
        return base64.b64encode(bytes(value)).decode("ascii")  # Go marshals []byte as base64
    return value


def go_str(value: Any) -> str:
    """Go `%v` text of a value (used for the `__go_str__` of the structs below)."""
    hook = getattr(value, "__go_str__", None)
    if hook is not None and not isinstance(value, type):
        return str(hook())
    if value is None:
        return "<nil>"
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (bytes, bytearray)):
        return "[" + " ".join(str(b) for b in value) + "]"
    if isinstance(value, (list, tuple)):
        return "[" + " ".join(go_str(v) for v in value) + "]"
    if isinstance(value, Mapping):
        return "map[" + " ".join(f"{go_str(k)}:{go_str(value[k])}" for k in sorted(value)) + "]"
    return str(value)


def json_to_go(value: Any) -> Any:
    """JSON-decoded data as Go's `map[string]interface{}` holds it: every number becomes a float64."""
    if isinstance(value, bool) or value is None or isinstance(value, str):
        return value
    if isinstance(value, (int, float)):
        return float(value)
    if isinstance(value, Mapping):
        return {str(k): json_to_go(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_to_go(v) for v in value]
    return value


class GoSlice(list[Any]):
    """A Go slice: `%v` prints `[a b]`, and a nil slice marshals as `null` where an empty one gives `[]`."""

    def __init__(
        self, items: Iterable[Any] = (), *, go_type: str = "[]string", nil: bool | None = None
    ) -> None:
        super().__init__(items)
        self.__go_type__ = go_type
        self.nil = (len(self) == 0) if nil is None else nil

    def __go_json__(self) -> Any:
        return None if self.nil and not self else list(self)

    def __go_str__(self) -> str:
        return go_str(list(self))


def list_or(value: Any) -> Any:
    """A slice as a plain list (for comparisons), anything else unchanged."""
    return list(value) if isinstance(value, list) else value


def struct_str(*fields: Any, pointer: bool = False) -> str:
    return ("&" if pointer else "") + "{" + " ".join(go_str(f) for f in fields) + "}"


def exported_fields(value: attrs.AttrsInstance, *, omit: Collection[str] = ()) -> dict[str, Any]:
    """The Go fields of an attrs stand-in for a struct, by name in field order: the capitalised ones, as Go
    exports only those (lower-case attributes are this side's own). Without JSON tags, this is the
    struct's `toJson` object; its values are what `%v` prints."""
    return {
        f.name: getattr(value, f.name)
        for f in attrs.fields(type(value))
        if f.name[:1].isupper() and f.name not in omit
    }


__all__ = [
    "GoSlice",
    "exported_fields",
    "go_json",
    "go_str",
    "json_to_go",
    "list_or",
    "struct_str",
]
