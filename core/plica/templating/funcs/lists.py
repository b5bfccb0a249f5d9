"""sprig's list functions (``list``, ``append``, ``first``, ``uniq``, ``slice``, ``chunk``, ``dig``, …)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..errors import GoError
from ..golang.reflect import deep_equal, go_kind, go_type_name, is_slice
from ..golang.types import MISSING, StringSlice, TypedNil, go_empty
from .cast import IntSlice, ListOfLists, to_int64
from .registry import function_table

FUNCS, sprig = function_table()

_NIL_DEREF = "runtime error: invalid memory address or nil pointer dereference"


def _list_kind(v: Any, what: str) -> Any:
    """The items of a slice argument, or the error sprig raises (``Cannot find first on type string``)."""
    if v is None or v is MISSING:
        raise GoError(_NIL_DEREF)
    if isinstance(v, list | tuple | bytes | bytearray):
        return v
    if isinstance(v, TypedNil) and v.kind == "slice":
        return ()
    raise GoError(f"{what} {go_kind(v)}")


@sprig("list tuple", variadic="any")
def _list(*v: Any) -> list[Any]:
    return list(v)


@sprig("append push mustAppend mustPush", "any", "any")
def _push(lst: Any, v: Any) -> list[Any]:
    return [*_list_kind(lst, "Cannot push on type"), v]


@sprig("prepend mustPrepend", "any", "any")
def _prepend(lst: Any, v: Any) -> list[Any]:
    return [v, *_list_kind(lst, "Cannot prepend on type")]


@sprig("first mustFirst", "any")
def _first(lst: Any) -> Any:
    items = _list_kind(lst, "Cannot find first on type")
    return items[0] if len(items) else None


@sprig("last mustLast", "any")
def _last(lst: Any) -> Any:
    items = _list_kind(lst, "Cannot find last on type")
    return items[-1] if len(items) else None


@sprig("rest mustRest", "any")
def _rest(lst: Any) -> Any:
    items = _list_kind(lst, "Cannot find rest on type")
    return list(items[1:]) if len(items) else TypedNil("[]interface {}")


@sprig("initial mustInitial", "any")
def _initial(lst: Any) -> Any:
    items = _list_kind(lst, "Cannot find initial on type")
    return list(items[:-1]) if len(items) else TypedNil("[]interface {}")


@sprig("reverse mustReverse", "any")
def _reverse(lst: Any) -> list[Any]:
    return list(reversed(list(_list_kind(lst, "Cannot find reverse on type"))))


def _in_list(haystack: Any, needle: Any) -> bool:
    return any(deep_equal(needle, h) for h in haystack)


@sprig("uniq mustUniq", "any")
def _uniq(lst: Any) -> list[Any]:
    dest: list[Any] = []
    for item in _list_kind(lst, "Cannot find uniq on type"):
        if not _in_list(dest, item):
            dest.append(item)
    return dest


@sprig("without mustWithout", "any", variadic="any")
def _without(lst: Any, *omit: Any) -> list[Any]:
    return [x for x in _list_kind(lst, "Cannot find without on type") if not _in_list(omit, x)]


@sprig("has mustHas", "any", "any")
def _has(needle: Any, haystack: Any) -> bool:
    if haystack is None:
        return False
    return _in_list(_list_kind(haystack, "Cannot find has on type"), needle)


@sprig("compact mustCompact", "any")
def _compact(lst: Any) -> list[Any]:
    return [x for x in _list_kind(lst, "Cannot compact on type") if not go_empty(x)]


@sprig("slice mustSlice", "any", variadic="any")
def _slice(lst: Any, *indices: Any) -> Any:
    if lst is None or lst is MISSING:
        raise GoError(_NIL_DEREF)
    if not is_slice(lst):
        raise GoError(f"list should be type of slice or array but {go_kind(lst)}")
    n = len(lst)
    if n == 0:
        return None
    start = to_int64(indices[0]) if indices else 0
    end = to_int64(indices[1]) if len(indices) >= 2 else n
    if start < 0 or end < start or end > n:
        raise GoError("reflect: slice index out of range")
    out = lst[start:end]
    return type(lst)(out) if isinstance(lst, StringSlice | IntSlice) else list(out)


@sprig("concat", variadic="any")
def _concat(*lists: Any) -> Any:
    res: list[Any] | None = None
    for lst in lists:
        if lst is None or lst is MISSING:
            raise GoError(_NIL_DEREF)
        if not is_slice(lst):
            raise GoError(f"Cannot concat type {go_kind(lst)} as list")
        res = [*(res or []), *lst]
    return res if res is not None else TypedNil("[]interface {}")


@sprig("chunk mustChunk", "int", "any")
def _chunk(size: int, lst: Any) -> list[list[Any]]:
    items = list(_list_kind(lst, "Cannot chunk type"))
    if size <= 0:
        raise GoError(
            "runtime error: integer divide by zero"
            if size == 0
            else "runtime error: makeslice: len out of range"
        )
    return ListOfLists(items[i : i + size] for i in range(0, len(items), size))


@sprig("dig", variadic="any")
def _dig(*ps: Any) -> Any:
    if len(ps) < 3:
        raise GoError("dig needs at least three arguments")
    d = ps[-1]
    default = ps[-2]
    keys = ps[:-2]
    for k in keys:
        if not isinstance(k, str):
            raise GoError(f"interface conversion: interface {{}} is {go_type_name(k)}, not string")
    if not isinstance(d, Mapping):
        raise GoError(
            f"interface conversion: interface {{}} is {go_type_name(d)}, not map[string]interface {{}}"
        )
    for i, k in enumerate(keys):
        if k not in d:
            return default
        v = d[k]
        if i == len(keys) - 1:
            return v
        if not isinstance(v, Mapping):
            raise GoError(
                f"interface conversion: interface {{}} is {go_type_name(v)}, not map[string]interface {{}}"
            )
        d = v
    return default
