"""Renewing and rekeying SSH host certificates (/ssh/renew, /ssh/rekey): the token's provisioner names the
certificate (SSHPOP proves possession of it); the new one keeps its key id, principals, options and
lifetime, starts now (backdated), and for a rekey certifies the request's new key."""

from __future__ import annotations

import datetime as dt
from typing import TYPE_CHECKING

from cryptography.hazmat.primitives.serialization import SSHCertificate, SSHCertificateType

from plica.errors import BadRequest, NotImplementedYet, Unauthorized
from plica.ssh.certsign import SignedSSHCert
from plica.ssh.sign import sign_and_store
from plica.types import SSHRenewRequest

if TYPE_CHECKING:
    from plica.authority import Authority


async def ssh_renew(a: Authority, ott: str, request: SSHRenewRequest, *, rekey: bool) -> SignedSSHCert:
    """The renewed host certificate; with `rekey`, for `request.public_key`."""
    token, prov = a.parse_token(ott)
    capability = "ssh-rekey" if rekey else "ssh-host-cert-renew"
    auth = a.hook(prov, capability)(provisioner=prov, token=token, request=request, authority=a)
    old: SSHCertificate = auth.certificate
    if old.type != SSHCertificateType.HOST:
        raise BadRequest("only host certificates can be renewed or rekeyed")
    if await a.storage.is_ssh_revoked(str(old.serial)):
        raise Unauthorized(f"ssh certificate with serial {old.serial} has been revoked")
    ca_key = a.material.ssh_host_signer
    if ca_key is None:
        raise NotImplementedYet("this CA has no SSH host CA key")
    lifetime = dt.timedelta(seconds=old.valid_before - old.valid_after)
    va = a.now() - a.snapshot.backdate
    vb = va + lifetime
    return await sign_and_store(
        a,
        prov,
        request.public_key if rekey else old.public_key(),
        "host",
        old.key_id.decode(),
        [p.decode() for p in old.valid_principals],
        va,
        vb,
        {k.decode(): v.decode() for k, v in old.extensions.items()},
        {k.decode(): v.decode() for k, v in old.critical_options.items()},
        ca_key,
        auth.token_id,
    )
