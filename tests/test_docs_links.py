"""Docs point at files that exist.

Code and docs cite the project's documents as `docs/<path>`, with a section where one is meant
(`docs/reference/wire.md §5b`): the file must exist and, with a section, carry it in a heading. Relative
Markdown links in the READMEs and docs/ must reach a file. And the documents that once lay outside the
repository are no longer cited by their old names.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SKIP_DIRS = {
    ".git",
    ".tox",
    ".venv",
    "venv",
    "build",
    "dist",
    "__pycache__",
    ".ruff_cache",
    ".mypy_cache",
    "node_modules",
}
CODE_SUFFIXES = {".py", ".toml", ".ini"}
# These two spell the old forms out on purpose.
CHECKER_FILES = {Path("tests/test_docs_links.py")}

SECTION = r"\d+[a-z]?(?:\.\d+)*"
# `docs/<path>` (not inside a URL or a longer path), then optionally `§S`, `§S, §T`, `§S-§T`, `§S and §T`.
CITATION = re.compile(
    rf"(?<![\w./:-])docs/(?P<path>(?:[\w.-]+/)*[\w.-]*)"
    rf"(?P<sections>(?:\s+§{SECTION}(?:\s*(?:,|-|–|and)\s*§{SECTION})*)?)"
)
HEADING_NUMBER = re.compile(rf"^#{{1,6}}\s+({SECTION})\.?(?:\s|$)")
LINK = re.compile(r"!?\[[^\]\n]*\]\(\s*([^)\s]+)(?:\s+\"[^\"]*\")?\s*\)")
CODE_IN_MARKDOWN = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)

OLD_FORMS = {
    "api.md": re.compile(r"(?<![\w./-])api\.md"),
    # `docs/reference/step-templates.md §7.1` is the new form; any other `templates.md §` is an old one.
    "templates.md §": re.compile(r"(?<![\w-])templates\.md,? ?§"),
    "spec/…": re.compile(r"spec/(?:api\.md|templates\.md|provisioners\.txt)"),
    "provisioners.txt": re.compile(r"provisioners\.txt"),
    "DESIGN.md": re.compile(r"DESIGN\.md"),
    "performance.md": re.compile(r"(?<![\w./\[-])(?<!\]\()performance\.md"),
    "shared/": re.compile(r"(?<![\w.-])shared/(?:spec|notes)\b|\"shared\" / \"spec\""),
    "the seed": re.compile(r"\bthe seed\b", re.I),
    "the design": re.compile(r"\bthe design\b", re.I),
}


def repo_files(suffixes: set[str]) -> Iterator[Path]:
    """Files of the repository with these suffixes, relative to its root."""
    for path in sorted(ROOT.rglob("*")):
        rel = path.relative_to(ROOT)
        if any(p in SKIP_DIRS or p.endswith(".egg-info") for p in rel.parts[:-1]):
            continue
        if path.suffix in suffixes and path.is_file():
            yield rel


def markdown_files() -> list[Path]:
    """The docs whose relative links must resolve: docs/ and every README."""
    docs = [p for p in repo_files({".md"}) if p.parts[0] == "docs" or p.name == "README.md"]
    return [p for p in docs if p.parts[0] in ("docs", "plugins", "examples") or len(p.parts) == 1]


def without_code(text: str) -> str:
    """Markdown prose with its code blocks and code spans blanked (newlines kept, so line numbers hold)."""
    return CODE_IN_MARKDOWN.sub(lambda m: re.sub(r"[^\n]", " ", m.group(0)), text)


def line_of(text: str, pos: int) -> int:
    return text.count("\n", 0, pos) + 1


def section_numbers(doc: Path) -> set[str]:
    """The section numbers the headings of a Markdown file carry (`## 4. Tokens`, `### 4a. ...`)."""
    numbers = set()
    in_fence = False
    for line in doc.read_text(encoding="utf-8").splitlines():
        if line.startswith("```"):
            in_fence = not in_fence
        elif not in_fence and (m := HEADING_NUMBER.match(line)):
            numbers.add(m.group(1))
    return numbers


def test_citations_name_files_and_sections_that_exist() -> None:
    problems = []
    numbers: dict[Path, set[str]] = {}
    for rel in repo_files(CODE_SUFFIXES | {".md"}):
        text = (ROOT / rel).read_text(encoding="utf-8")
        for m in CITATION.finditer(text):
            path = m.group("path").rstrip(".")
            target = ROOT / "docs" / path
            where = f"{rel}:{line_of(text, m.start())}: {m.group(0).strip()}"
            if not target.exists():
                problems.append(f"{where}: no such file")
                continue
            wanted = re.findall(rf"§({SECTION})", m.group("sections"))
            if not wanted:
                continue
            if target.suffix != ".md":
                problems.append(f"{where}: a section of a file without headings")
                continue
            have = numbers.setdefault(target, section_numbers(target))
            problems += [f"{where}: no heading carries §{s}" for s in wanted if s not in have]
    assert not problems, "\n".join(problems)


def test_relative_markdown_links_resolve() -> None:
    problems = []
    for rel in markdown_files():
        text = without_code((ROOT / rel).read_text(encoding="utf-8"))
        for m in LINK.finditer(text):
            url = m.group(1).strip("<>")
            if re.match(r"[a-z][a-z0-9+.-]*:", url) or url.startswith("#"):
                continue  # another site, mail, or a heading of the same page
            target = ((ROOT / rel).parent / url.split("#", 1)[0]).resolve()
            if not target.exists():
                problems.append(f"{rel}:{line_of(text, m.start())}: {url} does not exist")
            elif not target.is_relative_to(ROOT):
                problems.append(f"{rel}:{line_of(text, m.start())}: {url} leads out of the repository")
    assert not problems, "\n".join(problems)


def test_no_citation_of_documents_outside_the_repository() -> None:
    """Everything once cited from outside the repository is in docs/ now, and cited there."""
    problems = []
    for rel in repo_files(CODE_SUFFIXES | {".md"}):
        if rel in CHECKER_FILES:
            continue
        text = (ROOT / rel).read_text(encoding="utf-8")
        for name, pattern in OLD_FORMS.items():
            for m in pattern.finditer(text):
                line = text.splitlines()[line_of(text, m.start()) - 1].strip()
                problems.append(f"{rel}:{line_of(text, m.start())}: {name}: {line}")
    assert not problems, f"{len(problems)} old citations:\n" + "\n".join(problems)


# ============================================================================ the rewriting script
