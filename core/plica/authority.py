"""The authority: the one pipeline every certificate operation goes through (DESIGN.md "The pipeline").

1. find the provisioner (token keys or URL), 2. call its type's authorization hook — only that one,
3. apply claims, name rules and templates, 4. sign, store (with the one-time token, atomically), answer.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable
from typing import Any, Literal

from attrs import define, field
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.oid import NameOID

from plica import config as config_mod
from plica.asn1 import PROVISIONER_OID, ProvisionerExtension
from plica.config import CAConfig
from plica.csr import check_public_key, parse_csr_pem
from plica.durations import parse_duration
from plica.errors import BadRequest, Forbidden, InternalError, NotFound, Unauthorized
from plica.names import SANs, csr_sans, sans_of, split_sans
from plica.pki import CAMaterial, random_serial
from plica.plugins import Plugins, TypeEntry
from plica.provisioners import ProvisionerSet, load_provisioners
from plica.storage import AlreadyRevoked, Storage, TokenReused
from plica.storage.base import IssuedCert
from plica.tokens import Token
from plica.types import (
    CAPABILITIES,
    Audiences,
    Provisioner,
    RenewAuthorization,
    RevokeRequest,
    SignRequest,
    X509Authorization,
)

log = logging.getLogger("plica.authority")
UTC = dt.UTC


def build_audiences(dns_names: list[str]) -> Audiences:
    def urls(*paths: str) -> frozenset[str]:
        out = set()
        for h in dns_names:
            host = f"[{h}]" if ":" in h else h
            for p in paths:
                out.add(f"https://{host}{p}")
                out.add(f"https://{host}/1.0{p}")
        return frozenset(out)

    ca = frozenset({"step-certificate-authority"})
    return Audiences(
        sign=ca | urls("/sign", "/ssh/sign"),
        renew=urls("/renew"),
        revoke=ca | urls("/revoke"),
        ssh_sign=urls("/ssh/sign", "/sign"),
        ssh_renew=urls("/ssh/renew"),
        ssh_rekey=urls("/ssh/rekey"),
        ssh_revoke=urls("/ssh/revoke"),
    )


@define
class Snapshot:
    """Everything derived from one ca.json; swapped whole on reload."""

    config: CAConfig
    provisioners: ProvisionerSet
    audiences: Audiences
    backdate: dt.timedelta
    subject_defaults: dict[str, str]
    policy: Any = None


@define(eq=False)
class Authority:
    material: CAMaterial
    storage: Storage
    plugins: Plugins
    start_time: float
    snapshot: Snapshot = field(init=False)
    version: str = "0.1.0"

    # ------------------------------------------------------------------ AuthorityView for plugins
    @property
    def audiences(self) -> Audiences:
        return self.snapshot.audiences

    @property
    def roots(self) -> list[x509.Certificate]:
        return self.material.roots

    @property
    def intermediates(self) -> list[x509.Certificate]:
        return self.material.chain

    @property
    def disable_issued_at_check(self) -> bool:
        return self.snapshot.config.authority.disable_issued_at_check

    @property
    def config(self) -> CAConfig:
        return self.snapshot.config

    def ssh_public_keys(self, kind: Literal["user", "host"]) -> list[Any]:
        key = self.material.ssh_user_key if kind == "user" else self.material.ssh_host_key
        return [key.public_key()] if key is not None else []

    def provisioners_of_type(self, type_name: str) -> list[Provisioner]:
        return self.snapshot.provisioners.of_type(type_name)

    def provisioner_by_name(self, name: str) -> Provisioner | None:
        return self.snapshot.provisioners.by_name.get(name)

    # ------------------------------------------------------------------ loading
    def load_snapshot(self, cfg: CAConfig) -> Snapshot:
        """Build (but do not install) a snapshot; raises ConfigError/PluginError and leaves the current one."""
        audiences = build_audiences(cfg.dns_names)
        provisioners = load_provisioners(cfg, self.plugins, _LoadingView(self, cfg, audiences))
        tmpl = cfg.authority.template
        defaults: dict[str, str] = {}
        if tmpl is not None:
            defaults = {
                k: v for k, v in config_mod.converter.unstructure(tmpl).items() if isinstance(v, str) and v
            }
        policy = None
        if cfg.authority.policy:
            from plica.policy import NamePolicy

            policy = NamePolicy.from_json(cfg.authority.policy, path="ca.json.authority.policy")
        return Snapshot(
            config=cfg,
            provisioners=provisioners,
            audiences=audiences,
            backdate=parse_duration(cfg.authority.backdate),
            subject_defaults=defaults,
            policy=policy,
        )

    def install(self, snap: Snapshot) -> None:
        self.snapshot = snap

    @property
    def loaded(self) -> bool:
        return hasattr(self, "snapshot")

    # ------------------------------------------------------------------ helpers
    def _entry(self, prov: Provisioner) -> TypeEntry:
        return self.snapshot.provisioners.entry(prov)

    def hook(self, prov: Provisioner, capability: str) -> Callable[..., Any]:
        fn = self._entry(prov).hooks.get(CAPABILITIES[capability])
        if fn is None:
            raise Unauthorized(
                f"provisioner {prov.name!r} (type {prov.type.name}) does not have the {capability} capability"
            )
        return fn

    def parse_token(self, raw: Any) -> tuple[Token, Provisioner]:
        if not isinstance(raw, str) or not raw:
            raise BadRequest("missing ott")
        token = Token.parse(raw)
        prov = self.snapshot.provisioners.for_token(token)
        if prov.type.iat_check and not self.disable_issued_at_check:
            iat = token.claims.get("iat")
            if isinstance(iat, int | float) and iat < self.start_time - 1:
                raise Unauthorized("token was issued before the certificate authority started")
        return token, prov

    def now(self) -> dt.datetime:
        return dt.datetime.now(UTC)

    # ================================================================== X.509 sign
    async def sign(self, body: dict[str, Any]) -> list[x509.Certificate]:
        csr_pem = body.get("csr")
        if not csr_pem or not isinstance(csr_pem, str):
            raise BadRequest("missing csr")
        csr, csr_der = parse_csr_pem(csr_pem)
        token, prov = self.parse_token(body.get("ott"))
        now = self.now()
        try:
            from plica.durations import resolve_time_duration

            nb = resolve_time_duration(_str_or_none(body.get("notBefore"), "notBefore"), now=now)
            na = resolve_time_duration(
                _str_or_none(body.get("notAfter"), "notAfter"), now=now, base=nb or now
            )
        except ValueError as e:
            raise BadRequest(str(e)) from None
        tdata = body.get("templateData")
        if tdata is not None and not isinstance(tdata, dict):
            raise BadRequest("templateData must be a JSON object")
        request = SignRequest(
            csr=csr,
            csr_der=csr_der,
            not_before=nb,
            not_after=na,
            template_data=tdata,
            raw_not_after=body.get("notAfter"),
        )
        auth: X509Authorization = self.hook(prov, "x509-sign")(
            provisioner=prov, token=token, request=request, authority=self
        )
        return await self.issue(prov, auth, request)

    async def issue(
        self, prov: Provisioner, auth: X509Authorization, request: SignRequest
    ) -> list[x509.Certificate]:
        """Steps 3-4 of the pipeline for an X.509 leaf; also used by protocol plugins (ACME, SCEP)."""
        csr = request.csr
        if auth.check_csr is not None:
            auth.check_csr(csr)
        public_key = csr.public_key()
        check_public_key(public_key)
        now = self.now()
        claims = prov.claims
        cert: x509.Certificate
        if prov.x509_template is not None:
            cert = self._issue_from_template(prov, auth, request, now)
        else:
            not_before, not_after = self._validity(prov, auth, request.not_before, request.not_after, now)
            if auth.csr_passthrough:
                subject = csr.subject
                sans = csr_sans(csr)
            else:
                cn = auth.subject
                sans = split_sans(auth.sans if auth.sans is not None else [])
                if auth.force_cn and not cn:
                    if not sans.dns:
                        raise BadRequest(
                            "forceCN is set but the request has no DNS name to use as common name"
                        )
                    cn = sans.dns[0]
                try:
                    subject = self._subject(cn)
                except ValueError as e:  # e.g. a common name longer than 64 characters
                    raise BadRequest(f"the certificate subject is not valid: {e}") from None
            try:
                san = x509.SubjectAlternativeName(sans.general_names()) if sans else None
            except ValueError as e:  # e.g. a DNS name that is not ASCII (an IDN must come as its A-label)
                raise BadRequest(f"a subject alternative name is not valid: {e}") from None
            self._check_policy_x509(prov, subject, sans)
            extra: list[x509.ExtensionType] = []
            if not claims.disable_smallstep_extensions:
                extra.append(self._provisioner_extension(prov, auth))
            cert = self.material.sign_leaf(
                public_key=public_key,
                subject=subject,
                san=san,
                san_critical=len(subject) == 0,
                not_before=not_before,
                not_after=not_after,
                extra_extensions=extra,
            )
        await self._store_x509(prov, cert, auth.token_id)
        return [cert, *self.material.chain]

    def _subject(self, cn: str) -> x509.Name:
        attrs: list[x509.NameAttribute] = []
        d = self.snapshot.subject_defaults
        if d:
            for key, oid in _DN_OIDS:
                if key in d and key != "commonName":
                    attrs.append(x509.NameAttribute(oid, d[key]))
            if not cn:
                cn = d.get("commonName", "")
        if cn:
            attrs.append(x509.NameAttribute(NameOID.COMMON_NAME, cn))
        return x509.Name(attrs)

    def _provisioner_extension(
        self, prov: Provisioner, auth: X509Authorization
    ) -> x509.UnrecognizedExtension:
        return ProvisionerExtension(
            type=prov.type.type_id,
            name=prov.name,
            credential_id=auth.credential_id,
            key_value_pairs=tuple(auth.key_value_pairs),
        ).extension()

    def _validity(
        self,
        prov: Provisioner,
        auth: X509Authorization,
        req_nb: dt.datetime | None,
        req_na: dt.datetime | None,
        now: dt.datetime,
        tmpl_nb: dt.datetime | None = None,
        tmpl_na: dt.datetime | None = None,
    ) -> tuple[dt.datetime, dt.datetime]:
        d = prov.claims.tls
        backdate = self.snapshot.backdate
        nb = req_nb or tmpl_nb
        start = nb or now
        if nb is None:
            nb = now - backdate
        na = req_na or tmpl_na
        if na is None:
            na = start + d.default
            if auth.not_after is not None and na > auth.not_after:
                na = auth.not_after  # X5C/Nebula: the default is capped at the credential's expiry
        if na < now:
            raise BadRequest("notAfter cannot be in the past")
        if na < nb:
            raise BadRequest("notAfter cannot be before notBefore")
        dur = na - nb
        if dur < d.min:
            raise Forbidden(
                f"requested duration of {_fmt(dur)} is less than the authorized minimum of {_fmt(d.min)}"
            )
        if dur > d.max + backdate:
            raise Forbidden(
                f"requested duration of {_fmt(dur)} is more than the authorized maximum of {_fmt(d.max)}"
            )
        if auth.not_before is not None and nb < auth.not_before - backdate:
            raise Forbidden("requested notBefore is before the authorizing credential's notBefore")
        if auth.not_after is not None and na > auth.not_after:
            raise Forbidden("requested notAfter is after the authorizing credential's notAfter")
        return nb, na

    def _check_policy_x509(self, prov: Provisioner, subject: x509.Name, sans: SANs) -> None:
        for pol in (self.snapshot.policy, prov.policy):
            if pol is not None:
                pol.check_x509(subject, sans)

    def _issue_from_template(
        self, prov: Provisioner, auth: X509Authorization, request: SignRequest, now: dt.datetime
    ) -> x509.Certificate:
        from plica.certdesc.data import x509_data
        from plica.certdesc.render import render_x509

        csr = request.csr
        data = x509_data(
            auth.subject,
            auth.sans,
            auth.token_claims,
            csr,
            provisioner_data={**(prov.x509_template_data or {}), **auth.template_data},
            user=request.template_data,
            authorization_crt=auth.authorization_crt,
        )
        desc = self._render(
            prov, lambda: render_x509(prov.x509_template or "", data, name=f"{prov.name} x509")
        )
        nb, na = self._validity(
            prov, auth, request.not_before, request.not_after, now, desc.not_before, desc.not_after
        )
        ext = None
        if not prov.claims.disable_smallstep_extensions:
            ext = x509.Extension(PROVISIONER_OID, False, self._provisioner_extension(prov, auth))
        # desc.apply sets subject, issuer, public key and extensions itself (a builder refuses a second
        # set); a template's own copy of the provisioner extension is replaced in place.
        builder = self._render(
            prov,
            lambda: desc.apply(
                x509.CertificateBuilder(),
                issuer_cert=self.material.intermediate,
                public_key=csr.public_key(),
                subject_defaults=self.snapshot.subject_defaults,
                provisioner_extension=ext,
            ),
        )
        builder = builder.not_valid_before(nb).not_valid_after(na)
        builder = builder.serial_number(
            desc.serial_number if desc.serial_number is not None else random_serial()
        )
        from plica.certdesc.x509desc import signing_params

        params = self._render(
            prov,
            lambda: signing_params(
                desc.signature_algorithm or "",
                self.material.intermediate_key,
                ca_cert=self.material.intermediate,
            ),
        )
        try:
            cert = builder.sign(
                self.material.intermediate_key, params.algorithm, rsa_padding=params.rsa_padding
            )
        except ValueError as e:
            raise InternalError(
                f"error applying the x509 template of provisioner {prov.name!r}: {e}", detail=str(e)
            ) from None
        # What the template produced is only known once it is built: check the names on the result (a
        # refused certificate is never stored or returned).
        self._check_policy_x509(prov, cert.subject, sans_of(cert.extensions))
        return cert

    def _render(self, prov: Provisioner, fn: Callable[[], Any]) -> Any:
        """Run a template step. step answers 400 with the message of `fail` and 500 for any other template
        error (the template is the operator's, not the client's); either way the message names it."""
        from plica.certdesc.x509desc import DescriptionError
        from plica.templating import TemplateError

        try:
            return fn()
        except TemplateError as e:
            if e.fail_message:
                raise BadRequest(e.fail_message) from None
            log.error("template of provisioner %r failed: %s", prov.name, e)
            raise InternalError(
                f"error applying the certificate template of provisioner {prov.name!r}: {e}"
            ) from None
        except DescriptionError as e:
            log.error("template of provisioner %r failed: %s", prov.name, e)
            raise InternalError(
                f"error applying the certificate template of provisioner {prov.name!r}: {e}"
            ) from None

    async def _store_x509(self, prov: Provisioner, cert: x509.Certificate, token_id: str | None) -> None:
        try:
            await self.storage.store_x509(
                IssuedCert(
                    serial=str(cert.serial_number),
                    der=cert.public_bytes(serialization.Encoding.DER),
                    provisioner_id=prov.id,
                    provisioner_name=prov.name,
                    provisioner_type=prov.type.name,
                    not_after=int(cert.not_valid_after_utc.timestamp()),
                ),
                token_id=token_id,
            )
        except TokenReused:
            raise Unauthorized("token already used") from None

    # ================================================================== renew / rekey
    async def renew(
        self,
        cert: x509.Certificate,
        *,
        token_id: str | None = None,
        new_key: Any = None,
    ) -> list[x509.Certificate]:
        serial = str(cert.serial_number)
        if await self.storage.is_x509_revoked(serial):
            raise Unauthorized(f"certificate with serial number {serial} has been revoked")
        ext = ProvisionerExtension.from_certificate(cert)
        prov: Provisioner | None = None
        if ext is not None:
            prov = self.snapshot.provisioners.by_name.get(ext.name)
            if prov is None or prov.type.type_id != ext.type:
                raise Unauthorized(f"provisioner {ext.name!r} that issued this certificate no longer exists")
        now = self.now()
        if prov is not None:
            if prov.claims.disable_renewal:
                raise Unauthorized(f"renew is disabled for provisioner {prov.name!r}")
            if now < cert.not_valid_before_utc:
                raise Unauthorized(
                    f"certificate is not yet valid (notBefore {cert.not_valid_before_utc.isoformat()})"
                )
            if now > cert.not_valid_after_utc and not prov.claims.allow_renewal_after_expiry:
                raise Unauthorized(f"certificate expired on {cert.not_valid_after_utc.isoformat()}")
            ra: RenewAuthorization | None = self.hook(prov, "x509-renew")(
                provisioner=prov, certificate=cert, authority=self
            )
            if ra is not None and ra.token_id:
                token_id = token_id or ra.token_id
        elif now > cert.not_valid_after_utc:
            raise Unauthorized(f"certificate expired on {cert.not_valid_after_utc.isoformat()}")
        lifetime = cert.not_valid_after_utc - cert.not_valid_before_utc
        nb = now - self.snapshot.backdate
        public_key = new_key if new_key is not None else cert.public_key()
        b = (
            x509.CertificateBuilder()
            .subject_name(cert.subject)
            .issuer_name(self.material.intermediate.subject)
            .public_key(public_key)
            .serial_number(random_serial())
            .not_valid_before(nb)
            .not_valid_after(nb + lifetime)
        )
        for e in cert.extensions:
            if isinstance(e.value, x509.AuthorityKeyIdentifier):
                continue
            if isinstance(e.value, x509.SubjectKeyIdentifier) and new_key is not None:
                b = b.add_extension(x509.SubjectKeyIdentifier.from_public_key(new_key), critical=e.critical)
                continue
            b = b.add_extension(e.value, critical=e.critical)
        b = b.add_extension(self.material.akid, critical=False)  # type: ignore[arg-type]
        new = self.material.sign_builder(b)
        if prov is not None:
            await self._store_x509(prov, new, token_id)
        else:
            await self.storage.store_x509(
                IssuedCert(
                    str(new.serial_number),
                    new.public_bytes(serialization.Encoding.DER),
                    "",
                    "",
                    "",
                    int(new.not_valid_after_utc.timestamp()),
                ),
                token_id=token_id,
            )
        return [new, *self.material.chain]

    async def rekey(self, cert: x509.Certificate, csr_pem: Any) -> list[x509.Certificate]:
        if not csr_pem or not isinstance(csr_pem, str):
            raise BadRequest("missing csr")
        csr, _ = parse_csr_pem(csr_pem)
        check_public_key(csr.public_key())
        return await self.renew(cert, new_key=csr.public_key())

    # ================================================================== revoke
    async def revoke(self, body: dict[str, Any], *, mtls_cert: x509.Certificate | None) -> None:
        serial_raw = body.get("serial")
        if not isinstance(serial_raw, str) or not serial_raw:
            raise BadRequest("missing serial")
        serial = parse_serial(serial_raw)
        reason_code = body.get("reasonCode", 0)
        if not isinstance(reason_code, int) or isinstance(reason_code, bool) or not 0 <= reason_code <= 10:
            raise BadRequest("reasonCode out of bounds (expected an RFC 5280 CRLReason from 0 to 10)")
        reason = body.get("reason") or ""
        if not isinstance(reason, str):
            raise BadRequest("reason must be a string")
        passive = body.get("passive", False)
        if passive is not True:
            from plica.errors import NotImplementedYet

            raise NotImplementedYet('non-passive revocation is not implemented: send "passive": true')
        ott = body.get("ott")
        now = int(time.time())
        if ott:
            token, prov = self.parse_token(ott)
            req = RevokeRequest(serial=serial, reason_code=reason_code, reason=reason, passive=True)
            auth = self.hook(prov, "x509-revoke")(provisioner=prov, token=token, request=req, authority=self)
            sub = token.subject
            if sub != str(serial) and parse_serial_or_none(sub) != serial:
                raise Forbidden(f"token subject {sub!r} does not match the serial number to revoke")
            pid, token_id, mtls = prov.id, auth.token_id, False
        elif mtls_cert is not None:
            if mtls_cert.serial_number != serial:
                raise Forbidden(
                    "the client certificate's serial number does not match the serial number to revoke"
                )
            ext = ProvisionerExtension.from_certificate(mtls_cert)
            pid = ext.name if ext else ""
            token_id, mtls = None, True
        else:
            raise Unauthorized("revocation needs a one-time token (ott) or a client certificate (mTLS)")
        try:
            await self.storage.revoke_x509(
                str(serial),
                provisioner_id=pid,
                reason_code=reason_code,
                reason=reason,
                mtls=mtls,
                token_id=token_id,
                now=now,
            )
        except AlreadyRevoked:
            raise BadRequest(f"certificate with serial number '{serial}' is already revoked") from None
        except TokenReused:
            raise Unauthorized("token already used") from None

    # ================================================================== public data
    def root_by_sha(self, sha: str) -> x509.Certificate:
        key = sha.replace("-", "").replace(":", "").lower()
        cert = self.material.root_by_fingerprint.get(key)
        if cert is None:
            raise NotFound(f'root certificate with fingerprint "{key}" was not found')
        return cert


_DN_OIDS = [
    ("country", NameOID.COUNTRY_NAME),
    ("province", NameOID.STATE_OR_PROVINCE_NAME),
    ("locality", NameOID.LOCALITY_NAME),
    ("streetAddress", NameOID.STREET_ADDRESS),
    ("organization", NameOID.ORGANIZATION_NAME),
    ("organizationalUnit", NameOID.ORGANIZATIONAL_UNIT_NAME),
    ("serialNumber", NameOID.SERIAL_NUMBER),
    ("commonName", NameOID.COMMON_NAME),
]


class _LoadingView:
    """The AuthorityView a plugin sees while a new snapshot loads (audiences of the new config)."""

    def __init__(self, authority: Authority, cfg: CAConfig, audiences: Audiences) -> None:
        self._a = authority
        self.audiences = audiences
        self.storage = authority.storage
        self.roots = authority.material.roots
        self.intermediates = authority.material.chain
        self.start_time = authority.start_time
        self.disable_issued_at_check = cfg.authority.disable_issued_at_check
        self.config = cfg

    def ssh_public_keys(self, kind: Literal["user", "host"]) -> list[Any]:
        return self._a.ssh_public_keys(kind)

    # While a snapshot loads, the provisioners serving are the previous snapshot's (none at first start).
    def provisioners_of_type(self, type_name: str) -> list[Provisioner]:
        return self._a.provisioners_of_type(type_name) if self._a.loaded else []

    def provisioner_by_name(self, name: str) -> Provisioner | None:
        return self._a.provisioner_by_name(name) if self._a.loaded else None


def _fmt(d: dt.timedelta) -> str:
    from plica.durations import format_duration

    return format_duration(d)


def _str_or_none(v: Any, name: str) -> str | None:
    if v is None or isinstance(v, str):
        return v
    raise BadRequest(f"{name} must be a string (an RFC 3339 time or a duration such as '24h')")


def parse_serial(s: str) -> int:
    v = parse_serial_or_none(s)
    if v is None:
        raise BadRequest(f"serial number {s!r} is not valid (decimal, or hexadecimal with a 0x prefix)")
    return v


def parse_serial_or_none(s: str) -> int | None:
    try:
        if s.lower().startswith("0x"):
            return int(s[2:], 16)
        if s.isdigit():
            return int(s, 10)
    except ValueError:
        return None
    return None


__all__ = ["Authority", "InternalError", "Snapshot", "build_audiences", "parse_csr_pem"]
