"""What the SSH CA tells anyone who asks: its CA public keys (/ssh/roots, /ssh/federation) and whether a
host holds a valid certificate (/ssh/check-host)."""

from __future__ import annotations

import time
from typing import Any

from cryptography.hazmat.primitives import serialization

from plica.errors import NotFound
from plica.pki import CAMaterial
from plica.storage import Storage


def ssh_root_keys(material: CAMaterial) -> dict[str, Any]:
    """`{"userKey": [...], "hostKey": [...]}`: each CA key present as the base64 of its wire encoding."""
    out: dict[str, Any] = {}
    for name, key in (("userKey", material.ssh_user_key), ("hostKey", material.ssh_host_key)):
        if key is not None:
            pub = key.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            out[name] = [pub.split(b" ")[1].decode()]
    if not out:
        raise NotFound("no keys found")
    return out


async def ssh_host_exists(storage: Storage, principal: str) -> bool:
    """Does an unrevoked, unexpired host certificate name `principal`?"""
    return await storage.ssh_host_exists(principal, int(time.time()))
