"""What the authority derives from one ca.json: token audiences, loaded provisioners, the backdate, subject
defaults and the name policy. Built whole and swapped whole on reload (`Authority.install`); `plica
provisioner ...` builds one too, to refuse an edit that would not load."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from attrs import define, field, frozen
from cryptography import x509
from cryptography.x509.oid import AuthorityInformationAccessOID, ExtensionOID

from plica import config as config_mod
from plica.config import CAConfig
from plica.durations import parse_duration
from plica.plugins import Plugins
from plica.policy import NamePolicy
from plica.provisioners import ProvisionerSet, load_provisioners
from plica.types import Audiences, AuthorityView


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


@frozen
class LeafURLs:
    """ca.json's `authority.ocspServer`, `issuingCertificateURL` and `crlDistributionPoints`: what every leaf
    says of where its revocation status and issuer are, with the extensions the default leaf carries."""

    ocsp_server: tuple[str, ...] = ()
    issuing_certificate_url: tuple[str, ...] = ()
    crl_distribution_points: tuple[str, ...] = ()
    extensions: tuple[x509.UnrecognizedExtension, ...] = ()

    @classmethod
    def from_config(cls, cfg: CAConfig) -> LeafURLs:
        a = cfg.authority
        ocsp, issuers, crl = (
            tuple(v or ()) for v in (a.ocsp_server, a.issuing_certificate_url, a.crl_distribution_points)
        )
        exts: list[x509.UnrecognizedExtension] = []
        # Encoded once here; the default leaf's encoder copies the bytes (plica.x509.fastleaf).
        if ocsp or issuers:
            aia = x509.AuthorityInformationAccess(
                [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.OCSP, x509.UniformResourceIdentifier(u)
                    )
                    for u in ocsp
                ]
                + [
                    x509.AccessDescription(
                        AuthorityInformationAccessOID.CA_ISSUERS, x509.UniformResourceIdentifier(u)
                    )
                    for u in issuers
                ]
            )
            exts.append(
                x509.UnrecognizedExtension(ExtensionOID.AUTHORITY_INFORMATION_ACCESS, aia.public_bytes())
            )
        if crl:
            cdp = x509.CRLDistributionPoints(
                [x509.DistributionPoint([x509.UniformResourceIdentifier(u)], None, None, None) for u in crl]
            )
            exts.append(x509.UnrecognizedExtension(ExtensionOID.CRL_DISTRIBUTION_POINTS, cdp.public_bytes()))
        return cls(ocsp, issuers, crl, tuple(exts))


@define
class Snapshot:
    """Everything derived from one ca.json; swapped whole on reload."""

    config: CAConfig
    provisioners: ProvisionerSet
    audiences: Audiences
    backdate: dt.timedelta
    subject_defaults: dict[str, str]
    policy: NamePolicy | None = None
    leaf_urls: LeafURLs = field(factory=LeafURLs)


def load_snapshot(cfg: CAConfig, plugins: Plugins, view: Callable[[Audiences], AuthorityView]) -> Snapshot:
    """Build (but do not install) a snapshot of `cfg`; `view` makes what the plugins see of the authority
    while their provisioners load, given the new audiences. Raises ConfigError/PluginError."""
    audiences = build_audiences(cfg.dns_names)
    provisioners = load_provisioners(cfg, plugins, view(audiences))
    tmpl = cfg.authority.template
    defaults: dict[str, str] = {}
    if tmpl is not None:
        defaults = {
            k: v for k, v in config_mod.converter.unstructure(tmpl).items() if isinstance(v, str) and v
        }
    policy = None
    if cfg.authority.policy:
        policy = NamePolicy.from_json(cfg.authority.policy, path="ca.json.authority.policy")
    return Snapshot(
        config=cfg,
        provisioners=provisioners,
        audiences=audiences,
        backdate=parse_duration(cfg.authority.backdate),
        subject_defaults=defaults,
        policy=policy,
        leaf_urls=LeafURLs.from_config(cfg),
    )
