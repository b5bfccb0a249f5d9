"""Loading the provisioners of a ca.json through their plugins, and finding one for a request.

A `ProvisionerSet` is immutable once built: a reload builds a new one and swaps it in, so requests in
flight finish with the set they started with.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from typing import Any

from attrs import define, field

from plica import claims as claims_mod
from plica.certdesc.render import load_template_option
from plica.config import CAConfig, ClaimsConfig, structure, unknown_keys
from plica.errors import ConfigError, NotFound, PluginError, Unauthorized
from plica.plugins import Plugins, TypeEntry
from plica.policy import NamePolicy
from plica.tokens import Token
from plica.types import AuthorityView, Provisioner


@define
class ProvisionerSet:
    items: list[Provisioner]
    entries: dict[int, TypeEntry]  # id(provisioner) → its type's entry
    by_token_key: dict[str, Provisioner]
    by_name: dict[str, Provisioner]
    by_uid: list[tuple[str, Provisioner]]  # sorted (step's pagination order)
    public: dict[int, dict[str, Any]] = field(factory=dict)

    def entry(self, p: Provisioner) -> TypeEntry:
        return self.entries[id(p)]

    def __iter__(self) -> Iterator[Provisioner]:
        return iter(self.items)

    def of_type(self, type_name: str) -> list[Provisioner]:
        t = type_name.lower()
        return [p for p in self.items if p.type.name.lower() == t]

    def for_token(self, token: Token) -> Provisioner:
        """step's LoadByToken (docs/reference/wire.md §4a), as one table lookup per candidate key."""
        for key in token_candidate_keys(token):
            p = self.by_token_key.get(key)
            if p is not None:
                return p
        raise Unauthorized(
            "token does not belong to any provisioner of this CA (unknown issuer, key id or audience)"
        )

    def page(self, cursor: str, limit: int) -> tuple[list[Provisioner], str]:
        """step's cursor pagination: items sorted by uid, cursor = uid of the next item without leading 0s."""
        start = cursor.rjust(40, "0") if cursor else ""
        items = [p for uid, p in self.by_uid if uid >= start]
        page = items[:limit]
        next_cursor = ""
        if len(items) > limit:
            nxt = next(uid for uid, p in self.by_uid if p is items[limit])
            next_cursor = nxt.lstrip("0")
        return page, next_cursor

    def by_kid(self, kid: str) -> Provisioner:
        for p in self.items:
            jwk = p.raw.get("key")
            if isinstance(jwk, dict) and jwk.get("kid") == kid:
                return p
        raise NotFound(f"provisioner with kid {kid!r} was not found")


def token_candidate_keys(token: Token) -> Iterator[str]:
    for aud in token.audiences:
        _, sep, frag = aud.partition("#")
        if sep and frag:
            yield frag
    iss = token.issuer
    kid = token.header.get("kid")
    if iss and isinstance(kid, str):
        yield f"{iss}:{kid}"
    if iss:
        yield iss
    for claim in ("azp", "tid"):
        v = token.claims.get(claim)
        if isinstance(v, str) and v:
            yield v
    auds = token.audiences
    if auds:
        yield auds[0]


def _uid(index: int, pid: str) -> str:
    digest = bytearray(hashlib.sha1(pid.encode()).digest())
    digest[:4] = index.to_bytes(4, "big")
    return digest.hex()


def load_provisioners(cfg: CAConfig, plugins: Plugins, authority: AuthorityView) -> ProvisionerSet:
    """Structure, validate and prepare every provisioner of `cfg`. Raises ConfigError / PluginError with
    the JSON path; nothing is half-loaded."""
    items: list[Provisioner] = []
    entries: dict[int, TypeEntry] = {}
    by_token_key: dict[str, Provisioner] = {}
    by_name: dict[str, Provisioner] = {}
    counts: dict[str, int] = {}
    for i, raw in enumerate(cfg.authority.provisioners):
        path = f"ca.json.authority.provisioners[{i}]"
        type_name = str(raw.get("type", ""))
        try:
            entry = plugins.get_type(type_name)
        except PluginError as e:
            raise PluginError(f"{path}: {e}") from None
        name = str(raw.get("name", ""))
        if name in by_name:
            raise ConfigError(f"{path}.name", f"duplicated provisioner name {name!r}")
        counts[entry.type.name] = counts.get(entry.type.name, 0) + 1
        if entry.type.max_instances is not None and counts[entry.type.name] > entry.type.max_instances:
            raise ConfigError(
                path,
                f"at most {entry.type.max_instances} provisioner(s) of type {entry.type.name} are allowed",
            )
        config = structure(raw, entry.type.config_class, path)
        pclaims_raw = raw.get("claims")
        pclaims = structure(pclaims_raw, ClaimsConfig, f"{path}.claims") if pclaims_raw is not None else None
        resolved = claims_mod.resolve(pclaims, cfg.authority.claims, path=f"{path}.claims")
        prov = Provisioner(type=entry.type, name=name, raw=raw, config=config, claims=resolved, index=i)
        _load_templates(prov, cfg, path)
        if raw.get("policy") is not None:
            # Per-provisioner name policy (step-ca's open-source edition has none: its issue #1214).
            prov.policy = NamePolicy.from_json(
                raw["policy"], path=f"{path}.policy", label=f"provisioner {name!r}"
            )
        load = entry.hooks.get("provisioner_load")
        if load is not None:
            try:
                load(provisioner=prov, authority=authority)
            except ConfigError as e:
                raise ConfigError(f"{path}.{e.path}" if e.path else path, e.message) from None
        keys_fn = entry.hooks.get("provisioner_token_keys")
        keys = list(keys_fn(provisioner=prov)) if keys_fn is not None else []
        prov.id = str(raw.get("id") or (keys[0] if keys else f"{entry.type.name.lower()}/{name}"))
        for k in keys:
            if k in by_token_key:
                raise ConfigError(
                    path, f"provisioner {name!r} uses the same token key {k!r} as {by_token_key[k].name!r}"
                )
            by_token_key[k] = prov
        items.append(prov)
        entries[id(prov)] = entry
        by_name[name] = prov
    by_uid = sorted(((_uid(p.index, p.id), p) for p in items), key=lambda t: t[0])
    pset = ProvisionerSet(
        items=items, entries=entries, by_token_key=by_token_key, by_name=by_name, by_uid=by_uid
    )
    for p in items:
        pub = pset.entry(p).hooks.get("provisioner_public_json")
        view = pub(provisioner=p) if pub is not None else None
        pset.public[id(p)] = view if view is not None else p.raw
    return pset


def _load_templates(prov: Provisioner, cfg: CAConfig, path: str) -> None:
    """options.x509 / options.ssh: template text is read once here, never per request."""
    options = prov.raw.get("options")
    if options is None:
        return
    if not isinstance(options, dict):
        raise ConfigError(f"{path}.options", "expected a JSON object")
    # step-ca's provisioner options: templates, and webhooks (read by the types that call them, e.g. SCEP)
    unknown_keys(options, ["x509", "ssh", "webhooks"], f"{path}.options")
    for kind in ("x509", "ssh"):
        opt = options.get(kind)
        if opt is None:
            continue
        if not isinstance(opt, dict):
            raise ConfigError(f"{path}.options.{kind}", "expected a JSON object")
        # templateData is free-form (what the template reads), so only this level is checked.
        unknown_keys(opt, ["template", "templateFile", "templateData"], f"{path}.options.{kind}")
        try:
            text = load_template_option(opt, base_dir=str(cfg.home))
        except (OSError, ValueError) as e:
            raise ConfigError(f"{path}.options.{kind}", f"cannot load template: {e}") from None
        data = opt.get("templateData")
        if data is not None and not isinstance(data, dict):
            raise ConfigError(f"{path}.options.{kind}.templateData", "expected a JSON object")
        if kind == "x509":
            prov.x509_template, prov.x509_template_data = text, data
        else:
            prov.ssh_template, prov.ssh_template_data = text, data
