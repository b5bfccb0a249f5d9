"""Install the kernel and every plugin under plugins/ (editable) into the current environment.

The examples/ distributions are not installed here: their tests install them, as a user would.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

root = Path(__file__).resolve().parent.parent
paths = [root, *sorted(p for p in (root / "plugins").iterdir() if (p / "pyproject.toml").exists())]
args = [sys.executable, "-m", "pip", "install", "--quiet"]
for p in paths:
    args += ["-e", str(p)]
subprocess.run(args, check=True)
print("installed:", ", ".join(p.name for p in paths))
