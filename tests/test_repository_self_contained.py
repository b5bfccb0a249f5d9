"""A clone runs every test: no test reads a file outside the repository (the specs beside it are copied
into docs/reference), and none skips, or quietly checks less, because a file of the repository might be
missing."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def _sources() -> list[Path]:
    return [
        p
        for p in [
            *REPO.glob("tests/**/*.py"),
            *REPO.glob("plugins/*/tests/**/*.py"),
            *REPO.glob("examples/**/*.py"),
        ]
        if p.name != Path(__file__).name
    ]


def test_no_test_reads_above_the_repository() -> None:
    bad = []
    for src in _sources():
        top = len(src.relative_to(REPO).parts) - 1  # Path(src).parents[top] is the repository itself
        for m in re.finditer(r"parents\[(\d+)\]", src.read_text()):
            if int(m.group(1)) > top:
                bad.append(f"{src.relative_to(REPO)}: parents[{m.group(1)}]")
    assert bad == []


def test_no_test_is_conditional_on_a_repository_file() -> None:
    """`if SPEC.exists(): ...` or `pytest.skip(... not beside ...)` around docs/reference files made tests
    pass without checking anything when the specs lived outside the repository."""
    pattern = re.compile(r"if (not )?(SPEC\w*|spec)\.exists\(\)|not beside the (repository|plugin)")
    bad = [
        f"{src.relative_to(REPO)}:{i}"
        for src in _sources()
        for i, line in enumerate(src.read_text().splitlines(), 1)
        if pattern.search(line)
    ]
    assert bad == []
