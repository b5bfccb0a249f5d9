"""How an admin request proves who sent it (docs/reference/wire.md §5b): the admin token, its certificate chain to this CA,
its claims, and the admin it belongs to."""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import time
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from attrs import frozen
from cryptography import x509
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from plica.admin.errors import AdminError
from plica.admin.store import Admin, find_admin
from plica.asn1 import ProvisionerExtension
from plica.errors import Unauthorized
from plica.jose import verify_signature
from plica.storage import TokenReused
from plica.tokens import LEEWAY, Token, normalize_audience
from plica.types import Provisioner

if TYPE_CHECKING:
    from aiohttp import web

ADMIN_ISSUER = "step-admin-client/1.0"
TOKEN_LIFETIME = 300  # step's admin client signs tokens for 5 minutes; longer ones are refused
MAX_CHAIN_CERTS = 10


@frozen
class VerifiedAdminToken:
    """An admin token whose chain, signature and claims verified; the admin lookup comes after."""

    token: Token
    leaf: x509.Certificate
    provisioner: Provisioner
    subjects: list[str]
    token_id: str


async def require_admin(request: web.Request, authority: Any, *, super_admin: bool = False) -> Admin:
    """Authenticate the admin token of `request` (docs/reference/wire.md §5b) and return the admin it belongs to.

    Raises `AdminError`: 501 when `authority.enableAdmin` is off, 401 for a missing, invalid, replayed or
    foreign token, or a certificate that is not an admin's (or not a super admin's, with `super_admin`).
    The token's `jti` is spent last, so a refused token is not burnt."""
    if not authority.config.authority.enable_admin:
        raise AdminError(501, "administration API not enabled")
    raw = request.headers.get("Authorization", "").strip()
    if not raw:
        raise AdminError(401, "missing authorization header token")
    try:
        verified = verify_admin_token(authority, raw, request.path, request.raw_path)
    except Unauthorized as e:
        raise AdminError(401, e.message) from None
    prov = verified.provisioner
    admin = await find_admin(authority.storage, verified.subjects, prov.name)
    if admin is None:
        raise AdminError(401, f"no admin with subject(s) {verified.subjects} and provisioner {prov.name!r}")
    if super_admin and not admin.is_super:
        raise AdminError(403, "this request needs a super admin")
    try:
        await authority.storage.use_token(verified.token_id, prov.id or prov.name, int(time.time()))
    except TokenReused:
        raise AdminError(401, "admin token was already used") from None
    return admin


def verify_admin_token(authority: Any, raw: str, path: str, raw_path: str = "") -> VerifiedAdminToken:
    """Everything of §5b that needs no database: chain to the CA, signature by the leaf, claims, and the
    provisioner named in the certificate. Unauthorized with the failed check's reason."""
    token = Token.parse(raw)
    chain = _x5c(token.header.get("x5c"))
    now = dt.datetime.now(dt.UTC)
    leaf = chain[0]
    _verify_chain(authority, chain, now)
    try:
        pub = leaf.public_key()
    except ValueError:
        raise Unauthorized("admin certificate has a key of an unsupported type") from None
    if not verify_signature(str(token.header.get("alg", "")), pub, token.signing_input, token.signature):  # type: ignore[arg-type]
        raise Unauthorized("admin token signature does not verify with the key of its x5c certificate")
    token.check_times(now=now.timestamp())
    _check_lifetime(token, now.timestamp())
    _check_audience(token, authority.config.dns_names, path, raw_path)
    prov = _provisioner_of(authority, leaf)
    if token.issuer not in (ADMIN_ISSUER, prov.name):
        raise Unauthorized(f"admin token issuer must be {ADMIN_ISSUER!r} (or the provisioner's name)")
    token.require_subject()
    return VerifiedAdminToken(
        token=token, leaf=leaf, provisioner=prov, subjects=certificate_names(leaf), token_id=token.id
    )


async def admin_for_certificate(authority: Any, cert: x509.Certificate) -> Admin:
    """The admin a client certificate (presented over mTLS, not in a token) belongs to: the same chain,
    usage, provisioner and name checks as an admin token's `x5c` leaf. AdminError 401 otherwise."""
    try:
        _verify_chain(authority, [cert], dt.datetime.now(dt.UTC))
        prov = _provisioner_of(authority, cert)
        subjects = certificate_names(cert)
    except Unauthorized as e:
        raise AdminError(401, e.message) from None
    admin = await find_admin(authority.storage, subjects, prov.name)
    if admin is None:
        raise AdminError(401, f"no admin with subject(s) {subjects} and provisioner {prov.name!r}")
    return admin


def certificate_names(cert: x509.Certificate) -> list[str]:
    """The names an admin certificate may match an admin by: CN, then DNS SANs, then emails (step's order)."""
    names = [str(a.value) for a in cert.subject.get_attributes_for_oid(NameOID.COMMON_NAME)]
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        names += san.get_values_for_type(x509.DNSName) + san.get_values_for_type(x509.RFC822Name)
    except x509.ExtensionNotFound:
        pass
    except ValueError:
        raise Unauthorized("admin certificate has a malformed subject alternative name") from None
    return [n for n in dict.fromkeys(names) if n]


def _x5c(value: Any) -> list[x509.Certificate]:
    if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
        raise Unauthorized("admin token needs an 'x5c' header: the admin certificate chain, base64 DER")
    if len(value) > MAX_CHAIN_CERTS:
        raise Unauthorized(f"admin token 'x5c' header has more than {MAX_CHAIN_CERTS} certificates")
    try:
        return [x509.load_der_x509_certificate(base64.b64decode(v, validate=True)) for v in value]
    except (binascii.Error, ValueError):
        raise Unauthorized(
            "admin token 'x5c' header holds something that is not a base64 DER certificate"
        ) from None


# Go's x509.Verify asks for basic constraints on CAs and nothing of the web PKI's profile; the usages Go
# checks (EKU clientAuth through the path, KU digitalSignature on the leaf) are checked below.
_CA_POLICY = verification.ExtensionPolicy.permit_all().require_present(
    x509.BasicConstraints, verification.Criticality.AGNOSTIC, None
)
_EE_POLICY = verification.ExtensionPolicy.permit_all()
_store_cache: tuple[object, verification.Store] | None = None


def _roots_store(authority: Any) -> verification.Store:
    global _store_cache
    material = authority.material
    if _store_cache is None or _store_cache[0] is not material:
        _store_cache = (material, verification.Store(list(authority.roots)))
    return _store_cache[1]


def _verify_chain(authority: Any, chain: list[x509.Certificate], now: dt.datetime) -> None:
    leaf = chain[0]
    if now > leaf.not_valid_after_utc:
        raise Unauthorized(f"admin certificate expired on {leaf.not_valid_after_utc.isoformat()}")
    if now < leaf.not_valid_before_utc:
        raise Unauthorized("admin certificate is not valid yet")
    builder = (
        verification.PolicyBuilder()
        .store(_roots_store(authority))
        .time(now)
        .extension_policies(ca_policy=_CA_POLICY, ee_policy=_EE_POLICY)
    )
    try:
        path = builder.build_client_verifier().verify(leaf, [*chain[1:], *authority.intermediates]).chain
    except (verification.VerificationError, ValueError):
        raise Unauthorized("admin certificate does not chain to this CA's roots") from None
    try:
        _check_usages(leaf, path)
    except ValueError:  # a malformed extension (cryptography parses them lazily)
        raise Unauthorized("admin certificate has a malformed extension") from None


def _check_usages(leaf: x509.Certificate, path: Sequence[x509.Certificate]) -> None:
    for cert in path:
        try:
            eku = cert.extensions.get_extension_for_class(x509.ExtendedKeyUsage).value
        except x509.ExtensionNotFound:
            continue
        if (
            ExtendedKeyUsageOID.CLIENT_AUTH not in eku
            and ExtendedKeyUsageOID.ANY_EXTENDED_KEY_USAGE not in eku
        ):
            raise Unauthorized(
                "admin certificate chain does not allow client authentication (EKU clientAuth)"
            )
    try:
        ku = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    except x509.ExtensionNotFound:
        ku = None
    if ku is None or not ku.digital_signature:
        raise Unauthorized("admin certificate cannot sign (its key usage lacks digitalSignature)")


def _check_lifetime(token: Token, now: float) -> None:
    exp = token.claims["exp"]  # check_times required it (and that nbf/iat, when set, are numbers)
    start = next((v for v in (token.claims.get("nbf"), token.claims.get("iat")) if v is not None), now)
    if exp - start > TOKEN_LIFETIME + LEEWAY:
        raise Unauthorized(f"admin token lives longer than {TOKEN_LIFETIME // 60} minutes")


def _check_audience(token: Token, dns_names: Sequence[str], path: str, raw_path: str) -> None:
    """`aud` is `https://<dnsName><path>` (port ignored) or the bare path; a query is not part of it."""
    paths = {path, raw_path.split("?", 1)[0]} - {""}
    allowed = set(paths)
    for name in dns_names:
        host = f"[{name.lower()}]" if ":" in name else name.lower()
        allowed.update(f"https://{host}{p}" for p in paths)
    for aud in token.audiences:
        base = aud.split("#", 1)[0].split("?", 1)[0]
        if base in allowed or normalize_audience(base) in allowed:
            return
    raise Unauthorized(f"admin token audience {token.audiences!r} is not valid for {path}")


def _provisioner_of(authority: Any, leaf: x509.Certificate) -> Provisioner:
    try:
        ext = ProvisionerExtension.from_certificate(leaf)
    except ValueError:
        ext = None
    if ext is None:
        raise Unauthorized(
            "admin certificate has no provisioner extension (it was not issued by a provisioner)"
        )
    prov: Provisioner | None = authority.provisioner_by_name(ext.name)
    if prov is None:
        raise Unauthorized(f"admin certificate names provisioner {ext.name!r}, which this CA does not have")
    return prov
