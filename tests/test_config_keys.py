"""Unknown ca.json keys: a start-up error naming the JSON path and the nearest known key, at every level
(kernel blocks and provisioner blocks alike); step-ca keys Plica does not act on are listed in a warning;
free-form data (templateData) is not looked into. Every JSON example of the docs still loads."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, ClassVar

import orjson
import pytest

from plica import config as config_mod
from plica.authority import Authority
from plica.config import AuthorityConfig, CAConfig, DBConfig, ProvisionerConfig, j
from plica.errors import ConfigError, PluginError
from plica.http.server import load_material
from plica.plugins import get_plugins
from plica.testing import CAFiles, make_ca

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> CAFiles:
    return make_ca(tmp_path_factory.mktemp("keys"))


def load(tmp: Path, files: CAFiles, edit: Callable[[dict[str, Any]], None]) -> Any:
    """Load as `plica start` does: ca.json, then every provisioner block through its plugin."""
    data = files.config()
    edit(data)
    p = tmp / "ca.json"
    p.write_bytes(orjson.dumps(data))
    cfg = config_mod.load(p)
    authority = Authority(
        material=load_material(cfg, files.password),
        storage=None,  # type: ignore[arg-type]
        plugins=get_plugins(),
        start_time=0,
    )
    return authority.load_snapshot(cfg)


def error(tmp: Path, files: CAFiles, edit: Callable[[dict[str, Any]], None]) -> str:
    with pytest.raises((ConfigError, PluginError)) as e:
        load(tmp, files, edit)
    return str(e.value)


def at(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(cfg: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        d = cfg
        for k in parents:
            d = d[int(k)] if isinstance(d, list) else d.setdefault(k, {})
        d[last] = value

    return edit


def prov(key: str, value: Any, type_name: str = "JWK") -> Callable[[dict[str, Any]], None]:
    def edit(cfg: dict[str, Any]) -> None:
        block = next(p for p in cfg["authority"]["provisioners"] if p["type"] == type_name)
        block[key] = value

    return edit


def test_a_misspelt_provisioners_is_an_error_naming_the_key(tmp_path: Path, files: CAFiles) -> None:
    def misspell(cfg: dict[str, Any]) -> None:
        cfg["authority"]["provisoners"] = cfg["authority"].pop("provisioners")

    msg = error(tmp_path, files, misspell)
    assert msg == "ca.json.authority.provisoners: unknown key (did you mean 'provisioners'?)"


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (at("dnsName", ["x"]), "ca.json.dnsName: unknown key (did you mean 'dnsNames'?)"),
        (at("db.dataSorce", "x"), "ca.json.db.dataSorce: unknown key (did you mean 'dataSource'?)"),
        (at("tls.cipherSuite", []), "ca.json.tls.cipherSuite: unknown key (did you mean 'cipherSuites'?)"),
        (at("ssh.hostKy", "x"), "ca.json.ssh.hostKy: unknown key (did you mean 'hostKey'?)"),
        (at("authority.claims", {"maxTLSCertDuraton": "1h"}),
         "ca.json.authority.claims.maxTLSCertDuraton: unknown key (did you mean 'maxTLSCertDuration'?)"),
        (at("authority.template", {"comonName": "x"}),
         "ca.json.authority.template.comonName: unknown key (did you mean 'commonName'?)"),
        (at("zzzzzz", 1), "ca.json.zzzzzz: unknown key"),
        (at("logger", {"format": "xml"}), "ca.json.logger.format: unsupported format 'xml' (text, json or common)"),
        (at("logger", {"fromat": "json"}), "ca.json.logger.fromat: unknown key (did you mean 'format'?)"),
        (at("authority.policy", {"x509": {"allow": {"dsn": ["a.example"]}}}),
         "ca.json.authority.policy.x509.allow.dsn: unknown policy key (did you mean 'dns'?)"),
    ],
)  # fmt: skip
def test_kernel_blocks(tmp_path: Path, files: CAFiles, edit: Any, expected: str) -> None:
    assert error(tmp_path, files, edit).startswith(expected)


def test_provisioner_blocks_are_checked_with_their_plugins_model(tmp_path: Path, files: CAFiles) -> None:
    i = [p["type"] for p in files.config()["authority"]["provisioners"]].index("JWK")
    where = f"ca.json.authority.provisioners[{i}]"
    assert error(tmp_path, files, prov("encryptedKy", "x")) == (
        f"{where}.encryptedKy: unknown key (did you mean 'encryptedKey'?)"
    )
    assert error(tmp_path, files, prov("claims", {"enableSSHCa": True, "disableRenewl": True})).startswith(
        f"{where}.claims.disableRenewl: unknown key (did you mean 'disableRenewal'?)"
    )
    assert error(tmp_path, files, prov("options", {"x509": {"templateDat": {}}})) == (
        f"{where}.options.x509.templateDat: unknown key (did you mean 'templateData'?)"
    )
    assert (
        error(tmp_path, files, prov("option", {})) == f"{where}.option: unknown key (did you mean 'options'?)"
    )


def test_acme_block(tmp_path: Path, files: CAFiles) -> None:
    pytest.importorskip("plica_acme")

    def add(cfg: dict[str, Any]) -> None:
        cfg["authority"]["provisioners"].append({"type": "ACME", "name": "acme", "forceCNN": True})

    assert error(tmp_path, files, add).endswith(".forceCNN: unknown key (did you mean 'forceCN'?)")


def test_free_form_data_and_step_ca_spellings_load(tmp_path: Path, files: CAFiles) -> None:
    def edit(cfg: dict[str, Any]) -> None:
        block = next(p for p in cfg["authority"]["provisioners"] if p["type"] == "JWK")
        # templateData is what the template reads: anything goes
        block["options"] = {"x509": {"templateData": {"anything": {"at": ["all"]}}}}
        block["encryptedkey"] = block.pop("encryptedKey")  # Go matches JSON keys without case
        cfg["DNSNames"] = cfg.pop("dnsNames")

    snap = load(tmp_path, files, edit)
    assert snap is not None


def test_a_key_given_twice_in_two_spellings_is_an_error(tmp_path: Path, files: CAFiles) -> None:
    msg = error(tmp_path, files, at("DNSNames", ["x"]))
    assert msg.startswith("ca.json.dnsNames: given twice, as 'dnsNames' and 'DNSNames'")


def test_step_ca_keys_plica_ignores_are_listed_in_a_warning(
    tmp_path: Path, files: CAFiles, caplog: pytest.LogCaptureFixture
) -> None:
    def edit(cfg: dict[str, Any]) -> None:
        cfg["templates"] = {"ssh": {}}
        cfg["monitoring"] = {"newrelic": {}}
        cfg["authority"]["deploymentType"] = "standalone"
        cfg["db"]["badgerFileLoadingMode"] = "FileIO"

    with caplog.at_level(logging.WARNING, logger="plica.config"):
        load(tmp_path, files, edit)
    warned = " ".join(r.getMessage() for r in caplog.records if r.name == "plica.config")
    for path in ("ca.json.templates", "ca.json.monitoring", "ca.json.authority.deploymentType",
                 "ca.json.db.badgerFileLoadingMode"):  # fmt: skip
        assert f"{path} (" in warned, (path, warned)
    # and they are written back as they were
    data = files.config()
    edit(data)
    p = tmp_path / "ca.json"
    p.write_bytes(orjson.dumps(data))
    out = orjson.loads(config_mod.to_json(config_mod.load(p)))
    assert out["templates"] == {"ssh": {}} and out["authority"]["deploymentType"] == "standalone"


def test_a_top_level_block_named_like_an_installed_plugin_is_that_plugins(
    tmp_path: Path, files: CAFiles
) -> None:
    import importlib.metadata

    names = {ep.name for ep in importlib.metadata.entry_points(group="plica.provisioners")}
    assert "jwk" in names
    name = sorted(names)[0]
    snap = load(tmp_path, files, at(name, {"anything": "the plugin checks it"}))
    assert snap.config.extra[name] == {"anything": "the plugin checks it"}
    assert error(tmp_path, files, at("not-a-plugin-block", {})) == "ca.json.not-a-plugin-block: unknown key"


def test_a_new_model_field_is_known_and_a_class_can_declare_keys_it_reads_itself() -> None:
    from attrs import define

    @define(kw_only=True)
    class NewConfig(ProvisionerConfig):
        shiny: str = j("shinyNewField", default="")
        known_keys: ClassVar[frozenset[str]] = ProvisionerConfig.known_keys | {"readRaw"}

    got = config_mod.structure(
        {"type": "New", "name": "n", "shinyNewField": "x", "readRaw": 1, "id": "i"}, NewConfig, "p"
    )
    assert got.shiny == "x" and got.extra == {"readRaw": 1, "id": "i"}
    with pytest.raises(ConfigError) as e:
        config_mod.structure({"type": "New", "name": "n", "shinyNewFeld": "x"}, NewConfig, "p")
    assert str(e.value) == "p.shinyNewFeld: unknown key (did you mean 'shinyNewField'?)"


# ============================================================================ the docs' examples


def _json_examples() -> Iterator[tuple[str, Any]]:
    sources = [
        *sorted((REPO / "docs").rglob("*.md")),
        *sorted(REPO.glob("plugins/*/README.md")),
        REPO / "README.md",
    ]
    for src in sources:
        text = src.read_text()
        blocks = re.findall(r"```json\n(.*?)```", text, re.S)
        # the provisioners page writes each type's block on one line
        blocks += [line[line.index('{ "type"') :] for line in text.splitlines() if '{ "type": "' in line]
        for b in blocks:
            b = re.sub(r"\{ *(…|\.\.\.) *\}", "{}", b)
            b = re.sub(r"\[ *(…|\.\.\.) *\]", "[]", b)
            b = re.sub(r",\s*([}\]])", r" \1", b)
            for candidate in (b, "{" + b + "}"):
                try:
                    yield str(src.relative_to(REPO)), orjson.loads(candidate)
                    break
                except orjson.JSONDecodeError:
                    continue


def _check(value: Any, where: str, checked: list[str]) -> None:
    """Structure every block found in `value` with the class it would be loaded with; an unknown key fails."""
    if isinstance(value, list):
        for v in value:
            _check(v, where, checked)
        return
    if not isinstance(value, dict):
        return
    types = get_plugins().types
    cls: type | None = None
    if isinstance(value.get("type"), str) and "name" in value and value["type"].lower() in types:
        cls = types[value["type"].lower()].type.config_class
    for key, kind in (("authority", AuthorityConfig), ("db", DBConfig)):
        if isinstance(value.get(key), dict):
            _check_one({k: v for k, v in value[key].items() if k != "provisioners"}, kind, where, checked)
    if "address" in value and "authority" in value:
        cls = CAConfig
    if cls is not None:
        _check_one(value, cls, where, checked)
    for v in value.values():
        _check(v, where, checked)


def _check_one(value: dict[str, Any], cls: type, where: str, checked: list[str]) -> None:
    try:
        config_mod.structure(value, cls, where)
    except ConfigError as e:
        assert "unknown key" not in str(e) and "given twice" not in str(e), f"{where}: {e}"
    checked.append(f"{where}: {cls.__name__}")


def test_every_json_example_of_the_docs_has_only_known_keys() -> None:
    checked: list[str] = []
    for where, value in _json_examples():
        _check(value, where, checked)
    # the provisioners page's blocks of installed types, each plugin's README, the policy, storage, admin docs
    assert len(checked) >= 15, checked
