"""Editing ca.json safely: read-modify-validate-write under a lock, atomically, with a backup.

Tools edit the file as a plain JSON document (not through `plica.config`'s classes) so that every field
they do not know — a newer step-ca's, a plugin's, a comment-like `"x-note"` — survives byte for byte in
meaning. Before a candidate replaces the file it is loaded the way `plica start` and SIGHUP load it
(`plica.config`, then `plica.snapshot.load_snapshot`: every provisioner through its installed plugin, and
the authority's name policy), so a change that would not load is refused with the loader's error and the
file stays untouched.

    with edit_config(path) as doc:      # doc is the parsed JSON object
        doc.data["authority"]["provisioners"].append(block)
    # leaving the block validates, writes ca.json.bak, then replaces ca.json atomically
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Literal

import orjson
from attrs import define
from cryptography import x509
from cryptography.hazmat.primitives.serialization import load_ssh_public_key

from plica import config as config_mod
from plica.config import CAConfig
from plica.errors import ConfigError, PluginError
from plica.keys import KeyDecryptError, load_key
from plica.pki import load_certs
from plica.plugins import Plugins, get_plugins
from plica.snapshot import load_snapshot
from plica.storage import db_source, open_storage
from plica.types import Audiences, Provisioner

BACKUP_SUFFIX = ".bak"


class EditError(Exception):
    """The edit could not be made; the message says why (the file was left as it was)."""


@define
class ConfigDocument:
    """ca.json as JSON, plus where it lives."""

    path: Path
    data: dict[str, Any]

    @property
    def provisioners(self) -> list[dict[str, Any]]:
        auth = self.data.setdefault("authority", {})
        if not isinstance(auth, dict):
            raise EditError(f"{self.path}: 'authority' is not a JSON object")
        provs = auth.setdefault("provisioners", [])
        if not isinstance(provs, list):
            raise EditError(f"{self.path}: 'authority.provisioners' is not a JSON array")
        return provs

    def find(self, name: str) -> tuple[int, dict[str, Any]] | None:
        for i, p in enumerate(self.provisioners):
            if isinstance(p, dict) and p.get("name") == name:
                return i, p
        return None


def read_document(path: Path) -> ConfigDocument:
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise EditError(f"cannot read {path}: {e.strerror}") from None
    try:
        data = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        raise EditError(f"{path} is not valid JSON: {e}") from None
    if not isinstance(data, dict):
        raise EditError(f"{path} is not a JSON object")
    return ConfigDocument(path=path, data=data)


def render(data: dict[str, Any]) -> bytes:
    return orjson.dumps(data, option=orjson.OPT_INDENT_2) + b"\n"


@contextlib.contextmanager
def edit_config(path: Path, *, plugins: Plugins | None = None) -> Iterator[ConfigDocument]:
    """Lock ca.json against concurrent edits, yield it, then validate and write what the caller changed.
    Raises EditError (with the loader's message for an invalid result) and leaves the file unchanged."""
    # Edit the file a symlinked ca.json points to, so the link stays a link (as `plica start` resolves it).
    path = Path(path).resolve()
    lock_path = path.with_name(path.name + ".lock")
    with open(lock_path, "a+b") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        doc = read_document(path)
        before = render(doc.data)
        yield doc
        after = render(doc.data)
        if after == before:
            return
        validate_document(doc, plugins or get_plugins())
        write_atomically(path, after)


def write_atomically(path: Path, data: bytes) -> None:
    """Back up the current file to `<path>.bak`, then replace `path` by a fully written, fsynced temp file
    in the same directory (a reader sees the old file or the new one, never a mix). Keeps the file's mode."""
    try:
        st = path.stat()
        mode = st.st_mode & 0o7777
    except FileNotFoundError:
        st, mode = None, 0o600
    if st is not None:
        _replace_with(path.with_name(path.name + BACKUP_SUFFIX), path.read_bytes(), mode)
    _replace_with(path, data, mode)


def _replace_with(path: Path, data: bytes, mode: int) -> None:
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        os.fchmod(fd, mode)
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    dfd = os.open(path.parent, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)


# -------------------------------------------------------------------------------------------- validation


def validate_document(doc: ConfigDocument, plugins: Plugins) -> CAConfig:
    """Load `doc` as `plica start` would (config, claims, every provisioner through its plugin, the
    authority's name policy), without the CA's private keys. Raises EditError naming the JSON path."""
    try:
        cfg = config_mod.structure(doc.data, CAConfig, "ca.json")
        cfg.path = doc.path.resolve()
        config_mod.validate(cfg)
        load_snapshot(cfg, plugins, lambda audiences: _OfflineView(cfg, audiences))
    except (ConfigError, PluginError) as e:
        raise EditError(f"the new configuration would not load, so {doc.path} was not changed: {e}") from None
    except (OSError, ValueError) as e:
        raise EditError(f"the new configuration would not load, so {doc.path} was not changed: {e}") from None
    return cfg


class _OfflineView:
    """What a plugin sees of the authority while the CLI validates a candidate ca.json: the audiences,
    roots and intermediates of that config and the SSH CA public keys, read from public files only (the
    CLI has no business decrypting CA keys). The storage is the configured one, unopened: loading never
    touches it (`provisioner_load` is synchronous)."""

    def __init__(self, cfg: CAConfig, audiences: Audiences) -> None:
        self._cfg = cfg
        self.audiences = audiences
        self.roots: list[x509.Certificate] = [c for r in cfg.roots for c in load_certs(cfg.resolve(r))]
        self.intermediates: list[x509.Certificate] = load_certs(cfg.resolve(cfg.crt)) if cfg.crt else []
        self.intermediate_handle = None  # the CLI opens no CA key
        try:
            self.storage: Any = open_storage(*db_source(cfg))
        except ImportError:  # e.g. PostgreSQL without asyncpg on the admin's machine
            self.storage = None
        except Exception as e:  # the engine refused its dataSource: `plica start` would too
            raise ConfigError("ca.json.db.dataSource", str(e)) from None
        self.start_time = time.time()
        self.disable_issued_at_check = cfg.authority.disable_issued_at_check
        self.config = cfg

    def open_key(self, uri: str, *, what: str) -> None:
        return None  # nor a provisioner's key in the CA's key manager

    def ssh_public_keys(self, kind: Literal["user", "host"]) -> list[Any]:
        ssh = self._cfg.ssh
        key_path = (ssh.user_key if kind == "user" else ssh.host_key) if ssh else None
        if not key_path:
            return []
        # step's and plica's layouts keep the public half next to the key or in certs/ beside secrets/.
        key_file = self._cfg.resolve(key_path)
        for candidate in (
            key_file.with_name(key_file.name + ".pub"),
            key_file.parent.parent / "certs" / f"ssh_{kind}_ca_key.pub",
            self._cfg.home / "certs" / f"ssh_{kind}_ca_key.pub",
        ):
            if candidate.is_file():
                return [load_ssh_public_key(candidate.read_bytes())]
        # No public file: the key itself, if it opens without a password or with ca.json's own.
        try:
            return [load_key(key_file, self._cfg.password.encode() or None).public_key()]
        except (OSError, KeyDecryptError):
            return []

    def provisioners_of_type(self, type_name: str) -> list[Provisioner]:
        return []

    def provisioner_by_name(self, name: str) -> Provisioner | None:
        return None
