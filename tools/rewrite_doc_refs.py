#!/usr/bin/env python3
"""Rewrite citations of documents that lived outside the repository to their copies in docs/.

Code and docs once cited `api.md §5b`, `templates.md §7.1`, `spec/provisioners.txt` ("the seed"),
`DESIGN.md` and `performance.md`, which lay beside the repository in shared/. Those documents are now
docs/reference/wire.md, docs/reference/step-templates.md, docs/reference/provisioners.md, docs/design.md and
docs/performance.md, with their section numbers kept, so a citation keeps its section and only the file
name changes. tests/test_docs_links.py fails while an old form is left anywhere.

    python tools/rewrite_doc_refs.py [PATH ...]           # dry run: print each change, exit 1 if any
    python tools/rewrite_doc_refs.py --write [PATH ...]   # rewrite the files in place

PATH is a file or a folder (default: the repository). Standard library only; running it twice changes
nothing the second time. In Markdown, outside code, a rewritten citation becomes a link to the file.
"""

from __future__ import annotations

import argparse
import difflib
import os
import re
import sys
from collections.abc import Callable, Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

WIRE = "docs/reference/wire.md"
TEMPLATES = "docs/reference/step-templates.md"
PROVISIONERS = "docs/reference/provisioners.md"
DESIGN = "docs/design.md"
PERFORMANCE = "docs/performance.md"
# The old file names, as they were written under shared/, and their new homes.
SPEC_FILES = {"api.md": WIRE, "templates.md": TEMPLATES, "provisioners.txt": PROVISIONERS}

SUFFIXES = {".py", ".md", ".toml", ".ini", ".txt", ".cfg", ".sh", ".yml", ".yaml", ".rst"}
SKIP_DIRS = {".git", ".tox", ".venv", "venv", "build", "dist", "__pycache__", ".ruff_cache", ".mypy_cache"}
# The checker and this script spell the old forms out on purpose; docs/reference/ is the documents
# themselves, which cite step-ca's sources, not ours.
SKIP_FILES = {"tools/rewrite_doc_refs.py", "tests/test_docs_links.py"}
SKIP_PREFIXES = ("docs/reference/",)

# No path character before a bare name: `docs/templates.md` (Plica's own doc) and `step-templates.md` stay,
# and neither does a Markdown link's text or target (`[performance.md](performance.md)` in docs/ is right).
NOT_IN_PATH = r"(?<![\w./\[-])(?<!\]\()"
# A path that leads to shared/'s documents, absolute or relative: /work/shared/spec/, shared/spec/, spec/.
SHARED_PREFIX = r"(?<![\w./-])/?(?:[\w.-]+/)*"

Replacement = str | Callable[[re.Match[str]], str]
Rule = tuple[str, re.Pattern[str], Replacement]


def _seed_rules() -> list[Rule]:
    """ "The seed" was what the project called the page it grew from; say which file that is."""
    old_file = rf"\((?:our )?(?:{SHARED_PREFIX}spec/)?provisioners\.txt\)"
    return [
        (
            'the seed\'s "…" columns (provisioners.txt)',
            re.compile(rf"\b([Tt])he seed's (\"[^\"]+\" (?:columns|table))((?:,[^()\n]*?)?) {old_file}"),
            rf"\1he \2 of {PROVISIONERS}\3",
        ),
        (
            'the seed\'s "…" columns',
            re.compile(r"\b([Tt])he seed's ((?:\"[^\"]+\"|[\w-]+) (?:columns|table))"),
            rf"\1he \2 of {PROVISIONERS}",
        ),
        (
            "the seed's table/example/command",
            re.compile(r"\b([Tt])he seed's (table|example|command)\b"),
            rf"\1he \2 of {PROVISIONERS}",
        ),
        ("the seed's", re.compile(r"\b[Tt]he seed's\b"), f"{PROVISIONERS}'s"),
        ("the seed", re.compile(r"\b[Tt]he seed\b"), PROVISIONERS),
        ("the design", re.compile(r"\b[Tt]he design\b"), DESIGN),
    ]


def _python_path_rules(rel: Path) -> list[Rule]:
    """Tests that read the documents from shared/ read the repository's copies instead."""

    def parents_minus_one(m: re.Match[str]) -> str:
        new = SPEC_FILES[m.group(2)]
        parts = " / ".join(f'"{p}"' for p in new.split("/"))
        return f"parents[{int(m.group(1)) - 1}] / {parts}"

    def absolute(m: re.Match[str]) -> str:
        new = SPEC_FILES[m.group(1)]
        parts = " / ".join(f'"{p}"' for p in new.split("/"))
        # parents[k] of a file k+1 folders deep in the repository is the repository's root.
        return f"Path(__file__).resolve().parents[{len(rel.parts) - 1}] / {parts}"

    names = "|".join(re.escape(n) for n in SPEC_FILES)
    return [
        (
            'parents[n] / "shared" / "spec" / …',
            re.compile(rf'parents\[(\d+)\] / "shared" / "spec" / "({names})"'),
            parents_minus_one,
        ),
        ('Path("/…/shared/spec/…")', re.compile(rf'Path\("/(?:[\w.-]+/)*shared/spec/({names})"\)'), absolute),
        (
            "comment on shared/",
            re.compile(r"^[ \t]*# shared/ lies beside the repository \(here and in CI\)\.\n", re.M),
            "",
        ),
    ]


def _name_rules() -> list[Rule]:
    return [
        ("spec/api.md", re.compile(rf"{SHARED_PREFIX}spec/api\.md"), WIRE),
        ("spec/templates.md", re.compile(rf"{SHARED_PREFIX}spec/templates\.md"), TEMPLATES),
        ("spec/provisioners.txt", re.compile(rf"{SHARED_PREFIX}spec/provisioners\.txt"), PROVISIONERS),
        ("notes/performance.md", re.compile(rf"{SHARED_PREFIX}notes/performance\.md"), PERFORMANCE),
        ("shared/DESIGN.md", re.compile(rf"{SHARED_PREFIX}shared/DESIGN\.md"), DESIGN),
        ("api.md", re.compile(rf"{NOT_IN_PATH}api\.md"), WIRE),
        # Only with a section: a bare `templates.md` may be Plica's own docs/templates.md.
        ("templates.md §", re.compile(rf"{NOT_IN_PATH}templates\.md(?=,? ?§)"), TEMPLATES),
        ("provisioners.txt", re.compile(rf"{NOT_IN_PATH}provisioners\.txt"), PROVISIONERS),
        ("DESIGN.md", re.compile(rf"{NOT_IN_PATH}DESIGN\.md"), DESIGN),
        ("performance.md", re.compile(rf"{NOT_IN_PATH}performance\.md"), PERFORMANCE),
    ]


NEW_FILES = (WIRE, TEMPLATES, PROVISIONERS, DESIGN, PERFORMANCE)
SECTION = r"§\d+[a-z]?(?:\.\d+)*"
# A bare citation of a new file (not already a link's text or target), with its sections.
CITATION = re.compile(
    r"(?<![\[\w./-])("
    + "|".join(re.escape(f) for f in NEW_FILES)
    + rf")((?: {SECTION}(?:(?:, ?| ?- ?| and ){SECTION})*)?)(?![\w/-]|\]\()"
)
CODE = re.compile(r"(```.*?```|`[^`\n]*`)", re.S)


def _linkify(text: str, rel: Path) -> str:
    """In Markdown outside code, `docs/reference/wire.md §6` → `[docs/reference/wire.md §6](<relative>)`."""
    here = (ROOT / rel).parent

    def link(m: re.Match[str]) -> str:
        target = Path(os.path.relpath(ROOT / m.group(1), here)).as_posix()
        return f"[{m.group(1)}{m.group(2)}]({target})"

    pieces = CODE.split(text)
    return "".join(p if i % 2 else CITATION.sub(link, p) for i, p in enumerate(pieces))


def rewrite(text: str, rel: Path) -> tuple[str, list[str]]:
    """The rewritten text of the file at `rel` (relative to the repository) and the rules that applied."""
    applied: list[str] = []
    rules = _seed_rules() + (_python_path_rules(rel) if rel.suffix == ".py" else []) + _name_rules()
    before = text
    for name, pattern, repl in rules:
        text, n = pattern.subn(repl, text)
        if n:
            applied.append(f"{name} ×{n}")
    if rel.suffix == ".md" and text != before:
        text = _linkify(text, rel)
    if rel.suffix == ".py" and text != before:
        text = _long_comments_above(text)
    return text, applied


LINE_LENGTH = 110  # ruff's, in pyproject.toml
TRAILING_COMMENT = re.compile(r"^(?P<indent>[ \t]*)(?P<code>[^#\s][^#]*?)  # (?P<comment>.*docs/.*)$")


def _long_comments_above(text: str) -> str:
    """A code line whose trailing comment the longer file name pushed past the line length gets the comment
    on a line of its own above it (ruff format would otherwise wrap the code in parentheses)."""
    out = []
    for line in text.split("\n"):
        m = TRAILING_COMMENT.match(line) if len(line) > LINE_LENGTH else None
        if m:
            out.append(f"{m['indent']}# {m['comment']}")
            line = f"{m['indent']}{m['code']}"
        out.append(line)
    return "\n".join(out)


def candidate_files(paths: list[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_file():
            yield path
            continue
        for dirpath, dirnames, filenames in os.walk(path):
            dirnames[:] = sorted(d for d in dirnames if d not in SKIP_DIRS and not d.endswith(".egg-info"))
            for f in sorted(filenames):
                p = Path(dirpath) / f
                if p.suffix in SUFFIXES:
                    yield p


def changed_lines(old: str, new: str) -> Iterator[tuple[int, str, str]]:
    """(line number in the old text, old line, new line) of each change; "" stands for no line."""
    a, b = old.splitlines(), new.splitlines()
    for op, i1, i2, j1, j2 in difflib.SequenceMatcher(None, a, b, autojunk=False).get_opcodes():
        if op == "equal":
            continue
        olds, news = a[i1:i2], b[j1:j2]
        for k in range(max(len(olds), len(news))):
            yield (
                i1 + min(k, max(len(olds) - 1, 0)) + 1,
                (olds[k : k + 1] or [""])[0],
                (news[k : k + 1] or [""])[0],
            )


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--write", action="store_true", help="rewrite the files (default: only show the changes)")
    ap.add_argument("paths", nargs="*", type=Path, default=[ROOT])
    args = ap.parse_args(argv)
    changed = 0
    for path in candidate_files([p.resolve() for p in args.paths]):
        try:
            rel = path.relative_to(ROOT)
        except ValueError:
            rel = Path(path.name)
        if rel.as_posix() in SKIP_FILES or rel.as_posix().startswith(SKIP_PREFIXES):
            continue
        old = path.read_text(encoding="utf-8")
        new, applied = rewrite(old, rel)
        if new == old:
            continue
        changed += 1
        print(f"{rel}: {', '.join(applied)}")
        for n, a, b in changed_lines(old, new):
            print(f"  {n}: {a.strip() or '(no line)'}\n  {' ' * len(str(n))}→ {b.strip() or '(no line)'}")
        if args.write:
            path.write_text(new, encoding="utf-8")
    verb = "rewrote" if args.write else "would rewrite"
    print(f"{verb} {changed} file(s)")
    return 1 if changed and not args.write else 0


if __name__ == "__main__":
    sys.exit(main())
