"""Request bodies of step's API, decoded and checked into the typed requests the authority takes (as
smallstep's api/sign.go, api/revoke.go and api/ssh*.go read theirs): a body that is not what the endpoint
expects is refused here with a 400 that names the field, before any token is looked at."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

import orjson
from aiohttp import web
from attrs import frozen
from cryptography import x509

from plica.csr import parse_csr_pem_with_key
from plica.durations import resolve_time_duration
from plica.errors import BadRequest, NotImplementedYet
from plica.ssh.wire import check_ssh_public_key, parse_ssh_public_key
from plica.stages import next_step
from plica.tokens import has_nul
from plica.types import RevokeRequest, SignRequest, SSHRenewRequest, SSHRevokeRequest, SSHSignRequest
from plica.x509.revoke import parse_serial

# The request models: each body's fields and the kind of value each holds. `checked` enforces the JSON
# type of every field present (the decoders below then read only well-typed values), and the fuzz suite
# (tests/fuzz) derives its requests from this same table.
Kind = Literal["token", "csr", "time", "serial", "int", "bool", "str", "strlist", "object", "sshkey"]
BODIES: dict[str, dict[str, Kind]] = {
    "/sign": {
        "ott": "token",
        "csr": "csr",
        "notBefore": "time",
        "notAfter": "time",
        "templateData": "object",
    },
    "/rekey": {"csr": "csr"},
    "/revoke": {"serial": "serial", "ott": "token", "reasonCode": "int", "reason": "str", "passive": "bool"},
    "/ssh/sign": {
        "ott": "token",
        "publicKey": "sshkey",
        "addUserPublicKey": "sshkey",
        "certType": "str",
        "keyID": "str",
        "principals": "strlist",
        "validAfter": "time",
        "validBefore": "time",
        "templateData": "object",
    },
    "/ssh/renew": {"ott": "token"},
    "/ssh/rekey": {"ott": "token", "publicKey": "sshkey"},
    "/ssh/revoke": {
        "ott": "token",
        "serial": "serial",
        "reasonCode": "int",
        "reason": "str",
        "passive": "bool",
    },
    "/ssh/check-host": {"type": "str", "principal": "str"},
}
_JSON_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "bool": (bool,),
    "strlist": (list,),
    "object": (dict,),
}
_TYPE_NAMES = {
    "int": "an integer",
    "bool": "true or false",
    "strlist": "a list of strings",
    "object": "a JSON object",
}
# Longer than any CSR, token or key a client sends; a longer string is refused before it is parsed.
MAX_FIELD = 64 * 1024


def checked(body: dict[str, Any], route: str) -> dict[str, Any]:
    """`body` when every field of BODIES[route] it has holds its kind's JSON type (null counts as absent)
    and no string anywhere in it holds a NUL; BadRequest naming the field otherwise."""
    for name, kind in BODIES[route].items():
        v = body.get(name)
        if v is None:
            continue
        types = _JSON_TYPES.get(kind, (str,))
        if not isinstance(v, types) or (kind == "int" and isinstance(v, bool)):
            raise BadRequest(f"{name} must be {_TYPE_NAMES.get(kind, 'a string')}")
        if kind == "strlist" and not all(isinstance(x, str) for x in v):
            raise BadRequest(f"{name} must be a list of strings")
        if isinstance(v, str) and len(v) > MAX_FIELD:
            raise BadRequest(f"{name} is longer than {MAX_FIELD} characters")
    if has_nul(body):
        raise BadRequest("request body must not contain NUL characters")
    return body


async def read_json(request: web.Request) -> dict[str, Any]:
    """The body as a JSON object; BadRequest when it is empty, not JSON or not an object. Decoding is a
    step of its own (plica.stages): the requests of a turn decode their bodies, then check them."""
    raw = await request.read()
    if not raw:
        raise BadRequest("request body is empty: expected a JSON object")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise BadRequest("request body is not valid JSON") from None
    if not isinstance(body, dict):
        raise BadRequest("request body must be a JSON object")
    await next_step()
    return body


@frozen
class SSHSign:
    """A decoded /ssh/sign body. `request.cert_type` is "user" when the body names no certType
    (`cert_type_named` False): the authority then takes the token's."""

    ott: str
    request: SSHSignRequest
    cert_type_named: bool
    add_user_key: Any = None


def sign_request(body: dict[str, Any]) -> tuple[str, SignRequest]:
    """/sign: the one-time token and the request (CSR checked, times resolved)."""
    body = checked(body, "/sign")
    csr, csr_der, public_key = _csr(body)
    ott = _ott(body)
    now = dt.datetime.now(dt.UTC)
    try:
        nb = resolve_time_duration(_str_or_none(body.get("notBefore"), "notBefore"), now=now)
        na = resolve_time_duration(_str_or_none(body.get("notAfter"), "notAfter"), now=now, base=nb or now)
    except ValueError as e:
        raise BadRequest(str(e)) from None
    request = SignRequest(
        csr=csr,
        csr_der=csr_der,
        not_before=nb,
        not_after=na,
        template_data=_template_data(body),
        raw_not_after=body.get("notAfter"),
        public_key=public_key,
    )
    return ott, request


def rekey_csr(body: dict[str, Any]) -> x509.CertificateSigningRequest:
    """/rekey: the CSR holding the new key."""
    return _csr(checked(body, "/rekey"))[0]


def revoke_request(body: dict[str, Any]) -> tuple[str | None, RevokeRequest]:
    """/revoke: the one-time token (None: the client certificate authorizes it) and the request."""
    body = checked(body, "/revoke")
    serial_raw = body.get("serial")
    if not isinstance(serial_raw, str) or not serial_raw:
        raise BadRequest("missing serial")
    serial = parse_serial(serial_raw)
    reason_code, reason = _revocation(
        body, "reasonCode out of bounds (expected an RFC 5280 CRLReason from 0 to 10)"
    )
    ott = _ott(body) if body.get("ott") else None
    return ott, RevokeRequest(serial=serial, reason_code=reason_code, reason=reason, passive=True)


def ssh_sign_request(body: dict[str, Any]) -> SSHSign:
    """/ssh/sign (and /sign-ssh)."""
    body = checked(body, "/ssh/sign")
    key, blob = parse_ssh_public_key(body.get("publicKey"))
    # Checked before anything is signed or stored, so a bad second key cannot leave the first cert behind.
    add_user = body.get("addUserPublicKey")
    add_key = parse_ssh_public_key(add_user, "addUserPublicKey")[0] if add_user else None
    if add_key is not None:
        check_ssh_public_key(add_key)
    ott = _ott(body)
    cert_type = _opt_str(body, "certType")
    if cert_type not in ("", "user", "host"):
        raise BadRequest(f"certType {cert_type!r} is not valid (expected 'user' or 'host')")
    principals = body.get("principals") or []
    if not isinstance(principals, list) or not all(isinstance(p, str) for p in principals):
        raise BadRequest("principals must be a list of strings")
    now = dt.datetime.now(dt.UTC)
    raw_after, raw_before = _opt_str(body, "validAfter"), _opt_str(body, "validBefore")
    try:
        va = resolve_time_duration(raw_after, now=now)
        vb = resolve_time_duration(raw_before, now=now, base=va or now)
    except ValueError as e:
        raise BadRequest(str(e)) from None
    request = SSHSignRequest(
        public_key=key,
        public_key_blob=blob,
        cert_type="host" if cert_type == "host" else "user",
        key_id=_opt_str(body, "keyID"),
        principals=list(principals),
        valid_after=va,
        valid_before=vb,
        template_data=_template_data(body),
        raw_valid_after=raw_after,
        raw_valid_before=raw_before,
    )
    return SSHSign(ott=ott, request=request, cert_type_named=bool(cert_type), add_user_key=add_key)


def ssh_renew_request(body: dict[str, Any], *, rekey: bool) -> tuple[str, SSHRenewRequest]:
    """/ssh/renew, and with `rekey` /ssh/rekey (which carries the new key)."""
    body = checked(body, "/ssh/rekey" if rekey else "/ssh/renew")
    ott = _ott(body)
    if not rekey:
        return ott, SSHRenewRequest()
    key, blob = parse_ssh_public_key(body.get("publicKey"))
    return ott, SSHRenewRequest(public_key=key, public_key_blob=blob)


def ssh_revoke_request(body: dict[str, Any]) -> tuple[str, SSHRevokeRequest]:
    """/ssh/revoke."""
    body = checked(body, "/ssh/revoke")
    serial = body.get("serial")
    if not isinstance(serial, str) or not serial:
        raise BadRequest("missing serial")
    ott = _ott(body)
    reason_code, reason = _revocation(body, "reasonCode out of bounds (expected 0 to 10)")
    return ott, SSHRevokeRequest(serial=serial, reason_code=reason_code, reason=reason, passive=True)


def check_host_principal(body: dict[str, Any]) -> str:
    """/ssh/check-host: the host principal to look up."""
    body = checked(body, "/ssh/check-host")
    typ = body.get("type")
    if typ != "host":
        raise BadRequest(f"unsupported type {typ!r}: only 'host' can be checked")
    principal = body.get("principal")
    if not isinstance(principal, str) or not principal:
        raise BadRequest("missing principal")
    return principal


def _ott(body: dict[str, Any]) -> str:
    ott = body.get("ott")
    if not isinstance(ott, str) or not ott:
        raise BadRequest("missing ott")
    return ott


def _csr(body: dict[str, Any]) -> tuple[x509.CertificateSigningRequest, bytes, Any]:
    csr_pem = body.get("csr")
    if not csr_pem or not isinstance(csr_pem, str):
        raise BadRequest("missing csr")
    return parse_csr_pem_with_key(csr_pem)


def _revocation(body: dict[str, Any], out_of_bounds: str) -> tuple[int, str]:
    """reasonCode and reason of a passive revocation (the only kind there is: step's non-passive
    revocation is not implemented either)."""
    reason_code = body.get("reasonCode", 0)
    if not isinstance(reason_code, int) or isinstance(reason_code, bool) or not 0 <= reason_code <= 10:
        raise BadRequest(out_of_bounds)
    reason = body.get("reason") or ""
    if not isinstance(reason, str):
        raise BadRequest("reason must be a string")
    if body.get("passive", False) is not True:
        raise NotImplementedYet('non-passive revocation is not implemented: send "passive": true')
    return reason_code, reason


def _template_data(body: dict[str, Any]) -> dict[str, Any] | None:
    tdata = body.get("templateData")
    if tdata is not None and not isinstance(tdata, dict):
        raise BadRequest("templateData must be a JSON object")
    return tdata


def _str_or_none(v: Any, name: str) -> str | None:
    if v is None or isinstance(v, str):
        return v
    raise BadRequest(f"{name} must be a string (an RFC 3339 time or a duration such as '24h')")


def _opt_str(body: dict[str, Any], key: str) -> str:
    v = body.get(key, "")
    if v is None:
        return ""
    if not isinstance(v, str):
        raise BadRequest(f"{key} must be a string")
    return v
