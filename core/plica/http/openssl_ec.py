"""EC keys in Python's `ssl` (OpenSSL 3.0) decoded and used through OpenSSL's own built-in EC method
instead of its provider decoders: a full mTLS handshake costs ~30 % less server CPU.

Why: OpenSSL 3.0 turns the public key of every certificate it parses (`d2i_X509`, twice per mTLS
handshake: the client's leaf and intermediate) into a key through `OSSL_DECODER_CTX_new_for_pkey`, which
builds a chain of provider decoders for each key anew: ~1.2 million instructions per certificate, more than
the ECDSA check of its signature (callgrind, bench/http_instructions.py). Only when an ENGINE claims the
key type does `x509_pubkey_decode` take the direct path that OpenSSL 1.1 always took (the built-in EC
method's `pub_decode`). So this registers, through ctypes into the libcrypto that `_ssl` is linked against,
a minimal ENGINE whose only content is the built-in EC `EVP_PKEY_METHOD` (`EVP_PKEY_meth_find`): no
algorithm of its own, OpenSSL's own EC code throughout, and the checks the same (the point is decoded and
checked on the curve by `o2i_ECPublicKey`, the signatures by `ECDSA_do_verify`).

Where: only Python's `ssl` in this process (the server's TLS, and the TLS clients of the ACME validator);
`cryptography` has its own OpenSSL and is untouched. Only on OpenSSL 3.0 (measured there; 3.1 made that
setup several times cheaper and 3.2 caches it, openssl/openssl#21426; OpenSSL 4 has no ENGINEs), only where
it is built with ENGINE support, and not at all with `PLICA_TLS_EC_ENGINE=off`.
"""

from __future__ import annotations

import ctypes
import logging
import os
import ssl
from pathlib import Path
from typing import Any

from plica.errors import ConfigError

log = logging.getLogger("plica.server")

ENV = "PLICA_TLS_EC_ENGINE"
_EVP_PKEY_EC = 408  # NID_X9_62_id_ecPublicKey

# int (*)(ENGINE *, EVP_PKEY_METHOD **pmeth, const int **nids, int nid), OpenSSL's ENGINE_PKEY_METHS_PTR
_PkeyMeths = ctypes.CFUNCTYPE(
    ctypes.c_int,
    ctypes.c_void_p,
    ctypes.POINTER(ctypes.c_void_p),
    ctypes.POINTER(ctypes.POINTER(ctypes.c_int)),
    ctypes.c_int,
)


class _Engine:
    """What OpenSSL holds pointers into for the rest of the process: the callback and the NID list."""

    def __init__(self, lib: ctypes.CDLL) -> None:
        self.lib = lib
        self.nids = (ctypes.c_int * 1)(_EVP_PKEY_EC)
        self.meth = lib.EVP_PKEY_meth_find(_EVP_PKEY_EC)
        self.callback = _PkeyMeths(self._pkey_meths)
        self.handle: int | None = None
        self.calls = 0  # how often OpenSSL took the EC method from here (tests read it)

    def _pkey_meths(self, _e: int, pmeth: Any, nids: Any, nid: int) -> int:
        # Called by OpenSSL: with pmeth NULL it asks for the NIDs (returns their count), else for one method.
        self.calls += 1
        if not pmeth:
            nids[0] = ctypes.cast(self.nids, ctypes.POINTER(ctypes.c_int))
            return len(self.nids)
        if nid == _EVP_PKEY_EC:
            pmeth[0] = self.meth
            return 1
        pmeth[0] = None
        return 0


_installed: _Engine | None = None
_kept: list[_Engine] = []


def wanted() -> bool:
    """Whether this process should install the engine: `PLICA_TLS_EC_ENGINE` is auto (the default) or
    on, and Python's `ssl` runs on OpenSSL 3.0 (with `on`, any OpenSSL 3)."""
    choice = os.environ.get(ENV, "auto").lower()
    if choice not in ("auto", "on", "off"):
        raise ConfigError(ENV, f"unknown value {choice!r} (auto, on or off)")
    major, minor = ssl.OPENSSL_VERSION_INFO[:2]
    if choice == "off" or major != 3:
        return False
    return choice == "on" or minor == 0


def _libcrypto() -> ctypes.CDLL | None:
    """The libcrypto `_ssl` is linked against (by its path in this process's memory map, so that a
    Python built against its own OpenSSL gets that one), checked by its version number."""
    candidates = []
    try:
        for line in Path("/proc/self/maps").read_text().splitlines():
            path = line.split(maxsplit=5)[-1]
            if "libcrypto" in Path(path).name and path not in candidates:
                candidates.append(path)
    except OSError:
        pass
    candidates.append("libcrypto.so.3")
    for name in candidates:
        try:
            lib = ctypes.CDLL(name)
            lib.OpenSSL_version_num.restype = ctypes.c_ulong
        except (OSError, AttributeError):
            continue
        if lib.OpenSSL_version_num() == ssl.OPENSSL_VERSION_NUMBER:
            return lib
    return None


def install() -> bool:
    """Register the engine for EC keys in this process; True once it is (later calls change nothing).
    False where it does not apply or the libcrypto lacks ENGINEs; the server then runs as before."""
    global _installed
    if _installed is not None:
        return True
    if not wanted():
        return False
    lib = _libcrypto()
    if lib is None:
        log.info("TLS: libcrypto of Python's ssl not found; EC keys decoded by OpenSSL's providers")
        return False
    try:
        for fn in ("ENGINE_new", "EVP_PKEY_meth_find"):
            getattr(lib, fn).restype = ctypes.c_void_p
        lib.EVP_PKEY_meth_find.argtypes = [ctypes.c_int]
        for fn in ("ENGINE_set_id", "ENGINE_set_name"):
            getattr(lib, fn).argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        lib.ENGINE_set_pkey_meths.argtypes = [ctypes.c_void_p, _PkeyMeths]
        lib.ENGINE_set_default_pkey_meths.argtypes = [ctypes.c_void_p]
        lib.ENGINE_get_pkey_meth_engine.restype = ctypes.c_void_p
        lib.ENGINE_get_pkey_meth_engine.argtypes = [ctypes.c_int]
        lib.ENGINE_finish.argtypes = [ctypes.c_void_p]
    except AttributeError:  # built with no-engine
        return False
    engine = _Engine(lib)
    _kept.append(engine)  # referenced by OpenSSL from the first call below, whatever follows
    e = lib.ENGINE_new()
    if not e or not engine.meth:
        return False
    # The process keeps the engine (and this object, which OpenSSL calls back into) to its end: it is never
    # freed, so OpenSSL's own clean-up at exit never calls back into an interpreter that has finished.
    ok = (
        lib.ENGINE_set_id(e, b"plica-ec")
        and lib.ENGINE_set_name(e, b"OpenSSL's built-in EC method, for direct key decoding")
        and lib.ENGINE_set_pkey_meths(e, engine.callback)
        and lib.ENGINE_set_default_pkey_meths(e)
    )
    if not ok:
        return False
    engine.handle = e
    _installed = engine
    return True


def calls() -> int:
    """How many times OpenSSL has asked the installed engine for its EC method (0 when not installed)."""
    return _installed.calls if _installed is not None else 0


def active() -> bool:
    """Whether OpenSSL (Python's `ssl`) now hands EC keys to the engine this module installed."""
    if _installed is None:
        return False
    lib = _installed.lib
    e = lib.ENGINE_get_pkey_meth_engine(_EVP_PKEY_EC)
    if not e:
        return False
    lib.ENGINE_finish(e)
    return bool(e == _installed.handle)
