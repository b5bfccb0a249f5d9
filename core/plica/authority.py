"""The authority: the one pipeline every certificate operation goes through (docs/design.md "The pipeline").

1. find the provisioner (token keys or URL), 2. call its type's authorization hook — only that one,
3. apply claims, name rules and templates, 4. sign, store (with the one-time token, atomically), answer.

This module holds what every operation shares — the installed snapshot of ca.json, the provisioner lookup
and hook dispatch, the view plugins get — and hands each operation to its module: `plica.x509` (issue,
renew, revoke) and `plica.ssh` (sign, renew, revoke, public keys). The HTTP layer decodes request bodies
into the typed requests these methods take (`plica.http.wire`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any, Literal

from attrs import define, field
from cryptography import x509

from plica.config import CAConfig
from plica.errors import NotFound, Unauthorized
from plica.kms import KeyHandle
from plica.observe import Kind, Meter, Operation, note_provisioner
from plica.pki import CAMaterial
from plica.plugins import Plugins
from plica.sealing import Sealer
from plica.snapshot import Snapshot, load_snapshot
from plica.ssh import public as ssh_public
from plica.ssh.certsign import SignedSSHCert
from plica.ssh.renew import ssh_renew
from plica.ssh.revoke import ssh_revoke
from plica.ssh.sign import ssh_sign
from plica.storage import Storage
from plica.tokens import Token
from plica.types import (
    CAPABILITIES,
    AdminPanel,
    Audiences,
    CertificateStatus,
    Provisioner,
    RevokeRequest,
    SignRequest,
    SSHRenewRequest,
    SSHRevokeRequest,
    SSHSignRequest,
    X509Authorization,
)
from plica.x509 import issue as x509_issue
from plica.x509 import renew as x509_renew
from plica.x509.crl import CRLService, CRLSettings, x509_status
from plica.x509.revoke import revoke as x509_revoke

UTC = dt.UTC


@define(eq=False)
class Authority:
    material: CAMaterial
    storage: Storage
    plugins: Plugins
    start_time: float
    snapshot: Snapshot = field(init=False)
    crl: CRLService = field(init=False)
    version: str = "0.1.0"
    # Counts certificate operations when metrics are served (plica.metrics); None costs nothing.
    meter: Meter | None = None
    # With enableAdmin (plica.admin.sync): ca.json as read (its provisioners ignored), and the
    # database's provisioner change counter the installed snapshot was built at.
    file_config: CAConfig | None = None
    config_version: int = -1
    _sealers: dict[str, Sealer] = field(init=False, factory=dict)

    def __attrs_post_init__(self) -> None:
        self.crl = CRLService(self.material, self.storage)
        # generateOnRevoke, whoever records the revocation (/revoke, ACME's revokeCert, ...). (Tools that
        # only load a configuration make an authority without storage.)
        if self.storage is not None:
            self.storage.after_x509_revoke = self.crl.after_revoke

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
    def intermediate_handle(self) -> KeyHandle:
        return KeyHandle(self.material.intermediate_signer)

    def open_key(self, uri: str, *, what: str) -> KeyHandle:
        return self.material.open_handle(uri, what=what)

    @property
    def disable_issued_at_check(self) -> bool:
        return self.snapshot.config.authority.disable_issued_at_check

    @property
    def config(self) -> CAConfig:
        return self.snapshot.config

    def sealer(self, purpose: str) -> Sealer:
        """The sealer of `purpose` (`plica.sealing`), derived once from the intermediate key."""
        if purpose not in self._sealers:
            self._sealers[purpose] = Sealer.derive(self.material.intermediate_signer, purpose)
        return self._sealers[purpose]

    def ssh_public_keys(self, kind: Literal["user", "host"]) -> list[Any]:
        key = self.material.ssh_user_key if kind == "user" else self.material.ssh_host_key
        return [key] if key is not None else []

    def provisioners_of_type(self, type_name: str) -> list[Provisioner]:
        return self.snapshot.provisioners.of_type(type_name)

    def provisioner_by_name(self, name: str) -> Provisioner | None:
        return self.snapshot.provisioners.by_name.get(name)

    def public_provisioners(self) -> list[dict[str, Any]]:
        """Every provisioner as `GET /provisioners` shows it (secrets redacted by the type's hook)."""
        pset = self.snapshot.provisioners
        return [pset.public[id(p)] for p in pset]

    def capabilities(self) -> dict[str, Any]:
        """What `GET /capabilities` answers: the capability and identifier tables of installed types."""
        return self.plugins.capabilities_json()

    def admin_panels(self) -> list[AdminPanel]:
        return [p for res in self.plugins.pm.hook.admin_panels(authority=self) for p in (res or [])]

    async def issue(
        self, prov: Provisioner, auth: X509Authorization, request: SignRequest
    ) -> list[x509.Certificate]:
        """Steps 3-4 of the pipeline for an X.509 leaf; also used by protocol plugins (ACME, SCEP)."""
        note_provisioner(prov.name)
        return await self._counted("x509", "signed", x509_issue.issue(self, prov, auth, request))

    async def _counted(self, kind: Kind, operation: Operation, work: Any, cert_type: str = "") -> Any:
        """Await `work`, counting its outcome when there is a meter."""
        if self.meter is None:
            return await work
        try:
            out = await work
        except Exception:
            self.meter.count(kind, operation, False, cert_type)
            raise
        self.meter.count(kind, operation, True, cert_type or _ssh_type(out))
        return out

    async def certificate_status(self, serial: int) -> CertificateStatus:
        return await x509_status(self.storage, serial)

    async def issue_ocsp_responder(self, public_key: Any, *, lifetime: dt.timedelta) -> x509.Certificate:
        now = self.now()
        return await self.material.sign_ocsp_responder(
            public_key, not_before=now - dt.timedelta(minutes=1), not_after=now + lifetime
        )

    # ------------------------------------------------------------------ loading
    def load_snapshot(self, cfg: CAConfig) -> Snapshot:
        """Build (but do not install) a snapshot; raises ConfigError/PluginError and leaves the current one."""
        return load_snapshot(cfg, self.plugins, lambda audiences: _LoadingView(self, cfg, audiences))

    def install(self, snap: Snapshot) -> None:
        self.snapshot = snap
        self.crl.configure(CRLSettings.from_config(snap.config))

    @property
    def loaded(self) -> bool:
        return hasattr(self, "snapshot")

    # ------------------------------------------------------------------ what every operation shares
    def hook(self, prov: Provisioner, capability: str) -> Callable[..., Any]:
        """The authorization hook of `prov`'s type for `capability`; Unauthorized when the type has none."""
        fn = self.snapshot.provisioners.entry(prov).hooks.get(CAPABILITIES[capability])
        if fn is None:
            raise Unauthorized(
                f"provisioner {prov.name!r} (type {prov.type.name}) does not have the {capability} capability"
            )
        return fn

    def parse_token(self, raw: str) -> tuple[Token, Provisioner]:
        """The one-time token and the provisioner it belongs to (step 1); not yet verified: that is the
        hook's part. Tokens issued before the CA started are refused, as step does."""
        token = Token.parse(raw)
        prov = self.snapshot.provisioners.for_token(token)
        note_provisioner(prov.name)
        if prov.type.iat_check and not self.disable_issued_at_check:
            iat = token.claims.get("iat")
            if isinstance(iat, int | float) and iat < self.start_time - 1:
                raise Unauthorized("token was issued before the certificate authority started")
        return token, prov

    def now(self) -> dt.datetime:
        return dt.datetime.now(UTC)

    # ------------------------------------------------------------------ X.509
    async def sign(self, ott: str, request: SignRequest) -> list[x509.Certificate]:
        return await x509_issue.sign(self, ott, request)

    async def renew(
        self, cert: x509.Certificate, *, token_id: str | None = None, new_key: Any = None
    ) -> list[x509.Certificate]:
        return await self._counted(
            "x509", "renewed", x509_renew.renew(self, cert, token_id=token_id, new_key=new_key)
        )

    async def rekey(
        self, cert: x509.Certificate, csr: x509.CertificateSigningRequest
    ) -> list[x509.Certificate]:
        return await self._counted("x509", "rekeyed", x509_renew.rekey(self, cert, csr))

    async def revoke(
        self, ott: str | None, request: RevokeRequest, *, mtls_cert: x509.Certificate | None
    ) -> None:
        await x509_revoke(self, ott, request, mtls_cert=mtls_cert)

    def root_by_sha(self, sha: str) -> x509.Certificate:
        key = sha.replace("-", "").replace(":", "").lower()
        cert = self.material.root_by_fingerprint.get(key)
        if cert is None:
            raise NotFound(f'root certificate with fingerprint "{key}" was not found')
        return cert

    # ------------------------------------------------------------------ SSH
    async def ssh_sign(
        self, ott: str, request: SSHSignRequest, *, cert_type_named: bool, add_user_key: Any = None
    ) -> tuple[SignedSSHCert, SignedSSHCert | None]:
        return await self._counted(  # type: ignore[no-any-return]
            "ssh",
            "signed",
            ssh_sign(self, ott, request, cert_type_named=cert_type_named, add_user_key=add_user_key),
        )

    async def ssh_renew(self, ott: str, request: SSHRenewRequest, *, rekey: bool) -> SignedSSHCert:
        return await self._counted(  # type: ignore[no-any-return]
            "ssh", "rekeyed" if rekey else "renewed", ssh_renew(self, ott, request, rekey=rekey)
        )

    async def ssh_revoke(self, ott: str, request: SSHRevokeRequest) -> None:
        await ssh_revoke(self, ott, request)

    def ssh_root_keys(self) -> dict[str, Any]:
        return ssh_public.ssh_root_keys(self.material)

    async def ssh_host_exists(self, principal: str) -> bool:
        return await ssh_public.ssh_host_exists(self.storage, principal)


def _ssh_type(result: Any) -> str:
    """`user` or `host` for an SSH operation's certificate (step-ca's `type` label); "" for X.509."""
    cert = result[0] if isinstance(result, tuple) else result
    return cert.cert_type if isinstance(cert, SignedSSHCert) else ""


class _LoadingView:
    """The AuthorityView a plugin sees while a new snapshot loads (audiences of the new config)."""

    def __init__(self, authority: Authority, cfg: CAConfig, audiences: Audiences) -> None:
        self._a = authority
        self.audiences = audiences
        self.storage = authority.storage
        self.roots = authority.material.roots
        self.intermediates = authority.material.chain
        self.intermediate_handle: KeyHandle | None = KeyHandle(authority.material.intermediate_signer)
        self.start_time = authority.start_time
        self.disable_issued_at_check = cfg.authority.disable_issued_at_check
        self.config = cfg

    def ssh_public_keys(self, kind: Literal["user", "host"]) -> list[Any]:
        return self._a.ssh_public_keys(kind)

    def open_key(self, uri: str, *, what: str) -> KeyHandle | None:
        return self._a.open_key(uri, what=what)

    async def certificate_status(self, serial: int) -> CertificateStatus:
        return await self._a.certificate_status(serial)

    async def issue_ocsp_responder(self, public_key: Any, *, lifetime: dt.timedelta) -> x509.Certificate:
        return await self._a.issue_ocsp_responder(public_key, lifetime=lifetime)

    # While a snapshot loads, the provisioners serving are the previous snapshot's (none at first start).
    def provisioners_of_type(self, type_name: str) -> list[Provisioner]:
        return self._a.provisioners_of_type(type_name) if self._a.loaded else []

    def provisioner_by_name(self, name: str) -> Provisioner | None:
        return self._a.provisioner_by_name(name) if self._a.loaded else None

    def public_provisioners(self) -> list[dict[str, Any]]:
        return self._a.public_provisioners() if self._a.loaded else []

    def capabilities(self) -> dict[str, Any]:
        return self._a.capabilities()

    def admin_panels(self) -> list[AdminPanel]:
        return self._a.admin_panels()


__all__ = ["Authority", "Snapshot"]
