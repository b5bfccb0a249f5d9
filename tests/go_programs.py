"""Building the Go test programs (tests/gostep, tests/goadmin) offline against the Debian-packaged Go
libraries of step-ca."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

GOCODE = Path("/usr/share/gocode")
STEP_CA_LIB = GOCODE / "src/github.com/smallstep/certificates/ca"
# One build cache for every program and run: each build compiles step-ca's whole dependency tree (~30 s
# of CPU) otherwise. Go's cache is safe for concurrent builds (the suite runs under pytest-xdist).
GOCACHE = Path(tempfile.gettempdir()) / f"plica-tests-gocache-{os.getuid()}"


def go_build(src: Path, tmp: Path) -> Path:
    """The program in `src` built into `tmp`, in GOPATH mode with no network."""
    go = shutil.which("go")
    if go is None or not STEP_CA_LIB.is_dir():
        pytest.fail(
            "the Go toolchain or step-ca's Go client library is missing (Debian packages golang-go, "
            "golang-github-smallstep-certificates-dev): run .ci/system-deps.sh",
            pytrace=False,
        )
    out = tmp / src.name
    env = {
        **os.environ, "GO111MODULE": "off", "GOPATH": f"{tmp / 'gopath'}:{GOCODE}", "GOFLAGS": "",
        "GOPROXY": "off", "GOCACHE": str(GOCACHE), "CGO_ENABLED": "0",
    }  # fmt: skip
    r = subprocess.run([go, "build", "-o", str(out), "."], cwd=src, env=env, capture_output=True, text=True,
                       timeout=900)  # fmt: skip
    assert r.returncode == 0, f"go build failed:\n{r.stdout}\n{r.stderr}"
    return out
