"""tools/check_plugin_imports.py, which the lint environment runs: a plugin's package imports only
`plica.api`, its tests `plica.api` and `plica.testing`, and no distribution imports another's package."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

TOOL = Path(__file__).resolve().parents[1] / "tools" / "check_plugin_imports.py"


def distribution(root: Path, where: str, name: str, files: dict[str, str]) -> None:
    dist = root / where / f"plica-{name}"
    pkg = dist / f"plica_{name}"
    pkg.mkdir(parents=True)
    (dist / "pyproject.toml").write_text(f'[project]\nname = "plica-{name}"\n')
    (pkg / "__init__.py").write_text("")
    for rel, text in files.items():
        path = dist / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)


def check(root: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, str(TOOL), str(root)], capture_output=True, text=True, timeout=60)


def test_a_clean_tree_passes(tmp_path: Path) -> None:
    distribution(tmp_path, "plugins", "good", {
        "plica_good/hooks.py": "from plica.api import hookimpl\nfrom plica import api\nimport plica_good.hooks\n",
        "tests/conftest.py": "from plica.testing import make_ca\n",
        "tests/test_good.py": "import plica_good\nfrom plica.testing.conformance import ProvisionerConformance\n"
                              "from .helpers import thing\n",
    })  # fmt: skip
    distribution(
        tmp_path, "examples", "other", {"plica_other/x.py": "import os\nfrom plica.api import Token\n"}
    )
    r = check(tmp_path)
    assert r.returncode == 0 and r.stdout == "", r.stdout + r.stderr


def test_the_kernels_insides_and_other_plugins_fail_and_are_named(tmp_path: Path) -> None:
    distribution(
        tmp_path, "plugins", "inside", {"plica_inside/app.py": "from plica.http.app import build_app\n"}
    )
    distribution(
        tmp_path, "plugins", "nosy", {"plica_nosy/peek.py": "import os\n\nimport plica_inside.app\n"}
    )
    distribution(tmp_path, "examples", "tester", {
        "tests/test_t.py": "from plica.jose import sign_compact\n",
        "plica_tester/t.py": "from plica.testing import make_ca\nfrom plica import config\n",
    })  # fmt: skip
    r = check(tmp_path)
    assert r.returncode == 1, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines == [
        "plugins/plica-inside/plica_inside/app.py:1: imports plica.http.app; a plugin may import only plica.api",
        "plugins/plica-nosy/plica_nosy/peek.py:3: imports plica_inside.app, which belongs to another plugin",
        "examples/plica-tester/plica_tester/t.py:1: imports plica.testing; a plugin may import only plica.api",
        "examples/plica-tester/plica_tester/t.py:2: imports plica.config; a plugin may import only plica.api",
        "examples/plica-tester/tests/test_t.py:1: imports plica.jose; a plugin may import only plica.api and "
        "plica.testing",
    ], r.stdout
    assert "5 import(s)" in r.stderr
