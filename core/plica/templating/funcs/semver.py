"""sprig's ``semver`` and ``semverCompare`` (Masterminds/semver v3, main features)."""

from __future__ import annotations

import re
from typing import Any

from ..errors import GoError
from .registry import function_table

FUNCS, sprig = function_table()


_SEMVER_RE = re.compile(
    r"^v?([0-9]+)(\.[0-9]+)?(\.[0-9]+)?"
    r"(-([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?"
    r"(\+([0-9A-Za-z\-]+(\.[0-9A-Za-z\-]+)*))?$"
)


class SemverVersion:
    """Masterminds ``*semver.Version``."""

    __go_type__ = "*semver.Version"

    def __init__(self, original: str) -> None:
        m = _SEMVER_RE.match(original)
        if m is None:
            raise GoError("Invalid Semantic Version")
        self._orig = original
        self._major = int(m.group(1))
        self._minor = int(m.group(2)[1:]) if m.group(2) else 0
        self._patch = int(m.group(3)[1:]) if m.group(3) else 0
        self._pre = m.group(5) or ""
        self._meta = m.group(8) or ""

    def Major(self) -> int:
        return self._major

    def Minor(self) -> int:
        return self._minor

    def Patch(self) -> int:
        return self._patch

    def Prerelease(self) -> str:
        return self._pre

    def Metadata(self) -> str:
        return self._meta

    def Original(self) -> str:
        return self._orig

    def String(self) -> str:
        s = f"{self._major}.{self._minor}.{self._patch}"
        if self._pre:
            s += "-" + self._pre
        if self._meta:
            s += "+" + self._meta
        return s

    def __go_str__(self) -> str:
        return self.String()

    def __go_json__(self) -> Any:
        return self.String()

    def key(self) -> tuple[Any, ...]:
        return (self._major, self._minor, self._patch)

    def compare(self, other: SemverVersion) -> int:
        a, b = self.key(), other.key()
        if a != b:
            return -1 if a < b else 1
        return _cmp_pre(self._pre, other._pre)


def _cmp_pre(a: str, b: str) -> int:
    if a == b:
        return 0
    if a == "":
        return 1
    if b == "":
        return -1
    pa, pb = a.split("."), b.split(".")
    for x, y in zip(pa, pb, strict=False):
        if x == y:
            continue
        xd, yd = x.isdigit(), y.isdigit()
        if xd and yd:
            return -1 if int(x) < int(y) else 1
        if xd:
            return -1
        if yd:
            return 1
        return -1 if x < y else 1
    return -1 if len(pa) < len(pb) else (1 if len(pa) > len(pb) else 0)


sprig("semver", "string")(SemverVersion)

_CONSTRAINT_RE = re.compile(
    r"^\s*(!=|>=|=>|<=|=<|>|<|=|~>|~|\^)?\s*(v?[0-9xX*]+(?:\.[0-9xX*]+){0,2}(?:-[0-9A-Za-z\-.]+)?(?:\+[0-9A-Za-z\-.]+)?)\s*$"
)


def _check_one(op: str, spec: str, v: SemverVersion) -> bool:
    parts = spec.lstrip("v").split("-")[0].split("+")[0].split(".")
    wild = [p in ("x", "X", "*") for p in parts] + [True] * (3 - len(parts))
    nums = [int(p) if p.isdigit() else 0 for p in parts] + [0] * (3 - len(parts))
    pre = spec.split("-", 1)[1].split("+")[0] if "-" in spec else ""
    if v._pre and not pre:
        return False
    c = SemverVersion(f"{nums[0]}.{nums[1]}.{nums[2]}" + (f"-{pre}" if pre else ""))
    first_wild = next((i for i, w in enumerate(wild) if w), 3)
    if op in ("", "="):
        if first_wild < 3:
            return list(v.key()[:first_wild]) == nums[:first_wild]
        return v.compare(c) == 0
    if op == "!=":
        if first_wild < 3:
            return list(v.key()[:first_wild]) != nums[:first_wild]
        return v.compare(c) != 0
    if op == ">":
        if first_wild < 3:
            if first_wild == 0:
                return False
            bumped = list(nums[:first_wild])
            bumped[-1] += 1
            return list(v.key()[:first_wild]) >= bumped
        return v.compare(c) > 0
    if op in (">=", "=>"):
        return v.compare(c) >= 0
    if op == "<":
        return v.compare(c) < 0
    if op in ("<=", "=<"):
        if first_wild < 3:
            if first_wild == 0:
                return True
            return list(v.key()[:first_wild]) <= nums[:first_wild]
        return v.compare(c) <= 0
    if op in ("~", "~>"):
        if v.compare(c) < 0:
            return False
        if first_wild == 1 or (len(parts) == 1 and first_wild >= 1):
            return v.key()[0] == nums[0]
        return v.key()[0] == nums[0] and v.key()[1] == nums[1]
    if op == "^":
        if v.compare(c) < 0:
            return False
        if nums[0] > 0 or first_wild <= 1:
            return v.key()[0] == nums[0]
        if nums[1] > 0 or first_wild == 2:
            return v.key()[0] == 0 and v.key()[1] == nums[1]
        return v.key() == (0, 0, nums[2])
    return False


@sprig("semverCompare", "string", "string")
def _semver_compare(constraint: str, version: str) -> bool:
    v = SemverVersion(version)
    for alt in constraint.split("||"):
        ok = True
        parts = [p for p in re.split(r"\s*,\s*|\s+(?=[<>=!~^])", alt.strip()) if p]
        if not parts:
            raise GoError(f"improper constraint: {constraint}")
        for p in parts:
            if " - " in p:
                lo, hi = p.split(" - ", 1)
                ok = ok and _check_one(">=", lo.strip(), v) and _check_one("<=", hi.strip(), v)
                continue
            m = _CONSTRAINT_RE.match(p)
            if not m:
                raise GoError(f"improper constraint: {constraint}")
            ok = ok and _check_one(m.group(1) or "", m.group(2), v)
        if ok:
            return True
    return False
