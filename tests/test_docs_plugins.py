"""docs/plugins.md against the code it describes: it lists exactly `plica.api.__all__`, gives every hookspec
of core/plica/hookspecs.py a heading with its parameters (a new hook without documentation fails here), and
names only paths that exist."""

from __future__ import annotations

import inspect
import re
from pathlib import Path

import pytest

import plica.api
from plica import hookspecs

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "plugins.md"
TEXT = DOC.read_text(encoding="utf-8")


def documented_api_names() -> list[str]:
    m = re.search(r"<!-- plica.api names: begin -->\n(.*?)<!-- plica.api names: end -->", TEXT, re.DOTALL)
    assert m, "docs/plugins.md has no plica.api list between its begin/end markers"
    return re.findall(r"`([A-Za-z_][A-Za-z0-9_]*)`", m.group(1))


def hookspec_names() -> dict[str, list[str]]:
    return {
        name: list(inspect.signature(fn).parameters)
        for name, fn in vars(hookspecs).items()
        if hasattr(fn, f"{hookspecs.PROJECT}_spec")
    }


def test_the_public_face_is_listed_exactly() -> None:
    names = documented_api_names()
    assert len(names) == len(set(names)), sorted(n for n in names if names.count(n) > 1)
    assert set(names) - set(plica.api.__all__) == set(), "listed but not in plica.api.__all__"
    assert set(plica.api.__all__) - set(names) == set(), "in plica.api.__all__ but not listed"


@pytest.mark.parametrize("hook", sorted(hookspec_names()))
def test_every_hookspec_has_a_heading_with_its_parameters(hook: str) -> None:
    headings = dict(re.findall(r"^### (\w+)\(([^)]*)\)$", TEXT, re.MULTILINE))
    assert hook in headings, f"docs/plugins.md does not document the hook {hook} (### {hook}(...))"
    params = [p.strip() for p in headings[hook].split(",") if p.strip()]
    assert params == hookspec_names()[hook]


def test_no_heading_documents_a_hook_that_does_not_exist() -> None:
    headings = re.findall(r"^### (\w+)\(", TEXT, re.MULTILINE)
    assert set(headings) - set(hookspec_names()) == set()


def test_the_paths_it_names_exist() -> None:
    paths = set(re.findall(r"(?<![\w/.-])((?:core|plugins|examples|tools|docs|tests|\.ci)/[\w./-]*)", TEXT))
    links = {t for t in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", TEXT) if not re.match(r"[a-z]+://", t)}
    assert paths, "the check found no paths: the pattern is wrong"
    missing = sorted(p for p in paths if not (REPO / p.rstrip(".")).exists())
    missing += sorted(t for t in links if not (DOC.parent / t).exists())
    assert missing == []
