"""`plica provisioner add NAME --type SSHPOP`: the block needs nothing beyond its name (the keys that sign
the certificates it accepts are the CA's own SSH keys)."""

from __future__ import annotations

from typing import Any

from plica.api import hookimpl


@hookimpl
def provisioner_block_from_cli(
    provisioner_type: str, name: str, options: dict[str, Any], existing: dict[str, Any] | None
) -> dict[str, Any] | None:
    return dict(existing or {"type": "SSHPOP", "name": name})
