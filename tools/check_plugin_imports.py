#!/usr/bin/env python3
"""Fail when a plugin imports anything of the kernel but its public face, or imports another plugin.

A plugin distribution is a folder under plugins/ or examples/ with a pyproject.toml. Its package code may
import only `plica.api`; its tests (tests/, conftest.py, test_*.py) may import `plica.api` and
`plica.testing`. No distribution may import another's package. Standard library only, so that the lint
environment needs nothing installed; `python tools/check_plugin_imports.py [ROOT ...]` prints one line per
offending import and exits 1 when there is any.
"""

from __future__ import annotations

import ast
import sys
from collections.abc import Iterator
from pathlib import Path

CODE_ALLOWED = ("plica.api",)
TEST_ALLOWED = ("plica.api", "plica.testing")


def distributions(root: Path) -> Iterator[Path]:
    for parent in ("plugins", "examples"):
        base = root / parent
        if base.is_dir():
            yield from sorted(p for p in base.iterdir() if (p / "pyproject.toml").is_file())


def own_packages(dist: Path) -> set[str]:
    return {p.name for p in dist.iterdir() if p.is_dir() and (p / "__init__.py").is_file()}


def is_test(path: Path, dist: Path) -> bool:
    rel = path.relative_to(dist).parts
    return "tests" in rel or rel[-1] == "conftest.py" or rel[-1].startswith("test_")


def imported_modules(tree: ast.AST) -> Iterator[tuple[int, str]]:
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "plica":
                # `from plica import api` names a module; `from plica import x` anything else is private.
                for alias in node.names:
                    yield node.lineno, f"plica.{alias.name}"
            else:
                yield node.lineno, node.module


def allowed(module: str, faces: tuple[str, ...]) -> bool:
    return any(module == f or module.startswith(f + ".") for f in faces)


def violations(root: Path) -> Iterator[str]:
    dists = list(distributions(root))
    packages = {d: own_packages(d) for d in dists}
    all_plugin_packages = set().union(*packages.values()) if packages else set()
    for dist in dists:
        mine = packages[dist]
        for path in sorted(dist.rglob("*.py")):
            if any(
                part.startswith(".") or part in ("build", "dist") for part in path.relative_to(dist).parts
            ):
                continue
            faces = TEST_ALLOWED if is_test(path, dist) else CODE_ALLOWED
            tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
            for line, module in imported_modules(tree):
                top = module.split(".")[0]
                where = f"{path.relative_to(root)}:{line}"
                if top == "plica" and not allowed(module, faces):
                    yield f"{where}: imports {module}; a plugin may import only {' and '.join(faces)}"
                elif top in all_plugin_packages and top not in mine:
                    yield f"{where}: imports {module}, which belongs to another plugin"


def main(argv: list[str]) -> int:
    roots = [Path(a) for a in argv] or [Path(__file__).resolve().parent.parent]
    found = [v for root in roots for v in violations(root)]
    for v in found:
        print(v)
    if found:
        print(f"{len(found)} import(s) outside the kernel's public face (plica.api)", file=sys.stderr)
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
