"""`plica init`: a new CA in a directory, laid out as step's ($STEPPATH) is.

<home>/config/ca.json        configuration
<home>/config/defaults.json  client defaults (ca-url, root, fingerprint)
<home>/certs/                root_ca.crt, intermediate_ca.crt, ssh_*_ca_key.pub
<home>/secrets/              encrypted private keys (0600)
<home>/db/plica.db           the SQLite database (created on first start)
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import orjson
from attrs import frozen
from cryptography.hazmat.primitives import serialization

from plica.keys import generate, write_key, write_private_file
from plica.pki import create_intermediate, create_root, fingerprint
from plica.plugins import Plugins


@frozen
class InitOptions:
    home: Path
    name: str = "Plica"
    dns_names: tuple[str, ...] = ("localhost", "127.0.0.1", "::1")
    address: str = ":9000"
    provisioner: str = "admin"
    kty: str = "EC"
    ssh: bool = False
    password: bytes = b""
    provisioner_password: bytes | None = None
    insecure_address: str = ""


@frozen
class InitResult:
    config_path: Path
    root_path: Path
    fingerprint: str
    ca_url: str


def init_ca(opts: InitOptions, plugins: Plugins) -> InitResult:
    home = opts.home
    cfg_path = home / "config" / "ca.json"
    if cfg_path.exists():
        raise FileExistsError(f"{cfg_path} already exists: refusing to overwrite a CA")
    for d in ("config", "certs", "db"):
        (home / d).mkdir(parents=True, exist_ok=True)
    (home / "secrets").mkdir(parents=True, exist_ok=True)
    os.chmod(home / "secrets", 0o700)
    pw = opts.password or None

    size = 3072 if opts.kty.upper() == "RSA" else 2048
    root_key = generate(opts.kty, size=size)
    root = create_root(root_key, opts.name)
    inter_key = generate(opts.kty, size=size)
    inter = create_intermediate(inter_key, opts.name, root, root_key)
    root_path = home / "certs" / "root_ca.crt"
    root_path.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    (home / "certs" / "intermediate_ca.crt").write_bytes(inter.public_bytes(serialization.Encoding.PEM))
    write_key(home / "secrets" / "root_ca_key", root_key, pw)
    write_key(home / "secrets" / "intermediate_ca_key", inter_key, pw)

    cfg: dict[str, Any] = {
        "root": str(root_path),
        "federatedRoots": [],
        "crt": str(home / "certs" / "intermediate_ca.crt"),
        "key": str(home / "secrets" / "intermediate_ca_key"),
        "address": opts.address,
        "dnsNames": list(opts.dns_names),
        "logger": {"format": "text"},
        "db": {"type": "sqlite", "dataSource": str(home / "db" / "plica.db")},
        "authority": {"provisioners": []},
        "tls": {
            "cipherSuites": [
                "TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256",
                "TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256",
            ],
            "minVersion": 1.2,
            "maxVersion": 1.3,
            "renegotiation": False,
        },
        "commonName": f"{opts.name} Online CA",
    }
    if opts.insecure_address:
        cfg["insecureAddress"] = opts.insecure_address
    if opts.ssh:
        for kind in ("host", "user"):
            k = generate("OKP")
            write_key(home / "secrets" / f"ssh_{kind}_ca_key", k, pw)
            pub = k.public_key().public_bytes(
                serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH
            )
            (home / "certs" / f"ssh_{kind}_ca_key.pub").write_bytes(pub + b"\n")
        cfg["ssh"] = {
            "hostKey": str(home / "secrets" / "ssh_host_ca_key"),
            "userKey": str(home / "secrets" / "ssh_user_ca_key"),
        }

    provs: list[dict[str, Any]] = cfg["authority"]["provisioners"]
    if "jwk" in plugins.types:
        block = plugins.types["jwk"].hooks["provisioner_block_from_cli"](
            provisioner_type="JWK",
            name=opts.provisioner,
            options={"create": True, "password": opts.provisioner_password or opts.password},
            existing=None,
        )
        if opts.ssh:
            block["claims"] = {"enableSSHCA": True}
        provs.append(block)
    if opts.ssh and "sshpop" in plugins.types:
        provs.append({"type": "SSHPOP", "name": "sshpop", "claims": {"enableSSHCA": True}})

    cfg_path.write_bytes(orjson.dumps(cfg, option=orjson.OPT_INDENT_2) + b"\n")
    host = opts.dns_names[0] if opts.dns_names else "localhost"
    port = opts.address.rpartition(":")[2]
    ca_url = f"https://{host}:{port}"
    fp = fingerprint(root)
    defaults = {"ca-url": ca_url, "ca-config": str(cfg_path), "fingerprint": fp, "root": str(root_path)}
    (home / "config" / "defaults.json").write_bytes(
        orjson.dumps(defaults, option=orjson.OPT_INDENT_2) + b"\n"
    )
    return InitResult(config_path=cfg_path, root_path=root_path, fingerprint=fp, ca_url=ca_url)


def write_password_file(path: Path, password: bytes) -> None:
    write_private_file(path, password + b"\n")
