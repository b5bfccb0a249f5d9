"""Finding provisioner plugins, and what each one can do.

Plugins are distributions that declare an entry point in the group `plica.provisioners`. Discovery happens
once per process (`get_plugin_manager`); requests use the per-type dispatch table built from it.
"""

from __future__ import annotations

import difflib
import importlib.metadata
import logging
from collections.abc import Callable, Iterable
from typing import Any

import attrs
import pluggy
from attrs import define, field, frozen

from plica import hookspecs
from plica.errors import PluginError
from plica.kms import KMS_ENTRY_POINT_GROUP
from plica.types import CAPABILITIES, ProvisionerType

log = logging.getLogger("plica.plugins")

ENTRY_POINT_GROUP = "plica.provisioners"

# step-ca's types and the distribution that provides each; used only to tell a user what to install.
KNOWN_DISTRIBUTIONS = {
    "jwk": "plica-jwk",
    "oidc": "plica-oidc",
    "x5c": "plica-x5c",
    "acme": "plica-acme",
    "nebula": "plica-nebula",
    "scep": "plica-scep",
    "k8ssa": "plica-k8ssa",
    "sshpop": "plica-sshpop",
    "aws": "plica-aws",
    "gcp": "plica-gcp",
    "azure": "plica-azure",
}

PER_TYPE_HOOKS = (
    "provisioner_load",
    "provisioner_token_keys",
    "provisioner_public_json",
    "provisioner_encrypted_key",
    *CAPABILITIES.values(),
    # Client side and management: asked only of the plugin that registered the type, so a plugin never
    # has to check "is this my type?".
    "client_token",
    "provisioner_block_from_cli",
)


def distribution_for(type_name: str) -> str:
    return KNOWN_DISTRIBUTIONS.get(
        type_name.lower(), f"the plugin that provides provisioner type {type_name!r}"
    )


@frozen
class PluginInfo:
    name: str
    distribution: str
    version: str
    module: Any


@frozen
class BrokenPlugin:
    """A plugin that was found but not loaded: it failed to import, registers a hook the kernel does not
    have (a misspelt `authorise_sign` would otherwise load with no capability), or failed to list its types."""

    # The field names are the keys of its JSON form (`brokenPlugins` of GET /capabilities).
    plugin: str
    distribution: str
    version: str
    error: str

    def message(self) -> str:
        version = f" {self.version}" if self.version else ""
        return f"plugin {self.plugin!r} from distribution {self.distribution}{version} {self.error}"

    def as_json(self) -> dict[str, str]:
        return attrs.asdict(self)


@frozen
class TypeEntry:
    """A registered provisioner type with the functions of its plugin, looked up once."""

    type: ProvisionerType
    plugin: PluginInfo
    hooks: dict[str, Callable[..., Any]]

    @property
    def capabilities(self) -> list[str]:
        return [cap for cap, hook in CAPABILITIES.items() if hook in self.hooks]


@define
class Plugins:
    pm: pluggy.PluginManager
    plugins: list[PluginInfo]
    types: dict[str, TypeEntry]  # lower-case type name → entry
    failures: list[str] = field(factory=list)
    broken: list[BrokenPlugin] = field(factory=list)
    # Installed key managers (entry-point group `plica.kms`): type, distribution, version. Listed, not
    # imported: the one ca.json names is loaded when the CA's keys are opened (`plica.kms.open_kms`).
    key_managers: list[dict[str, str]] = field(factory=list)

    def get_type(self, type_name: str) -> TypeEntry:
        entry = self.types.get(type_name.lower())
        if entry is None:
            raise PluginError(
                f"provisioner type {type_name!r} is not installed: install it with `pip install "
                f"{distribution_for(type_name)}`"
            )
        return entry

    def type_hook(self, type_name: str, hook: str) -> Callable[..., Any] | None:
        """The `hook` function of the plugin that registered `type_name`, or None when it has none."""
        return self.get_type(type_name).hooks.get(hook)

    def capabilities_json(self) -> dict[str, Any]:
        """`GET /capabilities` and `plica provisioner capabilities --json`: both tables, and the plugins that
        were found but could not be loaded."""
        return {
            "provisionerTypes": self.capability_rows(),
            "identifierTypes": self.identifier_rows(),
            "brokenPlugins": [b.as_json() for b in self.broken],
            "keyManagers": self.key_managers,
        }

    def capability_rows(self) -> list[dict[str, Any]]:
        rows = []
        for entry in sorted(self.types.values(), key=lambda e: e.type.name.lower()):
            rows.append(
                {
                    "type": entry.type.name,
                    "distribution": entry.plugin.distribution,
                    "version": entry.plugin.version,
                    "capabilities": entry.capabilities,
                }
            )
        return rows

    def identifier_rows(self) -> list[dict[str, Any]]:
        """The identifier-types table of docs/reference/provisioners.md for what is installed: one column per type (or per sub-column,
        such as ACME's challenge types), one row per identifier type."""
        columns: list[tuple[str, dict[str, bool]]] = []
        for entry in sorted(self.types.values(), key=lambda e: e.type.name.lower()):
            if entry.type.identifier_columns:
                for col, ids in entry.type.identifier_columns.items():
                    columns.append((col, dict(ids)))
            elif entry.type.identifier_types:
                columns.append((entry.type.name, dict(entry.type.identifier_types)))
            # A type that puts no identifier on X.509 certificates (SSHPOP) has no column, as in docs/reference/provisioners.md.
        idents: list[str] = []
        for _, ids in columns:
            for k in ids:
                if k not in idents:
                    idents.append(k)
        return [
            {"identifier": i, "columns": {c: bool(ids.get(i, False)) for c, ids in columns}} for i in idents
        ]


def _new_manager() -> pluggy.PluginManager:
    pm = pluggy.PluginManager(hookspecs.PROJECT)
    pm.add_hookspecs(hookspecs)
    return pm


def load_plugins(extra: Iterable[Any] = (), *, entry_points: bool = True) -> Plugins:
    """Discover plugins through entry points (plus `extra` modules, for tests) and build the type table.

    A plugin that fails to import, or implements a hook the kernel does not define, is reported by name and
    distribution (`Plugins.broken`, the start-up log, `plica provisioner capabilities`, `GET /capabilities`)
    and skipped, so one broken plugin does not take the CA down; a ca.json that needs its type then fails to
    load with that report.
    """
    pm = _new_manager()
    infos: list[PluginInfo] = []
    broken: list[BrokenPlugin] = []
    failures: list[str] = []

    def fail(name: str, dist: str, version: str, error: str) -> None:
        b = BrokenPlugin(plugin=name, distribution=dist, version=version, error=error)
        log.error("%s", b.message())
        broken.append(b)
        failures.append(b.message())

    if entry_points:
        for ep in sorted(importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name):
            dist = ep.dist.name if ep.dist is not None else "unknown distribution"
            version = ep.dist.version if ep.dist is not None else ""
            try:
                module = ep.load()
            except Exception as e:
                fail(ep.name, dist, version, f"failed to import: {type(e).__name__}: {e}")
                continue
            infos.append(PluginInfo(name=ep.name, distribution=dist, version=version, module=module))
    for module in extra:
        infos.append(
            PluginInfo(
                name=getattr(module, "__name__", repr(module)),
                distribution="(in-process)",
                version="",
                module=module,
            )
        )
    types: dict[str, TypeEntry] = {}
    registered: list[PluginInfo] = []
    for info in infos:
        if pm.is_registered(info.module):
            continue
        try:
            pm.register(info.module, name=info.name)
        except Exception as e:
            fail(info.name, info.distribution, info.version, f"is invalid: {e}")
            continue
        unknown = _unknown_hooks(pm, info.module)
        if unknown:
            pm.unregister(info.module)
            fail(
                info.name,
                info.distribution,
                info.version,
                "is broken: it implements hooks the kernel does not define: "
                + ", ".join(f"{u}{_did_you_mean(u)}" for u in unknown),
            )
            continue
        registered.append(info)
    # Nothing unknown is left registered; pluggy's own check stays as the guard of that promise.
    pm.check_pending()
    for info in registered:
        impls = _hooks_of(pm, info.module)
        provide = impls.get("provisioner_types")
        if provide is None:
            continue
        try:
            provided = list(provide() or [])
        except Exception as e:
            fail(info.name, info.distribution, info.version, f"failed to list its types: {e}")
            continue
        for t in provided:
            key = t.name.lower()
            if key in types:
                failures.append(
                    f"provisioner type {t.name!r} is provided twice ({types[key].plugin.distribution} and "
                    f"{info.distribution}); using the first"
                )
                continue
            hooks = {name: fn for name, fn in impls.items() if name in PER_TYPE_HOOKS}
            types[key] = TypeEntry(type=t, plugin=info, hooks=hooks)
    key_managers = []
    if entry_points:
        for ep in sorted(importlib.metadata.entry_points(group=KMS_ENTRY_POINT_GROUP), key=lambda e: e.name):
            key_managers.append(
                {
                    "type": ep.name,
                    "distribution": ep.dist.name if ep.dist is not None else "unknown distribution",
                    "version": ep.dist.version if ep.dist is not None else "",
                }
            )
    return Plugins(
        pm=pm, plugins=registered, types=types, failures=failures, broken=broken, key_managers=key_managers
    )


def _unknown_hooks(pm: pluggy.PluginManager, module: Any) -> list[str]:
    out = []
    for caller in pm.get_hookcallers(module) or []:
        if caller.spec is not None:
            continue
        for impl in caller.get_hookimpls():
            if impl.plugin is module and not impl.optionalhook:
                out.append(caller.name)
    return sorted(set(out))


def _did_you_mean(name: str) -> str:
    specs = [n for n, f in vars(hookspecs).items() if hasattr(f, f"{hookspecs.PROJECT}_spec")]
    close = difflib.get_close_matches(name, specs, n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def _hooks_of(pm: pluggy.PluginManager, module: Any) -> dict[str, Callable[..., Any]]:
    out: dict[str, Callable[..., Any]] = {}
    for caller in pm.get_hookcallers(module) or []:
        for impl in caller.get_hookimpls():
            if impl.plugin is module:
                out[caller.name] = impl.function
    return out


_cached: Plugins | None = None


def get_plugins() -> Plugins:
    """The process-wide plugin set, discovered once."""
    global _cached
    if _cached is None:
        _cached = load_plugins()
    return _cached


def set_plugins(plugins: Plugins | None) -> None:
    """Replace the process-wide plugin set (tests register in-process plugins this way)."""
    global _cached
    _cached = plugins
