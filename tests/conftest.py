"""Kernel test suite: shared helpers live in tests/helpers (put on sys.path here, because pytest runs with
--import-mode=importlib and test modules cannot import their neighbours)."""

from __future__ import annotations

import sys
from pathlib import Path

HELPERS = str(Path(__file__).resolve().parent / "helpers")
if HELPERS not in sys.path:
    sys.path.insert(0, HELPERS)
