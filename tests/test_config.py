"""ca.json: what loads, what is kept, and errors that name the JSON path (kernel fields and provisioner
blocks alike, through the same loading the server does at start and on SIGHUP)."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson
import pytest

from plica import config as config_mod
from plica.authority import Authority
from plica.errors import ConfigError, PluginError
from plica.http.server import load_material
from plica.plugins import get_plugins
from plica.testing import CAFiles, make_ca, new_jwk_provisioner


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> CAFiles:
    return make_ca(tmp_path_factory.mktemp("config"))


def n_provisioners(files: CAFiles) -> int:
    """Where an appended block lands (make_ca adds more than `admin` when other plugins are installed)."""
    return len(files.config()["authority"]["provisioners"])


def write(tmp: Path, cfg: dict[str, Any]) -> Path:
    p = tmp / "ca.json"
    p.write_bytes(orjson.dumps(cfg))
    return p


def load_error(tmp: Path, files: CAFiles, edit: Callable[[dict[str, Any]], None]) -> ConfigError:
    cfg = files.config()
    edit(cfg)
    with pytest.raises(ConfigError) as e:
        config_mod.load(write(tmp, cfg))
    return e.value


def test_the_init_config_loads_and_resolves_paths(files: CAFiles) -> None:
    cfg = config_mod.load(files.config_path)
    assert cfg.home == files.home  # the parent of config/, as step's $STEPPATH
    assert cfg.resolve("certs/root_ca.crt") == files.home / "certs" / "root_ca.crt"
    assert cfg.resolve("/abs/x") == Path("/abs/x")
    assert cfg.roots == [str(files.root)]
    assert cfg.authority.backdate == "1m" and cfg.authority.disable_issued_at_check is False
    assert cfg.dns_names == ["127.0.0.1", "localhost"]


def test_keys_plica_does_not_act_on_survive_a_round_trip(tmp_path: Path, files: CAFiles) -> None:
    # (step-ca keys Plica accepts without acting on them; any other unknown key is an error:
    # tests/test_config_keys.py)
    cfg = files.config()
    cfg["metricsAddress"] = ":9100"
    cfg["logger"] = {"format": "json", "traceHeader": "X-Trace"}
    cfg["authority"]["deploymentType"] = "standalone"
    cfg["ssh"]["bastion"] = {"hostname": "bastion.example"}
    cfg["db"]["valueDir"] = "/tmp/x"
    cfg["authority"]["claims"] = {"maxTLSCertDuration": "48h"}
    out = orjson.loads(config_mod.to_json(config_mod.load(write(tmp_path, cfg))))
    assert out["metricsAddress"] == ":9100" and out["logger"] == cfg["logger"]
    assert out["authority"]["deploymentType"] == "standalone"
    assert out["ssh"]["bastion"] == {"hostname": "bastion.example"} and out["db"]["valueDir"] == "/tmp/x"
    assert out["authority"]["provisioners"] == cfg["authority"]["provisioners"]
    assert out["authority"]["claims"]["maxTLSCertDuration"] == "48h"
    # Loading what was written gives the same again.
    assert orjson.loads(config_mod.to_json(config_mod.load(write(tmp_path, out)))) == out


def _set(path: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(cfg: dict[str, Any]) -> None:
        *parents, last = path.split(".")
        d = cfg
        for p in parents:
            d = d.setdefault(p, {})
        if value is ...:
            d.pop(last, None)
        else:
            d[last] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "path", "fragment"),
    [
        (_set("address", ...), "ca.json.address", "required"),
        (_set("address", 9000), "ca.json.address", "string"),
        (_set("dnsNames", "localhost"), "ca.json.dnsNames", "array"),
        (_set("dnsNames", ["ok", 5]), "ca.json.dnsNames[1]", "string"),
        (_set("root", 5), "ca.json.root", "string"),
        (_set("authority.backdate", "-1m"), "ca.json.authority.backdate", "positive"),
        (_set("authority.backdate", "a while"), "ca.json.authority.backdate", "invalid duration"),
        (
            _set("authority.disableIssuedAtCheck", "yes"),
            "ca.json.authority.disableIssuedAtCheck",
            "true or false",
        ),
        (_set("authority.provisioners", {}), "ca.json.authority.provisioners", "array"),
        (_set("authority.template", {"country": 1}), "ca.json.authority.template.country", "string"),
        (_set("db.type", "badgerv2"), "ca.json.db.type", "badgerv2"),
        (_set("tls.minVersion", "1.2"), "ca.json.tls.minVersion", "number"),
        (_set("tls.cipherSuites", "ALL"), "ca.json.tls.cipherSuites", "array"),
        (_set("ssh", []), "ca.json.ssh", "object"),
        (
            _set("authority.claims", {"enableSSHCA": 1}),
            "ca.json.authority.claims.enableSSHCA",
            "true or false",
        ),
    ],
)
def test_kernel_field_errors_name_the_path(
    tmp_path: Path, files: CAFiles, edit: Callable[[dict[str, Any]], None], path: str, fragment: str
) -> None:
    err = load_error(tmp_path, files, edit)
    assert err.path == path, str(err)
    assert fragment in err.message
    assert str(err).startswith(f"{path}: ")


def test_several_errors_are_all_reported(tmp_path: Path, files: CAFiles) -> None:
    def edit(cfg: dict[str, Any]) -> None:
        cfg["address"] = 1
        cfg["dnsNames"] = "x"

    err = load_error(tmp_path, files, edit)
    assert "ca.json.address" in str(err) and "ca.json.dnsNames" in str(err) and "1 more" in str(err)


@pytest.mark.parametrize(
    ("block", "field"),
    [
        ("not an object", ""),
        ({"name": "x"}, ".type"),
        ({"type": "JWK", "name": ""}, ".name"),
        ({"type": "JWK"}, ".name"),
    ],
)
def test_provisioner_block_basics(tmp_path: Path, files: CAFiles, block: Any, field: str) -> None:
    err = load_error(tmp_path, files, lambda cfg: cfg["authority"]["provisioners"].append(block))
    assert err.path == f"ca.json.authority.provisioners[{n_provisioners(files)}]{field}"


def test_unreadable_or_invalid_json(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="cannot read"):
        config_mod.load(tmp_path / "nope.json")
    bad = tmp_path / "ca.json"
    bad.write_text('{"address": ":9000",')
    with pytest.raises(ConfigError, match="not valid JSON"):
        config_mod.load(bad)


# ============================================================================ provisioner blocks, via plugins


def snapshot_error(tmp: Path, files: CAFiles, edit: Callable[[dict[str, Any]], None]) -> Exception:
    """Load a config the way `plica start` and SIGHUP do (plugins structure and load each block)."""
    cfg_json = files.config()
    edit(cfg_json)
    cfg = config_mod.load(write(tmp, cfg_json))
    authority = Authority(
        material=load_material(cfg, files.password),
        storage=None,
        plugins=get_plugins(),
        start_time=0,  # type: ignore[arg-type]
    )
    with pytest.raises((ConfigError, PluginError)) as e:
        authority.load_snapshot(cfg)
    return e.value


def _prov0(key: str, value: Any) -> Callable[[dict[str, Any]], None]:
    def edit(cfg: dict[str, Any]) -> None:
        if value is ...:
            del cfg["authority"]["provisioners"][0][key]
        else:
            cfg["authority"]["provisioners"][0][key] = value

    return edit


@pytest.mark.parametrize(
    ("edit", "prefix", "fragment"),
    [
        (_prov0("key", "not a jwk"), "ca.json.authority.provisioners[0].key: ", "object"),
        (_prov0("key", ...), "ca.json.authority.provisioners[0].key: ", "required"),
        (_prov0("key", {"kty": "EC", "crv": "P-256", "x": "AA"}), "ca.json.authority.provisioners[0].key: ", "JWK"),
        (_prov0("key", {"kty": "EC", "crv": "P-256", "x": "AA", "y": "AA", "d": "AA"}),
         "ca.json.authority.provisioners[0].key: ", ""),
        (_prov0("encryptedKey", 5), "ca.json.authority.provisioners[0].encryptedKey: ", "string"),
        (_prov0("claims", {"maxTLSCertDuration": "1m", "minTLSCertDuration": "5m"}),
         "ca.json.authority.provisioners[0].claims.maxTLSCertDuration: ", "shorter"),
        (_prov0("claims", {"defaultTLSCertDuration": 5}),
         "ca.json.authority.provisioners[0].claims.defaultTLSCertDuration: ", "string"),
        (_prov0("options", "x"), "ca.json.authority.provisioners[0].options: ", "object"),
    ],
)  # fmt: skip
def test_provisioner_errors_name_the_path(
    tmp_path: Path, files: CAFiles, edit: Callable[[dict[str, Any]], None], prefix: str, fragment: str
) -> None:
    err = snapshot_error(tmp_path, files, edit)
    assert isinstance(err, ConfigError)
    assert str(err).startswith(prefix), str(err)
    assert fragment in str(err)


def test_a_private_key_in_key_is_refused(tmp_path: Path, files: CAFiles) -> None:
    from plica.jose import private_jwk

    block, prov = new_jwk_provisioner("leaky")
    block["key"] = {**block["key"], **private_jwk(prov.private)}
    err = snapshot_error(tmp_path, files, lambda cfg: cfg["authority"]["provisioners"].append(block))
    assert str(err).startswith(f"ca.json.authority.provisioners[{n_provisioners(files)}].key: ")
    assert "public key" in str(err)
    assert block["key"]["d"] not in str(err)  # the secret is not repeated back


def test_duplicates_and_unknown_types(tmp_path: Path, files: CAFiles) -> None:
    def dup_name(cfg: dict[str, Any]) -> None:
        block, _ = new_jwk_provisioner("admin")
        cfg["authority"]["provisioners"].append(block)

    err = snapshot_error(tmp_path, files, dup_name)
    assert str(err).startswith(f"ca.json.authority.provisioners[{n_provisioners(files)}].name: ")
    assert "duplicated" in str(err)

    err = snapshot_error(
        tmp_path,
        files,
        lambda cfg: cfg["authority"]["provisioners"].append({"type": "Frobnicator", "name": "f"}),
    )
    assert isinstance(err, PluginError)
    assert str(err).startswith(f"ca.json.authority.provisioners[{n_provisioners(files)}]: ")
    assert "'Frobnicator'" in str(err)
    assert "is not available: no installed plugin provides it" in str(err)


def test_provisioner_types_match_case_insensitively(tmp_path: Path, files: CAFiles) -> None:
    cfg_json = files.config()
    block, _ = new_jwk_provisioner("lower")
    block["type"] = "jwk"
    cfg_json["authority"]["provisioners"].append(block)
    cfg = config_mod.load(write(tmp_path, cfg_json))
    a = Authority(
        material=load_material(cfg, files.password), storage=None, plugins=get_plugins(), start_time=0
    )  # type: ignore[arg-type]
    snap = a.load_snapshot(cfg)
    assert snap.provisioners.by_name["lower"].type.name == "JWK"
