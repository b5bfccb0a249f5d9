"""The admin API's kernel part (api.md §1b, §5b, §6): who the admins are, how a request proves it comes
from one, the admin error shape, and the client side that makes admin tokens.

An admin is a subject bound to a provisioner (step-ca's `linkedca.Admin`), kept in the `admins` table;
`ADMIN` or `SUPER_ADMIN`. A request authenticates with an admin token: `Authorization: <JWT>` (no
`Bearer`), the admin's certificate chain in the `x5c` header, signed with that certificate's key. The
certificate must chain to this CA; the provisioner named in its provisioner extension and one of its names
(CN, DNS SANs, emails) must be an admin. Plugins serving admin endpoints call `require_admin` and answer
errors in the admin shape by raising `AdminError` (or wrapping handlers in `admin_route`).

With `authority.enableAdmin` and no admins yet, the CA's start creates the super admin `step` bound to
the first JWK provisioner of ca.json, as step-ca does (spec/provisioners.txt "Remote Provisioner
Management").
"""

from __future__ import annotations

import base64
import binascii
import datetime as dt
import functools
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from attrs import frozen
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509 import verification
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from plica.asn1 import ProvisionerExtension
from plica.durations import rfc3339
from plica.errors import PlicaError, Unauthorized
from plica.jose import PrivateKey, default_alg, public_jwk, sign_compact, thumbprint, verify_signature
from plica.storage import TokenReused, UniqueViolation
from plica.tokens import LEEWAY, Token, normalize_audience, token_claims

if TYPE_CHECKING:
    from aiohttp import web

    from plica.storage import Storage
    from plica.types import Provisioner

log = logging.getLogger("plica.admin")

AdminType = Literal["ADMIN", "SUPER_ADMIN"]
ADMIN_TYPES: tuple[AdminType, ...] = ("ADMIN", "SUPER_ADMIN")
ADMIN_ISSUER = "step-admin-client/1.0"
DEFAULT_SUPER_ADMIN = "step"
TOKEN_LIFETIME = 300  # step's admin client signs tokens for 5 minutes; longer ones are refused
MAX_CHAIN_CERTS = 10
MAX_SUBJECT_LENGTH = 1024

# ============================================================================================ errors

# step's admin problem types (authority/admin/errors.go): status → (type, fixed detail)
_PROBLEMS: dict[int, tuple[str, str]] = {
    400: ("badRequest", "bad request"),
    401: ("unauthorized", "unauthorized"),
    404: ("notFound", "resource not found"),
    409: ("conflict", "conflict"),
    501: ("notImplemented", "not implemented"),
    500: ("internalServerError", "the server experienced an internal error"),
}


class AdminError(PlicaError):
    """An error answered in the admin API's shape `{"type", "detail", "message"}` (api.md §1b).

    It is a `PlicaError` whose body is the admin shape, so the kernel's error handling answers it as is;
    the CA API's own shape (`{"status", "message"}`) is untouched."""

    def __init__(self, status: int, message: str, *, detail: str | None = None) -> None:
        super().__init__(message, detail=detail)
        self.status = status

    @property
    def type(self) -> str:
        return _problem(self.status)[0]

    def body(self) -> dict[str, object]:
        kind, fixed = _problem(self.status)
        return {"type": kind, "detail": fixed, "message": self.message}


def _problem(status: int) -> tuple[str, str]:
    if status in _PROBLEMS:
        return _PROBLEMS[status]
    return _PROBLEMS[500] if status >= 500 else _PROBLEMS[400]


def as_admin_error(e: PlicaError) -> AdminError:
    """A kernel error (e.g. `BadRequest` from reading the body) in the admin shape, same status. 403 has no
    admin type; step answers refused admin requests with `unauthorized`."""
    if isinstance(e, AdminError):
        return e
    status = 401 if e.status == 403 else e.status
    return AdminError(status, e.public_message(), detail=e.detail)


Handler = Callable[["web.Request"], Awaitable["web.StreamResponse"]]


def admin_route(handler: Handler) -> Handler:
    """Wrap an admin endpoint so every failure is answered in the admin shape (never the CA's, never a
    traceback): kernel errors keep their status; anything unexpected is a logged, generic 500."""
    from aiohttp import web

    @functools.wraps(handler)
    async def wrapped(request: web.Request) -> web.StreamResponse:
        try:
            return await handler(request)
        except AdminError:
            raise
        except PlicaError as e:
            raise as_admin_error(e) from None
        except web.HTTPRequestEntityTooLarge:
            raise AdminError(413, "request body is too large") from None
        except web.HTTPException:
            raise
        except Exception:
            log.exception("admin request %s %s failed", request.method, request.path)
            raise AdminError(500, "the certificate authority could not complete the request") from None

    return wrapped


# ============================================================================================ admins


@frozen
class Admin:
    id: str
    subject: str
    provisioner: str
    type: AdminType
    created_at: int

    @property
    def is_super(self) -> bool:
        return self.type == "SUPER_ADMIN"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "subject": self.subject,
            "provisioner": self.provisioner,
            "type": self.type,
            "createdAt": rfc3339(self.created_at),
        }


_COLUMNS = "id, subject, provisioner_name, type, created_at"


def _admin(row: Sequence[Any]) -> Admin:
    return Admin(id=row[0], subject=row[1], provisioner=row[2], type=row[3], created_at=int(row[4]))


async def list_admins(storage: Storage, *, provisioner: str | None = None) -> list[Admin]:
    if provisioner is None:
        rows = await storage.fetch_all(f"SELECT {_COLUMNS} FROM admins ORDER BY created_at, id")
    else:
        rows = await storage.fetch_all(
            f"SELECT {_COLUMNS} FROM admins WHERE provisioner_name = ? ORDER BY created_at, id",
            (provisioner,),
        )
    return [_admin(r) for r in rows]


async def get_admin(storage: Storage, admin_id: str) -> Admin | None:
    row = await storage.fetch_one(f"SELECT {_COLUMNS} FROM admins WHERE id = ?", (admin_id,))
    return _admin(row) if row else None


async def find_admin(storage: Storage, subjects: Sequence[str], provisioner: str) -> Admin | None:
    """The admin among `subjects` bound to `provisioner` (the first in `subjects` order, as step tries them)."""
    names = [s for s in dict.fromkeys(subjects) if s]
    if not names:
        return None
    marks = ", ".join("?" for _ in names)
    rows = await storage.fetch_all(
        f"SELECT {_COLUMNS} FROM admins WHERE provisioner_name = ? AND subject IN ({marks})",
        (provisioner, *names),
    )
    found = {r[1]: _admin(r) for r in rows}
    return next((found[s] for s in names if s in found), None)


async def add_admin(storage: Storage, subject: str, provisioner: str, type: AdminType = "ADMIN") -> Admin:
    """Add an admin. AdminError 400 for a bad subject or type, 409 if the pair exists. The caller checks
    that the provisioner exists (it knows the configuration)."""
    if not subject or subject != subject.strip() or len(subject) > MAX_SUBJECT_LENGTH:
        raise AdminError(400, "admin subject must be non-empty, without surrounding spaces, and short")
    if type not in ADMIN_TYPES:
        raise AdminError(400, f"admin type must be one of {', '.join(ADMIN_TYPES)}")
    admin = Admin(
        id=str(uuid.uuid4()), subject=subject, provisioner=provisioner, type=type, created_at=int(time.time())
    )
    try:
        await storage.execute(
            f"INSERT INTO admins ({_COLUMNS}) VALUES (?, ?, ?, ?, ?)",
            (admin.id, admin.subject, admin.provisioner, admin.type, admin.created_at),
        )
    except UniqueViolation:
        raise AdminError(409, f"admin {subject!r} of provisioner {provisioner!r} already exists") from None
    return admin


async def remove_admin(storage: Storage, admin_id: str) -> None:
    """Remove an admin; never the last super admin (the CA would be left without one who can add admins).
    The check and the delete are one statement."""
    n = await storage.execute(
        "DELETE FROM admins WHERE id = ? AND (type <> 'SUPER_ADMIN' OR "
        "(SELECT COUNT(*) FROM admins WHERE type = 'SUPER_ADMIN') > 1)",
        (admin_id,),
    )
    if n == 1:
        return
    if await get_admin(storage, admin_id) is None:
        raise AdminError(404, f"admin {admin_id!r} does not exist")
    raise AdminError(400, "cannot remove the last super admin")


async def bootstrap(storage: Storage, provisioners: Iterable[dict[str, Any]]) -> Admin | None:
    """First start with `enableAdmin` and no admins: super admin `step` bound to the first JWK provisioner
    of ca.json (step-ca's behaviour). Safe to run from several processes: the pair is unique."""
    if await storage.fetch_one("SELECT id FROM admins LIMIT 1") is not None:
        return None
    first = next((p for p in provisioners if str(p.get("type", "")).upper() == "JWK" and p.get("name")), None)
    if first is None:
        log.warning(
            "enableAdmin is set but there are no admins and no JWK provisioner to bind the first super "
            "admin to; add one with `plica admin add SUBJECT PROVISIONER --super`"
        )
        return None
    try:
        admin = await add_admin(storage, DEFAULT_SUPER_ADMIN, str(first["name"]), "SUPER_ADMIN")
    except AdminError:
        return None  # another process of this CA created it a moment ago
    log.info("created super admin %r bound to provisioner %r", admin.subject, admin.provisioner)
    return admin


# ============================================================================================ admin tokens


@frozen
class VerifiedAdminToken:
    """An admin token whose chain, signature and claims verified; the admin lookup comes after."""

    token: Token
    leaf: x509.Certificate
    provisioner: Provisioner
    subjects: list[str]
    token_id: str


async def require_admin(request: web.Request, authority: Any, *, super_admin: bool = False) -> Admin:
    """Authenticate the admin token of `request` (api.md §5b) and return the admin it belongs to.

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
        raise AdminError(401, "this request needs a super admin")
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
    jti = token.claims.get("jti")
    token_id = jti if isinstance(jti, str) and jti else token.hash_id()
    return VerifiedAdminToken(
        token=token, leaf=leaf, provisioner=prov, subjects=certificate_names(leaf), token_id=token_id
    )


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


# ============================================================================================ client side


@frozen
class AdminCredentials:
    """An admin certificate chain and its key, as `plica certificate` writes them."""

    chain: list[x509.Certificate]
    key: PrivateKey

    @classmethod
    def load(
        cls, cert_path: str | Path, key_path: str | Path, password: bytes | None = None
    ) -> AdminCredentials:
        """Load PEM files. ValueError with a message that names the file on anything unusable."""
        try:
            chain = x509.load_pem_x509_certificates(Path(cert_path).read_bytes())
        except (OSError, ValueError) as e:
            raise ValueError(f"cannot read admin certificate {cert_path}: {e}") from None
        try:
            key = serialization.load_pem_private_key(Path(key_path).read_bytes(), password)
        except TypeError:
            raise ValueError(f"admin key {key_path} is encrypted: give its password file") from None
        except (OSError, ValueError) as e:
            raise ValueError(f"cannot read admin key {key_path}: {e}") from None
        if not chain:
            raise ValueError(f"admin certificate {cert_path} holds no PEM certificate")
        try:
            same = public_jwk(chain[0].public_key()) == public_jwk(key)  # type: ignore[arg-type]
        except ValueError:
            raise ValueError(f"admin key {key_path} is of an unsupported type") from None
        if not same:
            raise ValueError(f"admin key {key_path} does not belong to certificate {cert_path}")
        return cls(chain=chain, key=key)  # type: ignore[arg-type]

    @property
    def subject(self) -> str:
        names = certificate_names(self.chain[0])
        return names[0] if names else ""


def admin_token(
    creds: AdminCredentials, audience: str, *, issuer: str = ADMIN_ISSUER, lifetime: int = TOKEN_LIFETIME,
    now: float | None = None,
) -> str:  # fmt: skip
    """An admin token for one request to `audience` (`https://<ca>/admin/...`), as step's admin client."""
    jwk = public_jwk(creds.key)
    header = {
        "alg": default_alg(jwk),
        "kid": thumbprint(jwk),
        "typ": "JWT",
        "x5c": [
            base64.b64encode(c.public_bytes(serialization.Encoding.DER)).decode("ascii") for c in creds.chain
        ],
    }
    claims = token_claims(issuer, creds.subject, audience, lifetime=lifetime, now=now)
    return sign_compact(header, claims, creds.key)


class AdminClient:
    """Calls the admin API with a fresh admin token per request. Errors are `plica.client.CAClientError`
    with the admin body's `message`."""

    def __init__(self, ca_url: str, root: str | Path | None, creds: AdminCredentials) -> None:
        from plica.client import CAClient

        self.ca_url = ca_url.rstrip("/")
        self.http = CAClient(self.ca_url, Path(root) if root else None)
        self.creds = creds

    def request(self, method: str, path: str, body: Any = None) -> Any:
        token = admin_token(self.creds, self.ca_url + path.split("?", 1)[0])
        return self.http.request(method, path, body, headers={"Authorization": token})
