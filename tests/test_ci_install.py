"""The test command reuses what it installed: .ci/install_plugins.py installs a distribution again only
when it is not installed editable from its directory here or its pyproject.toml changed since."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType

REPO = Path(__file__).resolve().parents[1]


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location("install_plugins", REPO / ".ci" / "install_plugins.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_only_new_or_changed_distributions_are_installed(tmp_path: Path) -> None:
    script = load_script()
    paths = script.distribution_paths()
    assert REPO in paths and REPO / "plugins" / "jwk" in paths
    marker = tmp_path / "plica-installed.json"
    # A fresh environment (no record) installs everything: what a fresh clone and CI get.
    assert script.plan(paths, marker) == paths
    # This environment has them editable from here (the test command installed them): recorded, none again.
    script.record(paths, marker)
    assert script.plan(paths, marker) == []
    # A changed pyproject.toml (a new dependency, a new entry point) is installed again, alone.
    done = json.loads(marker.read_text())
    done[str(REPO / "plugins" / "jwk")] = "0" * 64
    marker.write_text(json.dumps(done))
    assert script.plan(paths, marker) == [REPO / "plugins" / "jwk"]


def test_a_distribution_installed_from_elsewhere_is_installed_from_here(tmp_path: Path) -> None:
    script = load_script()
    elsewhere = tmp_path / "plica-nowhere"
    elsewhere.mkdir()
    (elsewhere / "pyproject.toml").write_text('[project]\nname = "plica-not-installed-anywhere"\n')
    marker = tmp_path / "plica-installed.json"
    script.record([elsewhere], marker)  # recorded, but nothing installed: installed again
    assert script.plan([elsewhere], marker) == [elsewhere]
    assert sys.prefix  # the record lives in the environment (sys.prefix), so a new tox env starts empty
    assert script.MARKER.parent == Path(sys.prefix)
