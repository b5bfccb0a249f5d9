"""sprig's path functions (Go ``path``: ``base``, ``dir``, ``clean``, ``ext``, ``isAbs``)."""

from __future__ import annotations

from .registry import function_table

FUNCS, sprig = function_table()


def path_clean(p: str) -> str:
    if p == "":
        return "."
    rooted = p.startswith("/")
    stack: list[str] = []
    for seg in p.split("/"):
        if seg in ("", "."):
            continue
        if seg == "..":
            if stack and stack[-1] != "..":
                stack.pop()
            elif not rooted:
                stack.append("..")
            continue
        stack.append(seg)
    out = "/".join(stack)
    if rooted:
        return "/" + out
    return out or "."


def path_base(p: str) -> str:
    if p == "":
        return "."
    p = p.rstrip("/")
    if p == "":
        return "/"
    return p[p.rfind("/") + 1 :]


def path_dir(p: str) -> str:
    i = p.rfind("/")
    return path_clean(p[: i + 1])


def path_ext(p: str) -> str:
    for i in range(len(p) - 1, -1, -1):
        if p[i] == "/":
            break
        if p[i] == ".":
            return p[i:]
    return ""


sprig("base osBase", "string")(path_base)
sprig("dir osDir", "string")(path_dir)
sprig("clean osClean", "string")(path_clean)
sprig("ext osExt", "string")(path_ext)
sprig("isAbs osIsAbs", "string")(lambda p: p.startswith("/"))
