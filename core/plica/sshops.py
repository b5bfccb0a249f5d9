"""SSH certificate operations: /ssh/sign, /ssh/renew, /ssh/rekey, /ssh/revoke, /ssh/check-host."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import secrets
import struct
import time
from typing import TYPE_CHECKING, Any, Literal

from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import (
    SSHCertificate,
    SSHCertificateBuilder,
    SSHCertificateType,
)

from plica.durations import format_duration, resolve_time_duration
from plica.errors import BadRequest, Forbidden, InternalError, NotImplementedYet, Unauthorized
from plica.storage import AlreadyRevoked, TokenReused
from plica.types import Provisioner, SSHAuthorization, SSHRenewRequest, SSHRevokeRequest, SSHSignRequest

if TYPE_CHECKING:
    from plica.authority import Authority

USER_EXTENSIONS = {
    "permit-X11-forwarding": "",
    "permit-agent-forwarding": "",
    "permit-port-forwarding": "",
    "permit-pty": "",
    "permit-user-rc": "",
}


def parse_ssh_public_key(b64: Any, what: str = "publicKey") -> tuple[Any, bytes]:
    if not isinstance(b64, str) or not b64:
        raise BadRequest(f"missing {what}")
    try:
        blob = base64.b64decode(b64, validate=True)
        (n,) = struct.unpack(">I", blob[:4])
        kind = blob[4 : 4 + n]
        key = serialization.load_ssh_public_key(kind + b" " + base64.b64encode(blob))
    except (binascii.Error, ValueError, struct.error, UnsupportedAlgorithm) as e:
        raise BadRequest(
            f"{what} is not a valid SSH public key (base64 of the SSH wire encoding): {e}"
        ) from None
    return key, blob


def parse_ssh_certificate(b64: str | bytes) -> SSHCertificate:
    """An SSH certificate from the base64 of its wire encoding (as tokens and responses carry it)."""
    try:
        blob = base64.b64decode(b64, validate=True)
        (n,) = struct.unpack(">I", blob[:4])
        kind = blob[4 : 4 + n]
        return serialization.load_ssh_public_identity(kind + b" " + base64.b64encode(blob))  # type: ignore[return-value]
    except (binascii.Error, ValueError, struct.error, UnsupportedAlgorithm) as e:
        raise Unauthorized(f"not a valid SSH certificate: {e}") from None


def check_ssh_public_key(key: Any) -> None:
    """step's sshDefaultPublicKeyValidator: RSA keys of at least 2048 bits (403), no DSA (400)."""
    if isinstance(key, rsa.RSAPublicKey) and key.key_size < 2048:
        raise Forbidden(f"ssh certificate key must be at least 2048 bits (RSA key of {key.key_size} bits)")
    if not isinstance(key, rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey):
        raise BadRequest(f"ssh certificate key algorithm ({type(key).__name__}) is not supported")


def cert_wire_b64(cert: SSHCertificate) -> str:
    """step sends certificates as standard base64 of the wire encoding (not authorized_keys text)."""
    return cert.public_bytes().split(b" ")[1].decode("ascii")


def _opt_str(body: dict[str, Any], key: str) -> str:
    v = body.get(key, "")
    if v is None:
        return ""
    if not isinstance(v, str):
        raise BadRequest(f"{key} must be a string")
    return v


async def ssh_sign(a: Authority, body: dict[str, Any]) -> dict[str, Any]:
    key, blob = parse_ssh_public_key(body.get("publicKey"))
    # Checked before anything is signed or stored, so a bad second key cannot leave the first cert behind.
    add_user = body.get("addUserPublicKey")
    add_key = parse_ssh_public_key(add_user, "addUserPublicKey")[0] if add_user else None
    if add_key is not None:
        check_ssh_public_key(add_key)
    if not body.get("ott"):
        raise BadRequest("missing ott")
    cert_type_raw = _opt_str(body, "certType")
    if cert_type_raw not in ("", "user", "host"):
        raise BadRequest(f"certType {cert_type_raw!r} is not valid (expected 'user' or 'host')")
    principals = body.get("principals") or []
    if not isinstance(principals, list) or not all(isinstance(p, str) for p in principals):
        raise BadRequest("principals must be a list of strings")
    now = a.now()
    try:
        va = resolve_time_duration(_opt_str(body, "validAfter"), now=now)
        vb = resolve_time_duration(_opt_str(body, "validBefore"), now=now, base=va or now)
    except ValueError as e:
        raise BadRequest(str(e)) from None
    tdata = body.get("templateData")
    if tdata is not None and not isinstance(tdata, dict):
        raise BadRequest("templateData must be a JSON object")
    token, prov = a.parse_token(body.get("ott"))
    # The kernel picks the user or host hook: the request's certType, else the token's step.ssh.certType.
    cert_type = cert_type_raw
    if not cert_type:
        step = token.claims.get("step")
        ssh_opts = step.get("ssh") if isinstance(step, dict) else None
        ct = ssh_opts.get("certType") if isinstance(ssh_opts, dict) else None
        cert_type = ct if ct in ("user", "host") else "user"
    request = SSHSignRequest(
        public_key=key,
        public_key_blob=blob,
        cert_type=cert_type,  # type: ignore[arg-type]
        key_id=_opt_str(body, "keyID"),
        principals=list(principals),
        valid_after=va,
        valid_before=vb,
        template_data=tdata,
        raw_valid_after=_opt_str(body, "validAfter"),
        raw_valid_before=_opt_str(body, "validBefore"),
    )
    capability = "ssh-user-cert-sign" if cert_type == "user" else "ssh-host-cert-sign"
    hook = a.hook(prov, capability)
    if not prov.claims.enable_ssh_ca:
        raise Unauthorized(f"ssh is not enabled for provisioner {prov.name!r} (claim enableSSHCA)")
    ca_key = a.material.ssh_user_key if cert_type == "user" else a.material.ssh_host_key
    if ca_key is None:
        raise NotImplementedYet(f"this CA has no SSH {cert_type} CA key (ca.json ssh.{cert_type}Key)")
    auth: SSHAuthorization = hook(provisioner=prov, token=token, request=request, authority=a)
    if auth.use_request_values and not cert_type_raw:
        # The request alone names the certificate (K8sSA): it must say which kind, not fall back to user.
        raise BadRequest("this provisioner needs the request to name certType, keyID and principals")
    cert = await _sign_authorized(a, prov, auth, request, ca_key, now)
    out: dict[str, Any] = {"crt": cert_wire_b64(cert)}
    if add_key is not None and cert_type == "user":
        out["addUserCrt"] = cert_wire_b64(await _add_user_cert(a, prov, cert, add_key))
    return out


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
    now: dt.datetime,
    bound_after: dt.datetime | None = None,
) -> tuple[dt.datetime, dt.datetime]:
    d = prov.claims.user_ssh if cert_type == "user" else prov.claims.host_ssh
    backdate = a.snapshot.backdate
    start = va or now
    if va is None:
        va = now - backdate
    if vb is None:
        vb = start + d.default
        if bound_after is not None and vb > bound_after:
            vb = bound_after
    if vb < now:
        raise BadRequest("validBefore cannot be in the past")
    if vb < va:
        raise BadRequest("validBefore cannot be before validAfter")
    dur = vb - va
    if dur < d.min:
        raise Forbidden(
            f"requested duration of {format_duration(dur)} is less than the authorized minimum of "
            f"{format_duration(d.min)}"
        )
    if dur > d.max + backdate:
        raise Forbidden(
            f"requested duration of {format_duration(dur)} is more than the authorized maximum of "
            f"{format_duration(d.max)}"
        )
    if bound_after is not None and vb > bound_after:
        raise Forbidden("requested validBefore is after the authorizing credential's expiry")
    return va, vb


async def _sign_authorized(
    a: Authority,
    prov: Provisioner,
    auth: SSHAuthorization,
    req: SSHSignRequest,
    ca_key: Any,
    now: dt.datetime,
) -> SSHCertificate:
    key_id, principals = _match_request(auth, req)
    cert_type = auth.cert_type or req.cert_type
    va, vb = _validity(
        a,
        prov,
        cert_type,
        req.valid_after or auth.valid_after,
        req.valid_before or auth.valid_before,
        now,
        bound_after=auth.not_after,
    )
    extensions = dict(USER_EXTENSIONS) if cert_type == "user" else {}
    if auth.extensions is not None:
        extensions = {**extensions, **auth.extensions}
    critical = dict(auth.critical_options or {})
    if prov.ssh_template is not None:
        key_id, principals, extensions, critical, cert_type = _render_ssh_template(
            a, prov, auth, req, key_id, principals, extensions, critical, cert_type
        )
        ca_key = a.material.ssh_user_key if cert_type == "user" else a.material.ssh_host_key
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
    ca_key: Any,
    token_id: str | None,
) -> SSHCertificate:
    check_ssh_public_key(public_key)
    b = (
        SSHCertificateBuilder()
        .public_key(public_key)
        .serial(secrets.randbits(64))
        .type(SSHCertificateType.USER if cert_type == "user" else SSHCertificateType.HOST)
        .key_id(key_id.encode())
        .valid_after(int(va.timestamp()))
        .valid_before(int(vb.timestamp()))
    )
    b = b.valid_principals([p.encode() for p in principals]) if principals else b.valid_for_all_principals()
    for name in sorted(critical):
        b = b.add_critical_option(name.encode(), critical[name].encode())
    for name in sorted(extensions):
        b = b.add_extension(name.encode(), extensions[name].encode())
    try:
        cert = b.sign(ca_key)
    except ValueError as e:
        raise BadRequest(f"cannot build the SSH certificate: {e}") from None
    try:
        await a.storage.store_ssh(
            serial=str(cert.serial),
            cert=cert.public_bytes(),
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


async def _add_user_cert(a: Authority, prov: Provisioner, cert: SSHCertificate, key: Any) -> SSHCertificate:
    cfg = a.config.ssh
    principal = cfg.add_user_principal if cfg else "provisioner"
    command = cfg.add_user_command if cfg else "sudo useradd -m <principal>; nc -q0 localhost 22"
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
        a.material.ssh_user_key,
        None,
    )


def _render_ssh_template(
    a: Authority,
    prov: Provisioner,
    auth: SSHAuthorization,
    req: SSHSignRequest,
    key_id: str,
    principals: list[str],
    extensions: dict[str, str],
    critical: dict[str, str],
    cert_type: str,
) -> tuple[str, list[str], dict[str, str], dict[str, str], str]:
    from plica.certdesc.data import ssh_data
    from plica.certdesc.render import render_ssh

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
    desc = a._render(prov, lambda: render_ssh(prov.ssh_template or "", data, name=f"{prov.name} ssh"))
    # As step: the template decides everything; a description without a type is the template's error,
    # and no principals means "valid for any principal".
    if desc.type not in ("user", "host"):
        raise InternalError(
            f"error applying the ssh template of provisioner {prov.name!r}: ssh certificate type has not been set"
            if not desc.type
            else f"error applying the ssh template of provisioner {prov.name!r}: invalid type {desc.type!r}"
        )
    return desc.key_id, list(desc.principals), dict(desc.extensions), dict(desc.critical_options), desc.type


async def ssh_revoke(a: Authority, body: dict[str, Any]) -> None:
    serial = body.get("serial")
    if not isinstance(serial, str) or not serial:
        raise BadRequest("missing serial")
    if not body.get("ott"):
        raise BadRequest("missing ott")
    reason_code = body.get("reasonCode", 0)
    if not isinstance(reason_code, int) or isinstance(reason_code, bool) or not 0 <= reason_code <= 10:
        raise BadRequest("reasonCode out of bounds (expected 0 to 10)")
    reason = body.get("reason") or ""
    if not isinstance(reason, str):
        raise BadRequest("reason must be a string")
    if body.get("passive", False) is not True:
        raise NotImplementedYet('non-passive revocation is not implemented: send "passive": true')
    token, prov = a.parse_token(body.get("ott"))
    req = SSHRevokeRequest(serial=serial, reason_code=reason_code, reason=reason, passive=True)
    auth = a.hook(prov, "ssh-revoke")(provisioner=prov, token=token, request=req, authority=a)
    if token.subject != serial:
        raise Forbidden(f"token subject {token.subject!r} does not match the serial number to revoke")
    try:
        await a.storage.revoke_ssh(
            serial,
            provisioner_id=prov.id,
            reason_code=reason_code,
            reason=reason,
            token_id=auth.token_id,
            now=int(time.time()),
        )
    except AlreadyRevoked:
        raise BadRequest(f"certificate with serial number '{serial}' is already revoked") from None
    except TokenReused:
        raise Unauthorized("token already used") from None


async def ssh_renew_or_rekey(a: Authority, body: dict[str, Any], *, rekey: bool) -> dict[str, Any]:
    if not body.get("ott"):
        raise BadRequest("missing ott")
    request = SSHRenewRequest()
    if rekey:
        key, blob = parse_ssh_public_key(body.get("publicKey"))
        request = SSHRenewRequest(public_key=key, public_key_blob=blob)
    token, prov = a.parse_token(body.get("ott"))
    capability = "ssh-rekey" if rekey else "ssh-host-cert-renew"
    auth = a.hook(prov, capability)(provisioner=prov, token=token, request=request, authority=a)
    old: SSHCertificate = auth.certificate
    if old.type != SSHCertificateType.HOST:
        raise BadRequest("only host certificates can be renewed or rekeyed")
    if await a.storage.is_ssh_revoked(str(old.serial)):
        raise Unauthorized(f"ssh certificate with serial {old.serial} has been revoked")
    ca_key = a.material.ssh_host_key
    if ca_key is None:
        raise NotImplementedYet("this CA has no SSH host CA key")
    now = a.now()
    lifetime = dt.timedelta(seconds=old.valid_before - old.valid_after)
    va = now - a.snapshot.backdate
    vb = va + lifetime
    cert = await sign_and_store(
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
    return {"crt": cert_wire_b64(cert)}


async def check_host(a: Authority, body: dict[str, Any]) -> dict[str, Any]:
    typ = body.get("type")
    if typ != "host":
        raise BadRequest(f"unsupported type {typ!r}: only 'host' can be checked")
    principal = body.get("principal")
    if not isinstance(principal, str) or not principal:
        raise BadRequest("missing principal")
    return {"exists": await a.storage.ssh_host_exists(principal, int(time.time()))}


def ssh_roots(a: Authority, kind: Literal["roots", "federation"]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for name, key in (("userKey", a.material.ssh_user_key), ("hostKey", a.material.ssh_host_key)):
        if key is not None:
            pub = key.public_key().public_bytes(
                serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
            )
            out[name] = [pub.split(b" ")[1].decode()]
    if not out:
        from plica.errors import NotFound

        raise NotFound("no keys found")
    return out
