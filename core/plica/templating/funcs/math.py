"""sprig's integer (Go ``int64``, wrapping) and float (decimal-exact, as shopspring/decimal) arithmetic."""

from __future__ import annotations

import decimal
import functools
import math
import random
from collections.abc import Callable
from typing import Any

from ..errors import GoError
from ..golang.types import Int64
from .cast import to_float64, to_int64
from .registry import function_table

FUNCS, sprig = function_table()


def _i64(v: int) -> Int64:
    # Go int64 arithmetic wraps around
    v = (v + (1 << 63)) % (1 << 64) - (1 << 63)
    return Int64(v)


sprig("add1", "any")(lambda a: _i64(to_int64(a) + 1))
sprig("add", variadic="any")(lambda *a: _i64(sum(to_int64(x) for x in a)))
sprig("sub", "any", "any")(lambda a, b: _i64(to_int64(a) - to_int64(b)))


def _go_div(a: int, b: int) -> int:
    if b == 0:
        raise GoError("runtime error: integer divide by zero")
    q = abs(a) // abs(b)
    return q if (a >= 0) == (b >= 0) else -q


sprig("div", "any", "any")(lambda a, b: _i64(_go_div(to_int64(a), to_int64(b))))


@sprig("mod", "any", "any")
def _mod(a: Any, b: Any) -> Int64:
    x, y = to_int64(a), to_int64(b)
    if y == 0:
        raise GoError("runtime error: integer divide by zero")
    return _i64(x - _go_div(x, y) * y)


@sprig("mul", "any", variadic="any")
def _mul(a: Any, *v: Any) -> Int64:
    r = to_int64(a)
    for x in v:
        r = int(_i64(r * to_int64(x)))
    return _i64(r)


@sprig("randInt", "int", "int")
def _rand_int(lo: int, hi: int) -> int:
    if hi - lo <= 0:
        raise GoError("invalid argument to Intn")
    return random.randrange(lo, hi)


def _dec(v: Any) -> Any:
    f = to_float64(v)
    return decimal.Decimal(repr(f)) if math.isfinite(f) else decimal.Decimal(0)


def _dec_op(a: Any, rest: tuple[Any, ...], op: Callable[[Any, Any], Any]) -> float:
    ctx = decimal.Context(prec=40)
    r = _dec(a)
    for x in rest:
        d = _dec(x)
        if op is _DIV and d == 0:
            raise GoError("decimal division by 0")
        r = op(ctx, (r, d))
    return float(r)


def _DIV(ctx: Any, ab: tuple[Any, Any]) -> Any:
    return ctx.divide(ab[0], ab[1])


sprig("add1f", "any")(lambda a: _dec_op(a, (1,), lambda c, ab: c.add(*ab)))
sprig("addf", variadic="any")(lambda *a: _dec_op(0.0, a, lambda c, ab: c.add(*ab)))
sprig("subf", "any", variadic="any")(lambda a, *v: _dec_op(a, v, lambda c, ab: c.subtract(*ab)))
sprig("divf", "any", variadic="any")(lambda a, *v: _dec_op(a, v, _DIV))
sprig("mulf", "any", variadic="any")(lambda a, *v: _dec_op(a, v, lambda c, ab: c.multiply(*ab)))
sprig("biggest max", "any", variadic="any")(
    lambda a, *v: Int64(max([to_int64(a), *(to_int64(x) for x in v)]))
)
sprig("min", "any", variadic="any")(lambda a, *v: Int64(min([to_int64(a), *(to_int64(x) for x in v)])))


def _fmax(a: float, b: float) -> float:
    if (math.isinf(a) and a > 0) or (math.isinf(b) and b > 0):
        return math.inf
    if math.isnan(a) or math.isnan(b):
        return math.nan
    return max(a, b)


def _fmin(a: float, b: float) -> float:
    if (math.isinf(a) and a < 0) or (math.isinf(b) and b < 0):
        return -math.inf
    if math.isnan(a) or math.isnan(b):
        return math.nan
    return min(a, b)


sprig("maxf", "any", variadic="any")(
    lambda a, *v: functools.reduce(_fmax, (to_float64(x) for x in v), to_float64(a))
)
sprig("minf", "any", variadic="any")(
    lambda a, *v: functools.reduce(_fmin, (to_float64(x) for x in v), to_float64(a))
)
sprig("ceil", "any")(lambda a: float(math.ceil(x)) if math.isfinite(x := to_float64(a)) else x)
sprig("floor", "any")(lambda a: float(math.floor(x)) if math.isfinite(x := to_float64(a)) else x)


@sprig("round", "any", "int", variadic="float64")
def _round(a: Any, places: int, *ropt: float) -> float:
    round_on = ropt[0] if ropt else 0.5
    val = to_float64(a)
    pow_ = math.pow(10, places)
    digit = pow_ * val
    frac, _ = math.modf(digit)
    if not math.isfinite(digit):
        return digit / pow_
    r = math.ceil(digit) if frac >= round_on else math.floor(digit)
    return r / pow_
