"""The one exception the Nebula certificate library raises for input it refuses."""

from __future__ import annotations


class NebulaCertificateError(Exception):
    """A Nebula certificate or key could not be parsed or did not verify; ``str()`` is the reason."""
