"""sprig's dict functions (``dict``, ``get``, ``set``, ``pick``, ``merge`` with mergo's rules, …)."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..errors import GoError
from ..golang.types import StringSlice, go_empty
from .cast import strval
from .registry import function_table

FUNCS, sprig = function_table()


@sprig("dict", variadic="any")
def _dict(*v: Any) -> dict[str, Any]:
    d: dict[str, Any] = {}
    for i in range(0, len(v), 2):
        key = strval(v[i])
        d[key] = v[i + 1] if i + 1 < len(v) else ""
    return d


@sprig("get", "map", "string")
def _get(d: Any, key: str) -> Any:
    if d is not None and key in d:
        return d[key]
    return ""


@sprig("set", "map", "string", "any")
def _set(d: Any, key: str, value: Any) -> Any:
    if d is None:
        raise GoError("assignment to entry in nil map")
    d[key] = value
    return d


@sprig("unset", "map", "string")
def _unset(d: Any, key: str) -> Any:
    if d is not None:
        d.pop(key, None)
    return d


sprig("hasKey", "map", "string")(lambda d, k: d is not None and k in d)


@sprig("pluck", "string", variadic="map")
def _pluck(key: str, *ds: Any) -> list[Any]:
    return [d[key] for d in ds if d is not None and key in d]


@sprig("keys", variadic="map")
def _keys(*ds: Any) -> list[str]:
    out = StringSlice()
    for d in ds:
        if d is not None:
            out.extend(d.keys())
    return out


@sprig("pick", "map", variadic="string")
def _pick(d: Any, *keys: str) -> dict[str, Any]:
    if d is None:
        return {}
    return {k: d[k] for k in keys if k in d}


@sprig("omit", "map", variadic="string")
def _omit(d: Any, *keys: str) -> dict[str, Any]:
    if d is None:
        return {}
    return {k: v for k, v in d.items() if k not in keys}


@sprig("values", "map")
def _values(d: Any) -> list[Any]:
    return list(d.values()) if d is not None else []


def _mergo(dst: Any, src: Any, overwrite: bool) -> None:
    for k, sv in src.items():
        if k in dst:
            dv = dst[k]
            if isinstance(dv, Mapping) and isinstance(sv, Mapping):
                _mergo(dv, sv, overwrite)
            elif (overwrite and not go_empty(sv)) or go_empty(dv):
                dst[k] = sv
        else:
            dst[k] = sv


def _merge_impl(overwrite: bool, must: bool) -> Callable[..., Any]:
    def merge(dst: Any, *srcs: Any) -> Any:
        if dst is None:
            if must:
                raise GoError("src and dst must be of same type")
            return ""
        for src in srcs:
            if src is not None:
                _mergo(dst, src, overwrite)
        return dst

    return merge


sprig("merge", "map", variadic="map")(_merge_impl(False, False))
sprig("mergeOverwrite", "map", variadic="map")(_merge_impl(True, False))
sprig("mustMerge", "map", variadic="map")(_merge_impl(False, True))
sprig("mustMergeOverwrite", "map", variadic="map")(_merge_impl(True, True))
