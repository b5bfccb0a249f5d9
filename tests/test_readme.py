"""What the README tells a new user matches what the commands do: where `plica` lives, what `start --init`
binds and prints, and what the test command installs."""

from __future__ import annotations

import re
from pathlib import Path

README = (Path(__file__).resolve().parents[1] / "README.md").read_text()
QUICK = README[: README.index("## Provisioner types")]


def test_plica_is_called_from_the_venv_or_after_activating_it() -> None:
    assert ".venv/bin/plica start --init" in QUICK
    assert "source .venv/bin/activate" in QUICK


def test_the_bind_address_is_said_as_it_is() -> None:
    # `start --init` writes address ":9000" (every interface): the README says so, not "localhost" only
    assert "every network interface" in QUICK and "--address 127.0.0.1:9000" in QUICK
    assert not re.search(r"The CA listens on `https://localhost:9000`", QUICK)


def test_start_init_output_is_what_the_readme_lists() -> None:
    from plica.cli import ca

    source = Path(ca.__file__).read_text()
    # the README promises the root, ca.json and database paths; start --init prints each
    for printed in ("root certificate (the one to trust)", "configuration:", "database:", "root fingerprint"):
        assert printed in source, printed
    for promised in ("root_ca.crt", "config/ca.json", "db/plica.db"):
        assert promised in QUICK, promised


def test_the_test_command_says_it_needs_root_and_what_it_installs() -> None:
    assert "needs root" in QUICK
    for pkg in ("openssl", "certbot", "lego", "prometheus", "PostgreSQL"):
        assert pkg in QUICK, pkg
    deps = (Path(__file__).resolve().parents[1] / ".ci" / "system-deps.sh").read_text()
    # every Debian package the script may install is named in the README
    lists = re.findall(r"need\+=\(([^)]*)\)", deps)
    lists += re.findall(r"--no-install-recommends ([\w .-]+?) >/dev/null", deps.replace('"${need[@]}"', ""))
    assert len(lists) > 5
    for pkgs in lists:
        for pkg in pkgs.split():
            short = pkg.removeprefix("golang-github-smallstep-certificates-dev").split("-server")[0]
            assert not short or short.split("-")[0] in QUICK, (
                f"README's test-command paragraph does not name {pkg}, which .ci/system-deps.sh installs"
            )
