"""`plica plugin new NAME`: a new third-party provisioner distribution that works and passes its tests at once.

What it writes is the layout of `examples/plica-example-hmac` and of every plugin in this repository: a
pyproject.toml with the `plica.provisioners` entry point, a package `plica_<name>` built only on `plica.api`
(a token type: one-time JWS signed with a key whose public half is in the ca.json block), a README with the
block and the flags, and tests that run the kernel's conformance suite (`plica.testing.conformance`) and get
a certificate through the real server. The files are templates in `plugin_template/` (package data).
"""

from __future__ import annotations

import re
from importlib import resources
from pathlib import Path
from string import Template

import click
import orjson

from plica import __version__
from plica.jose import public_jwk
from plica.keys import generate

NAME_RE = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
TYPE_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*")

# Template (plugin_template/<name>.tmpl, `${NAME}` placeholders for string.Template) → the path it is
# written to. Kept as files, not code text here, so that each reads as the file it becomes.
TEMPLATE_DIR = resources.files("plica.cli") / "plugin_template"
TEMPLATES = {
    "pyproject.toml": "pyproject.toml",
    "README.md": "README.md",
    "gitignore": ".gitignore",
    "package/__init__.py": "{pkg}/__init__.py",
    "package/provisioner.py": "{pkg}/provisioner.py",
    "package/client.py": "{pkg}/client.py",
    "package/manage.py": "{pkg}/manage.py",
    "tests/test_conformance.py": "tests/test_conformance.py",
    "tests/test_tokens.py": "tests/test_tokens.py",
}


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def scaffold(name: str, target: Path, type_name: str, type_id: int) -> list[Path]:
    """Write the distribution `plica-<name>` into `target`; the files written."""
    pkg = "plica_" + name.replace("-", "_")
    example_key = public_jwk(generate("EC"))
    block = {"type": type_name, "name": "devices", "key": example_key}
    values = {
        "DIST": f"plica-{name}",
        "PKG": pkg,
        "NAME": name,
        "OPT": name.replace("-", "_"),
        "TYPE": type_name,
        "CLS": type_name[0].upper() + type_name[1:],
        "TYPE_ID": str(type_id),
        "PLICA_VERSION": __version__,
        "BLOCK": orjson.dumps(block, option=orjson.OPT_INDENT_2).decode(),
    }
    written = []
    for template, rel in TEMPLATES.items():
        path = target / rel.format(pkg=pkg)
        path.parent.mkdir(parents=True, exist_ok=True)
        text = (TEMPLATE_DIR / f"{template}.tmpl").read_text(encoding="utf-8")
        path.write_text(Template(text).substitute(values), encoding="utf-8")
        written.append(path)
    return written


@click.group("plugin")
def plugin_group() -> None:
    """Write provisioner plugins: `plica plugin new NAME` starts a distribution (docs/plugins.md)."""


@plugin_group.command("new")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write the distribution (default ./plica-NAME); it must not exist or be empty.",
)
@click.option("--type", "type_name", default=None, help="The ca.json `type` (default: NAME in CamelCase).")
@click.option(
    "--type-id",
    type=click.IntRange(min=1000),
    default=1000,
    show_default=True,
    help="The number in its certificates' provisioner extension (third-party types use 1000 and above).",
)
def new_cmd(name: str, directory: Path | None, type_name: str | None, type_id: int) -> None:
    """Start a provisioner plugin: the distribution plica-NAME with a working token type built on plica.api,
    its README (ca.json block, flags) and tests that run the kernel's conformance suite."""
    if not NAME_RE.fullmatch(name):
        raise click.BadParameter(
            "lower-case letters, digits and single dashes, starting with a letter", param_hint="NAME"
        )
    type_name = type_name or _camel(name)
    if not TYPE_RE.fullmatch(type_name):
        raise click.BadParameter("letters and digits, starting with a letter", param_hint="--type")
    target = directory or Path.cwd() / f"plica-{name}"
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise click.ClickException(f"{target} already exists and is not empty")
    written = scaffold(name, target, type_name, type_id)
    click.echo(f"wrote plica-{name} ({len(written)} files) in {target}")
    click.echo(f"next: cd {target} && pip install -e '.[test]' && pytest && plica provisioner capabilities")
