"""Revoking an SSH certificate (/ssh/revoke, passive only) with a one-time token whose subject is the
serial, authorized by the token's provisioner."""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

from plica.errors import BadRequest, Forbidden, Unauthorized
from plica.storage import AlreadyRevoked, TokenReused
from plica.types import SSHRevokeRequest

if TYPE_CHECKING:
    from plica.authority import Authority


async def ssh_revoke(a: Authority, ott: str, request: SSHRevokeRequest) -> None:
    token, prov = a.parse_token(ott)
    auth = a.hook(prov, "ssh-revoke")(provisioner=prov, token=token, request=request, authority=a)
    serial = request.serial
    if not auth.any_serial and token.subject != serial:
        raise Forbidden(f"token subject {token.subject!r} does not match the serial number to revoke")
    try:
        await a.storage.revoke_ssh(
            serial,
            provisioner_id=prov.id,
            reason_code=request.reason_code,
            reason=request.reason,
            token_id=auth.token_id,
            now=int(time.time()),
        )
    except AlreadyRevoked:
        raise BadRequest(f"certificate with serial number '{serial}' is already revoked") from None
    except TokenReused:
        raise Unauthorized("token already used") from None
