"""Signing SSH certificates: /ssh/sign (and the addUserPublicKey certificate beside a user certificate), and
the signing and storing every SSH operation ends with."""

from __future__ import annotations

import datetime as dt
import os
import time
from typing import TYPE_CHECKING, Any, Literal

import attrs

from plica.certdesc.data import ssh_data
from plica.certdesc.render import render_ssh
from plica.errors import BadRequest, Forbidden, InternalError, NotImplementedYet, Unauthorized
from plica.kms import Signer
from plica.rendering import render_step
from plica.ssh import certsign
from plica.ssh.certsign import SignedSSHCert
from plica.ssh.wire import check_ssh_public_key
from plica.stages import next_step
from plica.storage import TokenReused
from plica.tokens import Token
from plica.types import Provisioner, SSHAuthorization, SSHSignRequest

if TYPE_CHECKING:
    from plica.authority import Authority

USER_EXTENSIONS = {
    "permit-X11-forwarding": "",
    "permit-agent-forwarding": "",
    "permit-port-forwarding": "",
    "permit-pty": "",
    "permit-user-rc": "",
}


def token_cert_type(token: Token) -> Literal["user", "host"]:
    """The certificate type a token's `step.ssh.certType` names; user when it names none."""
    step = token.claims.get("step")
    ssh_opts = step.get("ssh") if isinstance(step, dict) else None
    ct = ssh_opts.get("certType") if isinstance(ssh_opts, dict) else None
    return "host" if ct == "host" else "user"


async def ssh_sign(
    a: Authority,
    ott: str,
    request: SSHSignRequest,
    *,
    cert_type_named: bool,
    add_user_key: Any = None,
) -> tuple[SignedSSHCert, SignedSSHCert | None]:
    """/ssh/sign: the certificate, and with `add_user_key` beside a user certificate the one that lets
    that key add the user (step's addUserPublicKey). `cert_type_named` says whether the request named
    its certType; when it did not, the token's `step.ssh.certType` decides (user by default)."""
    token, prov = a.parse_token(ott)
    # The kernel picks the user or host hook: the request's certType, else the token's step.ssh.certType.
    if not cert_type_named:
        request = attrs.evolve(request, cert_type=token_cert_type(token))
    cert_type = request.cert_type
    capability = "ssh-user-cert-sign" if cert_type == "user" else "ssh-host-cert-sign"
    hook = a.hook(prov, capability)
    if not prov.claims.enable_ssh_ca:
        raise Unauthorized(f"ssh is not enabled for provisioner {prov.name!r} (claim enableSSHCA)")
    ca_key = a.material.ssh_user_signer if cert_type == "user" else a.material.ssh_host_signer
    if ca_key is None:
        raise NotImplementedYet(f"this CA has no SSH {cert_type} CA key (ca.json ssh.{cert_type}Key)")
    auth: SSHAuthorization = hook(provisioner=prov, token=token, request=request, authority=a)
    if auth.use_request_values and not cert_type_named:
        # The request alone names the certificate (K8sSA): it must say which kind, not fall back to user.
        raise BadRequest("this provisioner needs the request to name certType, keyID and principals")
    await next_step()
    cert = await _sign_authorized(a, prov, auth, request, ca_key)
    added = None
    if add_user_key is not None and cert_type == "user":
        added = await _add_user_cert(a, prov, cert, add_user_key)
    return cert, added


def _match_request(auth: SSHAuthorization, req: SSHSignRequest) -> tuple[str, list[str]]:
    """step's rule: compare a field only when both token and request set it; principals ⊆ token's."""
    if auth.use_request_values:
        if not req.key_id or not req.principals:
            raise BadRequest("this provisioner needs the request to name keyID and principals")
        return req.key_id, req.principals
    if req.cert_type and auth.cert_type and req.cert_type != auth.cert_type:
        raise Forbidden(f"requested certType {req.cert_type!r} does not match the token's {auth.cert_type!r}")
    if req.key_id and auth.key_id and req.key_id != auth.key_id:
        raise Forbidden(f"requested keyID {req.key_id!r} does not match the token's {auth.key_id!r}")
    if req.principals and auth.principals:
        extra = [p for p in req.principals if p not in auth.principals]
        if extra:
            raise Forbidden(f"requested principals {extra!r} are not allowed by the token")
    if req.valid_after and auth.valid_after and req.valid_after != auth.valid_after:
        raise Forbidden("requested validAfter does not match the token's")
    if req.valid_before and auth.valid_before and req.valid_before != auth.valid_before:
        raise Forbidden("requested validBefore does not match the token's")
    return auth.key_id or req.key_id, auth.principals or req.principals


def _validity(
    a: Authority,
    prov: Provisioner,
    cert_type: str,
    va: dt.datetime | None,
    vb: dt.datetime | None,
    bound_after: dt.datetime | None = None,
) -> tuple[dt.datetime, dt.datetime]:
    """validAfter/validBefore: the requested (or token's) values, else now (backdated) and the default
    duration of the type's claims; within those claims and the authorizing credential's expiry."""
    d = prov.claims.user_ssh if cert_type == "user" else prov.claims.host_ssh
    va, vb = d.window(
        va,
        vb,
        now=a.now(),
        backdate=a.snapshot.backdate,
        cap=bound_after,
        names=("validAfter", "validBefore"),
    )
    if bound_after is not None and vb > bound_after:
        raise Forbidden("requested validBefore is after the authorizing credential's expiry")
    return va, vb


async def _sign_authorized(
    a: Authority, prov: Provisioner, auth: SSHAuthorization, req: SSHSignRequest, ca_key: Signer
) -> SignedSSHCert:
    key_id, principals = _match_request(auth, req)
    cert_type: str = auth.cert_type or req.cert_type
    va, vb = _validity(
        a,
        prov,
        cert_type,
        req.valid_after or auth.valid_after,
        req.valid_before or auth.valid_before,
        bound_after=auth.not_after,
    )
    extensions = dict(USER_EXTENSIONS) if cert_type == "user" else {}
    if auth.extensions is not None:
        extensions = {**extensions, **auth.extensions}
    critical = dict(auth.critical_options or {})
    if prov.ssh_template is not None:
        key_id, principals, extensions, critical, cert_type = _render_ssh_template(
            prov, auth, req, key_id, principals, extensions, critical, cert_type
        )
        ca_key = a.material.ssh_user_signer if cert_type == "user" else a.material.ssh_host_signer
        if ca_key is None:
            raise NotImplementedYet(f"this CA has no SSH {cert_type} CA key")
    for pol in (a.snapshot.policy, prov.policy):
        if pol is not None:
            pol.check_ssh(cert_type, key_id, principals)
    return await sign_and_store(
        a,
        prov,
        req.public_key,
        cert_type,
        key_id,
        principals,
        va,
        vb,
        extensions,
        critical,
        ca_key,
        auth.token_id,
    )


async def sign_and_store(
    a: Authority,
    prov: Provisioner,
    public_key: Any,
    cert_type: str,
    key_id: str,
    principals: list[str],
    va: dt.datetime,
    vb: dt.datetime,
    extensions: dict[str, str],
    critical: dict[str, str],
    ca_key: Signer,
    token_id: str | None,
) -> SignedSSHCert:
    """Sign the certificate and store it with its one-time token in one write (a spent token is 401)."""
    check_ssh_public_key(public_key)
    after, before = int(va.timestamp()), int(vb.timestamp())
    if after < 0 or before < 0 or after > before:
        raise BadRequest("cannot build the SSH certificate: validAfter must be before validBefore")
    rand = os.urandom(40)  # the serial and the nonce from one system call
    serial = int.from_bytes(rand[:8], "big")
    try:
        body = certsign.tbs(
            public_key=public_key,
            ca_public_key=ca_key.public_key,
            serial=serial,
            cert_type=1 if cert_type == "user" else 2,
            key_id=key_id.encode(),
            principals=[p.encode() for p in principals],
            valid_after=after,
            valid_before=before,
            critical={k.encode(): v.encode() for k, v in critical.items()},
            extensions={k.encode(): v.encode() for k, v in extensions.items()},
            nonce=rand[8:],
        )
    except (ValueError, TypeError) as e:
        raise BadRequest(f"cannot build the SSH certificate: {e}") from None
    try:
        cert = await certsign.sign_ssh(
            ca_key, body, serial=serial, cert_type="user" if cert_type == "user" else "host"
        )
    except ValueError as e:
        raise BadRequest(f"cannot build the SSH certificate: {e}") from None
    try:
        await a.storage.store_ssh(
            serial=str(cert.serial),
            cert=cert.openssh(),
            cert_type=cert_type,
            key_id=key_id,
            principals=principals,
            provisioner_id=prov.id,
            provisioner_name=prov.name,
            provisioner_type=prov.type.name,
            valid_before=int(vb.timestamp()),
            token_id=token_id,
            now=int(time.time()),
        )
    except TokenReused:
        raise Unauthorized("token already used") from None
    return cert


async def _add_user_cert(a: Authority, prov: Provisioner, signed: SignedSSHCert, key: Any) -> SignedSSHCert:
    cfg = a.config.ssh
    principal = cfg.add_user_principal if cfg else "provisioner"
    command = cfg.add_user_command if cfg else "sudo useradd -m <principal>; nc -q0 localhost 22"
    cert = signed.cert
    first = cert.valid_principals[0].decode() if cert.valid_principals else ""
    command = command.replace("<principal>", first)
    va = dt.datetime.fromtimestamp(cert.valid_after, dt.UTC)
    vb = dt.datetime.fromtimestamp(cert.valid_before, dt.UTC)
    return await sign_and_store(
        a,
        prov,
        key,
        "user",
        f"{first}-{principal}",
        [principal],
        va,
        vb,
        {},
        {"force-command": command},
        a.material.ssh_user_signer,
        None,
    )


def _render_ssh_template(
    prov: Provisioner,
    auth: SSHAuthorization,
    req: SSHSignRequest,
    key_id: str,
    principals: list[str],
    extensions: dict[str, str],
    critical: dict[str, str],
    cert_type: str,
) -> tuple[str, list[str], dict[str, str], dict[str, str], str]:
    data = ssh_data(
        cert_type=cert_type,
        key_id=key_id,
        principals=principals,
        extensions=extensions,
        critical_options=critical or None,
        token=auth.token_claims,
        public_key=req.public_key,
        request_type=req.cert_type,
        request_key_id=req.key_id,
        request_principals=req.principals,
        provisioner_data={**(prov.ssh_template_data or {}), **auth.template_data},
        user=req.template_data,
        authorization_crt=auth.authorization_crt,
    )
    desc = render_step(prov, lambda: render_ssh(prov.ssh_template or "", data, name=f"{prov.name} ssh"))
    # As step: the template decides everything; a description without a type is the template's error,
    # and no principals means "valid for any principal".
    if desc.type not in ("user", "host"):
        raise InternalError(
            f"error applying the ssh template of provisioner {prov.name!r}: ssh certificate type has not been set"
            if not desc.type
            else f"error applying the ssh template of provisioner {prov.name!r}: invalid type {desc.type!r}"
        )
    return desc.key_id, list(desc.principals), dict(desc.extensions), dict(desc.critical_options), desc.type
