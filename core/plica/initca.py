"""`plica init`: a new CA in a directory, laid out as step's ($STEPPATH) is.

<home>/config/ca.json        configuration
<home>/config/defaults.json  client defaults (ca-url, root, fingerprint)
<home>/certs/                root_ca.crt, intermediate_ca.crt, ssh_*_ca_key.pub
<home>/secrets/              encrypted private keys (0600); none with --kms (the keys are in the token)
<home>/db/plica.db           the SQLite database (created on first start)
"""

from __future__ import annotations

import logging
import os
from pathlib import Path
from typing import Any

import orjson
from attrs import frozen
from cryptography.hazmat.primitives import serialization

from plica.errors import ConfigError
from plica.jose import PrivateKey
from plica.keys import generate, load_key, write_key, write_private_file
from plica.kms import KeyManager, KeySpec, KMSConfig, Signer, open_kms, redact_uri
from plica.pki import create_intermediate, create_root, fingerprint, load_certs
from plica.plugins import Plugins

log = logging.getLogger("plica.init")


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
    # `--kms URI`: the CA's keys are created by that key manager (step's `step ca init --kms`), e.g.
    # "pkcs11:module-path=/usr/lib/softhsm/libsofthsm2.so;token=plica?pin-source=file:/etc/plica/pin".
    kms: str | None = None
    # An offline root (its certificate and encrypted key file): the root key is not created in the kms.
    root_cert: Path | None = None
    root_key: Path | None = None


@frozen
class InitResult:
    config_path: Path
    root_path: Path
    fingerprint: str
    ca_url: str


# Where `plica init --kms` puts each key: step-pkcs11-init's objects (ids 7330-7333).
KMS_KEY_URIS = {
    "root": "pkcs11:id=7330;object=root-key",
    "intermediate": "pkcs11:id=7331;object=intermediate-key",
    "ssh-host": "pkcs11:id=7332;object=ssh-host-key",
    "ssh-user": "pkcs11:id=7333;object=ssh-user-key",
}


def kms_type_of(uri: str) -> str:
    """The key manager a `--kms` URI names by its scheme (`pkcs11:...` → pkcs11)."""
    scheme, sep, _ = uri.partition(":")
    if not sep or not scheme:
        raise ConfigError("--kms", f"{redact_uri(uri)!r} is not a key manager URI (e.g. pkcs11:...)")
    return scheme.lower()


class _Made:
    """What init has made so far, so that a failure can take all of it back."""

    def __init__(self) -> None:
        self.files: list[Path] = []
        self.dirs: list[Path] = []
        self.keys: list[str] = []

    def mkdir(self, d: Path) -> None:
        missing = [p for p in [d, *d.parents] if not p.exists()]
        d.mkdir(parents=True, exist_ok=True)
        self.dirs.extend(missing)

    def undo(self, manager: KeyManager | None) -> None:
        for uri in reversed(self.keys):
            try:
                manager.delete_key(uri)  # type: ignore[union-attr]
            except Exception as e:  # undo as much as can be undone; say what is left
                log.error("could not remove key %s after a failed init: %s", redact_uri(uri), e)
        for f in reversed(self.files):
            f.unlink(missing_ok=True)
        for d in sorted(self.dirs, key=lambda p: len(p.parts), reverse=True):
            try:
                d.rmdir()
            except OSError:
                pass


def init_ca(opts: InitOptions, plugins: Plugins) -> InitResult:
    home = opts.home
    cfg_path = home / "config" / "ca.json"
    if cfg_path.exists():
        raise FileExistsError(f"{cfg_path} already exists: refusing to overwrite a CA")
    made = _Made()
    manager: KeyManager | None = None
    try:
        if opts.kms:
            manager = open_kms(
                KMSConfig(type=kms_type_of(opts.kms), uri=opts.kms, home=home, password=opts.password or None)
            )
        return _init(opts, plugins, made, manager)
    except BaseException:
        made.undo(manager)
        raise
    finally:
        if manager is not None:
            manager.close()


def _init(opts: InitOptions, plugins: Plugins, made: _Made, manager: KeyManager | None) -> InitResult:
    home = opts.home
    cfg_path = home / "config" / "ca.json"
    for d in ("config", "certs", "db", "secrets"):
        made.mkdir(home / d)
    os.chmod(home / "secrets", 0o700)
    pw = opts.password or None

    def write(path: Path, data: bytes) -> None:
        made.files.append(path)
        path.write_bytes(data)

    def write_secret(path: Path, key: PrivateKey) -> None:
        made.files.append(path)
        write_key(path, key, pw)

    size = 3072 if opts.kty.upper() == "RSA" else 2048
    spec = KeySpec(opts.kty.upper(), size=size)

    def kms_key(role: str, key_spec: KeySpec) -> Signer:
        assert manager is not None
        uri = KMS_KEY_URIS[role]
        # Recorded once made: a key that was already there (create_key refuses it) is not init's to remove.
        key = manager.create_key(uri, key_spec)
        made.keys.append(uri)
        return Signer(key, what=f"{role} key")

    root_key: PrivateKey | Signer
    if opts.root_cert is not None and opts.root_key is not None:
        roots = load_certs(opts.root_cert)
        root = roots[0]
        root_key = load_key(opts.root_key, pw)
        if root_key.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ) != root.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        ):
            raise ConfigError("--root-key", "the root key does not match the root certificate")
    else:
        root_key = kms_key("root", spec) if manager is not None else generate(opts.kty, size=size)
        root = create_root(root_key, opts.name)
    inter_key: PrivateKey | Signer = (
        kms_key("intermediate", spec) if manager is not None else generate(opts.kty, size=size)
    )
    inter = create_intermediate(inter_key, opts.name, root, root_key)
    root_path = home / "certs" / "root_ca.crt"
    write(root_path, root.public_bytes(serialization.Encoding.PEM))
    write(home / "certs" / "intermediate_ca.crt", inter.public_bytes(serialization.Encoding.PEM))
    if manager is None:
        assert not isinstance(root_key, Signer) and not isinstance(inter_key, Signer)
        write_secret(home / "secrets" / "root_ca_key", root_key)
        write_secret(home / "secrets" / "intermediate_ca_key", inter_key)

    cfg: dict[str, Any] = {
        "root": str(root_path),
        "federatedRoots": [],
        "crt": str(home / "certs" / "intermediate_ca.crt"),
        "key": KMS_KEY_URIS["intermediate"] if manager else str(home / "secrets" / "intermediate_ca_key"),
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
    if manager is not None:
        assert opts.kms is not None
        cfg["kms"] = {"type": kms_type_of(opts.kms), "uri": opts.kms}
    if opts.insecure_address:
        cfg["insecureAddress"] = opts.insecure_address
    if opts.ssh:
        ssh_cfg: dict[str, str] = {}
        # EC P-256 SSH CA keys, as `step ca init --ssh` makes: a key type every PKCS#11 token has (Ed25519
        # is not), and one OpenSSL signs with in less time than Ed25519 (~28 against ~35-50 µs here).
        for kind in ("host", "user"):
            pub: Any
            if manager is not None:
                pub = kms_key(f"ssh-{kind}", KeySpec("EC", "P-256")).public_key
                ssh_cfg[f"{kind}Key"] = KMS_KEY_URIS[f"ssh-{kind}"]
            else:
                k = generate("EC")
                write_secret(home / "secrets" / f"ssh_{kind}_ca_key", k)
                pub = k.public_key()
                ssh_cfg[f"{kind}Key"] = str(home / "secrets" / f"ssh_{kind}_ca_key")
            line = pub.public_bytes(serialization.Encoding.OpenSSH, serialization.PublicFormat.OpenSSH)
            write(home / "certs" / f"ssh_{kind}_ca_key.pub", line + b"\n")
        cfg["ssh"] = ssh_cfg

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

    write(cfg_path, orjson.dumps(cfg, option=orjson.OPT_INDENT_2) + b"\n")
    if opts.kms and "pin-value=" in opts.kms.lower():
        os.chmod(cfg_path, 0o600)  # ca.json holds the token's PIN (step's form); pin-source keeps it out
    host = opts.dns_names[0] if opts.dns_names else "localhost"
    port = opts.address.rpartition(":")[2]
    ca_url = f"https://{host}:{port}"
    fp = fingerprint(root)
    defaults = {"ca-url": ca_url, "ca-config": str(cfg_path), "fingerprint": fp, "root": str(root_path)}
    write(home / "config" / "defaults.json", orjson.dumps(defaults, option=orjson.OPT_INDENT_2) + b"\n")
    return InitResult(config_path=cfg_path, root_path=root_path, fingerprint=fp, ca_url=ca_url)


def write_password_file(path: Path, password: bytes) -> None:
    write_private_file(path, password + b"\n")
