"""The conformance suite every provisioner type runs: a test class to subclass in the plugin's tests.

    from plica.testing.conformance import ProvisionerConformance, readme_block

    import plica_mytype

    class TestConformance(ProvisionerConformance):
        plugin = plica_mytype
        type_name = "MyType"
        capabilities = ["x509-sign"]
        example_block = readme_block(Path(__file__).parents[1] / "README.md", "MyType")
        bad_blocks = [({"type": "MyType", "name": "m", "key": 1}, "key")]
        secret_fields = ("secret",)

What it checks, each against the real kernel (a CA made by `make_ca`, loaded as `plica start` loads it,
served by the real HTTPS server):

* every hook the plugin implements is one the kernel defines (a misspelt `authorise_sign` would otherwise
  load with no capability), and the plugin registers `type_name`;
* the capability row the kernel derives from its hooks is exactly `capabilities`;
* `example_block` (the ca.json block the README shows) loads, and its config round-trips: what the kernel
  writes back from the plugin's config class holds every field of the block and loads to the same config;
* every `(block, path)` of `bad_blocks` is refused at load with a `ConfigError` naming exactly that JSON path
  (relative to the block: `"key"`, `"claims.maxTLSCertDuration"`, `"roots[0]"`, `""` for the block itself);
* a refusal of the type's entry point is a 4xx in the API's error shape (`{"status": N, "message": "..."}`):
  by default a well-formed token with a signature nobody made, addressed to the provisioner, sent to the
  endpoint of its first token capability; a type with no token keys (ACME) overrides `refuse`;
* `/provisioners` shows nothing secret: no private JWK members, no PEM private key, none of the
  `secret_fields` the type declares (by name anywhere in the published block, nor their values anywhere).

Hooks a subclass may override: `refuse(api, authority)` (send the request to be refused),
`check_refusal(reply)` (the error shape of that endpoint), `prepare_ca(files)` (files the example needs).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import copy
import re
from collections.abc import Awaitable, Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any, ClassVar, TypeVar

import aiohttp
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from plica import config as config_mod
from plica.certdesc.defaults import DEFAULT_LEAF_TEMPLATE, SSH_DEFAULT_TEMPLATE
from plica.errors import ConfigError
from plica.plugins import Plugins, load_plugins
from plica.testing import CAFiles, in_process_ca, make_ca
from plica.testing.csrs import csr_for
from plica.testing.httpapi import Api, Reply
from plica.testing.loading import load_snapshot, opened_authority
from plica.testing.tokens import garbage_token

T = TypeVar("T")

# Members of a JWK that only a private key has (RFC 7518 §6.2.2, §6.3.2, §6.4; RFC 8037 §2).
PRIVATE_JWK_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
PREFIX = "ca.json.authority.provisioners[0]"

# The endpoint a refusal goes to, by the first token capability of the row: (capability, path, body).
ENDPOINTS: tuple[tuple[str, str, Callable[[str], dict[str, Any]]], ...] = (
    ("x509-sign", "/1.0/sign", lambda ott: {"csr": csr_for("garbage.example").pem, "ott": ott}),
    ("ssh-user-cert-sign", "/1.0/ssh/sign",
     lambda ott: {"publicKey": _ssh_key(), "ott": ott, "certType": "user", "principals": ["garbage"]}),
    ("ssh-host-cert-sign", "/1.0/ssh/sign",
     lambda ott: {"publicKey": _ssh_key(), "ott": ott, "certType": "host", "principals": ["garbage"]}),
    ("x509-revoke", "/1.0/revoke", lambda ott: {"serial": "1", "ott": ott, "passive": True}),
    ("ssh-revoke", "/1.0/ssh/revoke", lambda ott: {"serial": "1", "ott": ott, "passive": True}),
    ("ssh-host-cert-renew", "/1.0/ssh/renew", lambda ott: {"ott": ott}),
    ("ssh-rekey", "/1.0/ssh/rekey", lambda ott: {"ott": ott, "publicKey": _ssh_key()}),
)  # fmt: skip


def _ssh_key() -> str:
    pub = ed25519.Ed25519PrivateKey.generate().public_key()
    return (
        pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
        .split()[1]
        .decode()
    )


def readme_block(readme: Path, type_name: str) -> dict[str, Any]:
    """The first ```json block of a README whose `type` is `type_name` (the example a user copies)."""
    for text in re.findall(r"```json\n(.*?)\n```", readme.read_text(encoding="utf-8"), re.DOTALL):
        try:
            block = orjson.loads(text)
        except orjson.JSONDecodeError:
            continue
        if isinstance(block, dict) and str(block.get("type", "")).lower() == type_name.lower():
            return block
    raise AssertionError(f"{readme} shows no ca.json block of type {type_name!r} in a ```json fence")


def full_path(path: str) -> str:
    """The JSON path the kernel reports for `path` inside the provisioner block under test."""
    if not path:
        return PREFIX
    return PREFIX + path if path.startswith("[") else f"{PREFIX}.{path}"


def run(coro: Awaitable[T]) -> T:
    """Run a coroutine in a new event loop (the suite's tests are synchronous, so that a plugin's tests need
    no particular pytest-asyncio mode)."""

    async def main() -> T:
        return await coro

    return asyncio.run(main())


def _walk(value: Any, path: str = "") -> Iterator[tuple[str, Any]]:
    yield path, value
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _walk(v, f"{path}.{k}" if path else str(k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _walk(v, f"{path}[{i}]")


def _looks_like_private_key(text: str) -> bool:
    if "PRIVATE KEY" in text:
        return True
    if len(text) < 40 or not re.fullmatch(r"[A-Za-z0-9+/=\s]+", text):
        return False
    try:
        return b"PRIVATE KEY" in base64.b64decode(text, validate=False)
    except (binascii.Error, ValueError):
        return False


class ProvisionerConformance:
    """Subclass as `TestConformance` in a plugin's tests and set the class attributes below."""

    plugin: ClassVar[ModuleType]  # the module of the plugin's `plica.provisioners` entry point
    type_name: ClassVar[str]  # the ca.json `type` the plugin registers
    capabilities: ClassVar[list[str]]  # the expected capability row, in the kernel's order
    example_block: ClassVar[dict[str, Any]]  # a ca.json block, as the README shows it
    bad_blocks: ClassVar[list[tuple[dict[str, Any], str]]] = []  # (block, JSON path of its error)
    secret_fields: ClassVar[tuple[str, ...]] = ()  # fields of the block /provisioners must never show
    ssh: ClassVar[bool] = True  # whether the CA under test has SSH keys

    # -------------------------------------------------------------------------------- what a subclass may change

    def prepare_ca(self, files: CAFiles) -> None:
        """Write what `example_block` refers to. By default: the kernel's default templates wherever the
        block's `options.x509` / `options.ssh` name a `templateFile`."""
        for kind, text in (("x509", DEFAULT_LEAF_TEMPLATE), ("ssh", SSH_DEFAULT_TEMPLATE)):
            name = ((self.example_block.get("options") or {}).get(kind) or {}).get("templateFile")
            if isinstance(name, str) and name:
                path = Path(name) if Path(name).is_absolute() else files.home / name
                path.parent.mkdir(parents=True, exist_ok=True)
                path.write_text(text)

    async def refuse(self, api: Api, authority: Any) -> Reply:
        """Send a request the provisioner must refuse. By default: a garbage token (well formed, signed by
        nobody) addressed to the provisioner through its first token key, to the endpoint of the row's first
        token capability."""
        name = self.example_block["name"]
        prov = authority.provisioner_by_name(name)
        keys_hook = self._plugins().get_type(self.type_name).hooks.get("provisioner_token_keys")
        keys = list(keys_hook(provisioner=prov)) if keys_hook is not None else []
        endpoint = next((e for e in ENDPOINTS if e[0] in self.capabilities), None)
        if not keys or endpoint is None:
            pytest.fail(
                f"{self.type_name} takes no tokens: override `refuse` to send a request to its own entry point"
            )
        _, path, body = endpoint
        ott = garbage_token(name, f"{api.files.url}{path}#{keys[0]}")
        return await api.post(path.removeprefix("/1.0"), body(ott))

    def check_refusal(self, reply: Reply) -> None:
        """A refusal is a 4xx in step's error shape, and the provisioner (not the token router) refused it."""
        assert 400 <= reply.status < 500, f"a refusal must be a 4xx, got {reply.status}: {reply.raw!r}"
        body = reply.error()
        assert "does not belong to any provisioner" not in body["message"], (
            f"the token never reached the {self.type_name} provisioner: {body['message']}"
        )

    # -------------------------------------------------------------------------------- fixtures

    _plugin_sets: ClassVar[dict[type, Plugins]] = {}

    def _plugins(self) -> Plugins:
        """The kernel with only this plugin: what it brings is all that loads."""
        cls = type(self)
        if cls not in ProvisionerConformance._plugin_sets:
            ProvisionerConformance._plugin_sets[cls] = load_plugins(extra=[self.plugin], entry_points=False)
        return ProvisionerConformance._plugin_sets[cls]

    @pytest.fixture(scope="class")
    @classmethod
    def conformance_ca(cls, tmp_path_factory: pytest.TempPathFactory) -> CAFiles:
        """A CA whose only provisioner is `example_block` (one per class: the tests only read it)."""
        self = cls()
        files = make_ca(tmp_path_factory.mktemp("conformance"), ssh=self.ssh, plugins=self._plugins())
        self.prepare_ca(files)
        self._write_provisioners(files, self.example_block)
        return files

    def _write_provisioners(self, files: CAFiles, block: dict[str, Any]) -> None:
        cfg = files.config()
        cfg["authority"]["provisioners"] = [copy.deepcopy(block)]
        files.write_config(cfg)

    async def _served(self, files: CAFiles, fn: Callable[[Api, Any], Awaitable[T]]) -> T:
        async with in_process_ca(files, plugins=self._plugins()) as authority, aiohttp.ClientSession() as s:
            return await fn(Api(files, s), authority)

    # -------------------------------------------------------------------------------- the tests

    def pytest_generate_tests(self, metafunc: pytest.Metafunc) -> None:
        if "bad_block" in metafunc.fixturenames:
            metafunc.parametrize(
                "bad_block", self.bad_blocks, ids=[path or "(block)" for _, path in self.bad_blocks]
            )

    def test_hooks_are_all_kernel_hookspecs(self) -> None:
        plugins = self._plugins()
        assert plugins.broken == [], "; ".join(b.message() for b in plugins.broken)
        assert plugins.failures == [], plugins.failures
        assert self.type_name.lower() in plugins.types, (
            f"{self.plugin.__name__} registers {[e.type.name for e in plugins.types.values()]}, "
            f"not {self.type_name!r}"
        )
        assert plugins.types[self.type_name.lower()].type.name == self.type_name

    def test_capability_row(self) -> None:
        (row,) = [r for r in self._plugins().capability_rows() if r["type"] == self.type_name]
        assert row["capabilities"] == self.capabilities

    def test_example_block_loads_and_round_trips(self, conformance_ca: CAFiles) -> None:
        async def load() -> Any:
            async with opened_authority(conformance_ca, self._plugins()) as authority:
                return authority.provisioner_by_name(self.example_block["name"])

        prov = run(load())
        assert prov is not None and prov.type.name == self.type_name
        entry = self._plugins().get_type(self.type_name)
        written = config_mod.converter.unstructure(prov.config)
        lost = {k: v for k, v in self.example_block.items() if not _holds(written.get(k), v)}
        assert not lost, f"the config class does not write back these fields as they were: {lost}"
        again = config_mod.structure(orjson.loads(orjson.dumps(written)), entry.type.config_class, PREFIX)
        assert again == prov.config

    def test_bad_block_is_a_config_error_naming_its_path(
        self, conformance_ca: CAFiles, bad_block: tuple[dict[str, Any], str], tmp_path: Path
    ) -> None:
        block, path = bad_block
        cfg = conformance_ca.config()
        cfg["authority"]["provisioners"] = [copy.deepcopy(block)]
        # Beside ca.json, so that the CA's home (and what the block names relative to it) stays the same.
        config_path = conformance_ca.config_path.parent / f"{tmp_path.name}.json"
        config_path.write_bytes(orjson.dumps(cfg))
        with pytest.raises(ConfigError) as e:
            load_snapshot(_with_config(conformance_ca, config_path), self._plugins())
        assert e.value.path == full_path(path), f"expected a ConfigError at {full_path(path)}, got: {e.value}"
        for field in self.secret_fields:
            value = block.get(field)
            if isinstance(value, str) and value:
                assert value not in str(e.value), f"the error shows the secret {field!r}"

    def test_refusal_is_a_4xx_in_the_api_error_shape(self, conformance_ca: CAFiles) -> None:
        self.check_refusal(run(self._served(conformance_ca, self.refuse)))

    def test_provisioners_shows_nothing_secret(self, conformance_ca: CAFiles) -> None:
        async def published(api: Api, authority: Any) -> list[dict[str, Any]]:
            return await api.provisioners()

        provs = run(self._served(conformance_ca, published))
        mine = [p for p in provs if p.get("name") == self.example_block["name"]]
        assert len(mine) == 1, provs
        assert str(mine[0].get("type", "")).lower() == self.type_name.lower()
        everything = orjson.dumps(provs).decode()
        for where, value in _walk(mine[0]):
            if isinstance(value, dict):
                assert not set(value) & set(self.secret_fields), f"/provisioners shows {where or 'the block'}"
                if "kty" in value:
                    assert not set(value) & PRIVATE_JWK_MEMBERS, (
                        f"/provisioners shows a private JWK at {where}"
                    )
            if isinstance(value, str):
                assert not _looks_like_private_key(value), f"/provisioners shows a private key at {where}"
        for field in self.secret_fields:
            value = self.example_block.get(field)
            for _, v in _walk(value):
                if isinstance(v, str) and len(v) >= 8:
                    assert v not in everything, f"/provisioners shows the value of {field!r}"


def _holds(written: Any, given: Any) -> bool:
    """Whether what the kernel writes back keeps `given` (it may add the defaults of fields left out)."""
    if given is None:
        return True
    if isinstance(given, dict):
        return isinstance(written, dict) and all(_holds(written.get(k), v) for k, v in given.items())
    if isinstance(given, list):
        return (
            isinstance(written, list)
            and len(written) == len(given)
            and all(_holds(w, g) for w, g in zip(written, given, strict=True))
        )
    return written == given


def _with_config(files: CAFiles, config_path: Path) -> CAFiles:
    """`files` with another ca.json (same keys, password and home)."""
    return CAFiles(
        home=files.home,
        config_path=config_path,
        root=files.root,
        intermediate=files.intermediate,
        password_file=files.password_file,
        password=files.password,
        port=files.port,
        fingerprint=files.fingerprint,
    )
