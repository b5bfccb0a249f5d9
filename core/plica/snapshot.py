"""What the authority derives from one ca.json: token audiences, loaded provisioners, the backdate, subject
defaults and the name policy. Built whole and swapped whole on reload (`Authority.install`); `plica
provisioner ...` builds one too, to refuse an edit that would not load."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable

from attrs import define

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


@define
class Snapshot:
    """Everything derived from one ca.json; swapped whole on reload."""

    config: CAConfig
    provisioners: ProvisionerSet
    audiences: Audiences
    backdate: dt.timedelta
    subject_defaults: dict[str, str]
    policy: NamePolicy | None = None


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
    )
