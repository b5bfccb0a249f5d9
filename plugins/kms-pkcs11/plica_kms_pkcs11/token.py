"""One PKCS#11 token: its module, a logged-in session, and a pool of sessions that sign.

python-pkcs11 initialises a module with `C_Initialize(NULL)`, which tells it that no two threads will call it
at once (SoftHSM2 then answers concurrent signatures with CKR_GENERAL_ERROR). The module is initialised again
here with CKF_OS_LOCKING_OK. Even so, not every module signs on two sessions at once (tpm2-pkcs11 1.9 shares
one TPM context between sessions and fails with "Esys called in bad sequence"), so calls into a module known
to fail that way take turns; any other module's sessions sign in parallel (SoftHSM2 and network HSMs take
them). The kms block's `"parallel"` overrides this either way.

The token can go away while the CA runs (removed, its module failing, its PIN changed). The first failed call
marks the connection broken and the key unavailable; later calls try to connect again, at most once a
second, and the first that succeeds heals the CA. A PIN the token refused is not tried again until the PIN
changes (a `pin-source` file is read again on each attempt), so that retries never lock the token.

A PKCS#11 module must not be used across fork() (PKCS#11 v2.40 §6.7.7), and some cannot even be loaded again
in a child of a process that used them (tpm2-pkcs11 over tpm2-abrmd: GLib's D-Bus state is left behind in
the child and its connection times out). So a process that has not connected yet checks the token and
reads its keys' public halves in a short-lived child process (`probe`), and connects itself on first use:
`plica start`'s master validates the configuration without ever loading the module, and every worker it
forks opens the module afresh.
"""

from __future__ import annotations

import ctypes
import logging
import os
import pickle
import queue
import select
import signal
import threading
import time
from collections.abc import Callable
from typing import Any, TypeVar

import pkcs11
from pkcs11 import ObjectClass
from pkcs11.exceptions import (
    DataLenRange,
    FunctionNotSupported,
    MechanismInvalid,
    MechanismParamInvalid,
    NoSuchKey,
    NoSuchToken,
    PinIncorrect,
    PinLenRange,
    PinLocked,
    PKCS11Error,
)

from plica.api import ConfigError, InternalError, KeyUnavailable

from .uri import P11URI, pin_of

log = logging.getLogger("plica.kms.pkcs11")

T = TypeVar("T")

CKF_OS_LOCKING_OK = 0x2
CKR_CRYPTOKI_ALREADY_INITIALIZED = 0x191
RETRY_SECONDS = 1.0
PROBE_SECONDS = 60.0
# Modules whose sessions must not sign at the same time (CK_INFO.manufacturerID, as a prefix): tpm2-pkcs11
# shares one ESYS context between sessions ("Esys called in bad sequence").
SERIAL_MODULES = ("tpm2-software",)
# module path -> the process that loaded it (a forked child's entry names its parent: not loaded there).
_LOADED: dict[str, int] = {}


class _InitArgs(ctypes.Structure):
    _fields_ = [
        ("create_mutex", ctypes.c_void_p),
        ("destroy_mutex", ctypes.c_void_p),
        ("lock_mutex", ctypes.c_void_p),
        ("unlock_mutex", ctypes.c_void_p),
        ("flags", ctypes.c_ulong),
        ("reserved", ctypes.c_void_p),
    ]


def _initialize_threaded(module_path: str) -> None:
    """Finalize the module and initialise it again, allowing OS locking (see the module docstring)."""
    so = ctypes.CDLL(module_path)
    so.C_Finalize.argtypes = [ctypes.c_void_p]
    so.C_Finalize.restype = ctypes.c_ulong
    so.C_Initialize.argtypes = [ctypes.c_void_p]
    so.C_Initialize.restype = ctypes.c_ulong
    so.C_Finalize(None)
    rv = so.C_Initialize(ctypes.byref(_InitArgs(flags=CKF_OS_LOCKING_OK)))
    if rv not in (0, CKR_CRYPTOKI_ALREADY_INITIALIZED):
        raise PKCS11Error(f"C_Initialize returned 0x{rv:x}")


class PooledSession:
    """A session of the pool and the key objects found in it."""

    def __init__(self, session: Any) -> None:
        self.session = session
        self.keys: dict[tuple[bytes | None, str | None], Any] = {}

    def private_key(self, key_id: bytes | None, label: str | None) -> Any:
        k = self.keys.get((key_id, label))
        if k is None:
            k = self.session.get_key(object_class=ObjectClass.PRIVATE_KEY, id=key_id, label=label)
            self.keys[(key_id, label)] = k
        return k


class Token:
    def __init__(self, uri: P11URI, *, sessions: int = 4, parallel: bool | None = None) -> None:
        self.uri = uri
        self.module_path = uri.get("module-path")
        if not self.module_path:
            raise ConfigError("ca.json.kms.uri", f"{uri.shown}: module-path= is required")
        selectors = [n for n in ("token", "serial", "slot-id") if uri.get(n)]
        if len(selectors) != 1:
            raise ConfigError(
                "ca.json.kms.uri",
                f"{uri.shown}: name the token with exactly one of token=, serial= or slot-id=",
            )
        self.size = max(1, sessions)
        self.parallel = parallel  # None: decided per module when connecting (`SERIAL_MODULES`)
        self._turns: threading.Lock | None = threading.Lock()
        self.manufacturer = ""
        self._lock = threading.Lock()
        self._pool: queue.SimpleQueue[PooledSession] = queue.SimpleQueue()
        self._gen = 0
        self._pid = -1
        self._login: Any = None
        self._broken: str | None = None
        self._last_try = 0.0
        self._refused_pin: str | None = None
        self.token: Any = None
        # Checked now, in a child process (see the module docstring): a bad URI, PIN or token stops the start.
        self.manufacturer = self.probe(lambda _session: self.manufacturer)

    # ------------------------------------------------------------------ connecting
    def connect(self, *, first: bool = False) -> None:
        """Load the module, find the token, log in, open the pool. At start-up (`first`) a failure is a
        ConfigError that says what to fix; later it is a KeyUnavailable."""
        shown = self.uri.shown

        def fail(msg: str) -> Exception:
            return (
                ConfigError("ca.json.kms.uri", f"{shown}: {msg}")
                if first
                else KeyUnavailable(f"{shown}: {msg}")
            )

        pin = pin_of(self.uri)
        if pin == self._refused_pin:
            raise fail("the token refused this PIN before; not trying it again until it changes")
        try:
            lib = pkcs11.lib(self.module_path)
        except (PKCS11Error, OSError, RuntimeError) as e:
            raise fail(
                f"cannot load the PKCS#11 module {self.module_path}: {e or type(e).__name__}; check module-path"
            ) from None
        _LOADED[self.module_path] = os.getpid()
        try:
            _initialize_threaded(self.module_path)
            token = self._find_token(lib)
        except NoSuchToken:
            raise fail(self._which_token() + " is not in the module; check token=/serial=/slot-id") from None
        except PKCS11Error as e:
            raise fail(f"the module failed: {type(e).__name__} {e}") from None
        try:
            login = token.open(user_pin=pin, rw=True)
        except (PinIncorrect, PinLenRange):
            self._refused_pin = pin
            if not first:  # said once: it is not tried again until the pin-source has another PIN
                log.warning("%s: the token refused the PIN; waiting for the pin-source to change", shown)
            raise fail("the token refused the PIN; check pin-value or the pin-source file") from None
        except PinLocked:
            raise fail("the token's PIN is locked; unlock it with the security officer PIN") from None
        except PKCS11Error as e:
            raise fail(f"cannot log in: {type(e).__name__} {e}") from None
        try:
            pool = [PooledSession(token.open(rw=True)) for _ in range(self.size)]
        except PKCS11Error as e:
            raise fail(f"cannot open sessions: {type(e).__name__} {e}") from None
        self._refused_pin = None
        self.manufacturer = str(getattr(lib, "manufacturer_id", "") or "").strip()
        self._turns = None if self._parallel() else threading.Lock()
        self.token = token
        self._login = login
        self._pool = queue.SimpleQueue()
        for s in pool:
            self._pool.put(s)
        self._gen += 1
        self._pid = os.getpid()
        self._broken = None

    @property
    def parallel_calls(self) -> int:
        """How many calls this process makes into the module at once: the pool's size when its sessions
        sign in parallel, else 1. Known before connecting (the probe read the module's manufacturer)."""
        return self.size if self._parallel() else 1

    def _parallel(self) -> bool:
        """The kms block's `"parallel"`, else whether the module is not one of `SERIAL_MODULES`."""
        if self.parallel is not None:
            return self.parallel
        return not self.manufacturer.startswith(SERIAL_MODULES)

    @property
    def signs_in_parallel(self) -> bool:
        """Whether this process's sessions call into the module at the same time (known once connected)."""
        return self._turns is None

    @property
    def loaded_here(self) -> bool:
        """Whether this process has loaded the module (through any Token, even if the token went away
        since): it then never forks a probe, whose child would inherit the module's state."""
        return _LOADED.get(self.module_path) == os.getpid()

    def probe(self, fn: Callable[[Any], T]) -> T:
        """`fn(session)` with the logged-in session, on a connection of this process when it has one, else in
        a child process that connects, runs `fn` and exits (see the module docstring). `fn`'s result and
        its ConfigError/KeyUnavailable come back pickled; a failure to connect is a ConfigError naming the
        URI without the PIN."""
        if self.loaded_here:
            return self.admin(fn)
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:  # the child: never returns
            code = 0
            try:
                os.close(r)
                try:
                    self.connect(first=True)
                    out: tuple[str, Any, Any] = ("ok", fn(self._login), None)
                except ConfigError as e:
                    out = ("config", e.path, e.message)
                except KeyUnavailable as e:
                    out = ("unavailable", e.detail, None)
                except PKCS11Error as e:
                    out = ("config", "ca.json.kms.uri", f"{self.uri.shown}: {type(e).__name__} {e}")
                with os.fdopen(w, "wb") as f:
                    f.write(pickle.dumps(out))
            except BaseException:
                code = 1
            finally:
                os._exit(
                    code
                )  # no C_Finalize, no atexit: the parent's state is not this child's to tear down
        os.close(w)
        data = b""
        deadline = time.monotonic() + PROBE_SECONDS
        try:
            while (left := deadline - time.monotonic()) > 0:
                ready, _, _ = select.select([r], [], [], left)
                if not ready:
                    continue
                chunk = os.read(r, 65536)
                if not chunk:
                    break
                data += chunk
            else:
                os.kill(pid, signal.SIGKILL)
        finally:
            os.close(r)
            os.waitpid(pid, 0)
        if not data:
            raise ConfigError(
                "ca.json.kms.uri",
                f"{self.uri.shown}: the PKCS#11 module did not answer within {PROBE_SECONDS:.0f} s or failed",
            )
        kind, value, message = pickle.loads(data)  # our own child's bytes
        if kind == "config":
            raise ConfigError(value, message)
        if kind == "unavailable":
            raise KeyUnavailable(value)
        return value  # type: ignore[no-any-return]

    def _which_token(self) -> str:
        for name in ("token", "serial", "slot-id"):
            if self.uri.get(name):
                return f"token {name}={self.uri.get(name)!r}"
        return "the token"

    def _find_token(self, lib: Any) -> Any:
        if self.uri.get("slot-id"):
            try:
                wanted = int(self.uri.get("slot-id"))
            except ValueError:
                raise ConfigError("ca.json.kms.uri", f"{self.uri.shown}: slot-id is not a number") from None
            for slot in lib.get_slots(token_present=True):
                if slot.slot_id == wanted:
                    return slot.get_token()
            raise NoSuchToken()
        if self.uri.get("serial"):
            return lib.get_token(token_serial=self.uri.get("serial").encode())
        return lib.get_token(token_label=self.uri.get("token"))

    def _ensure(self) -> int:
        """The pool's generation, connecting first when forked or broken (see the module docstring)."""
        if self._pid == os.getpid() and self._broken is None:
            return self._gen
        # One thread reconnects; the others answer "unavailable" at once instead of queueing behind a
        # module that may take long to fail.
        if not self._lock.acquire(timeout=0.05):
            raise KeyUnavailable(f"{self.uri.shown}: reconnecting")
        try:
            return self._reconnect()
        finally:
            self._lock.release()

    def _reconnect(self) -> int:
        forked = self._pid != os.getpid()
        if forked:
            self._broken = self._broken or "forked"
            self._last_try = 0.0
        if self._broken is None:
            return self._gen
        now = time.monotonic()
        if now - self._last_try < RETRY_SECONDS:
            raise KeyUnavailable(f"{self.uri.shown}: {self._broken}")
        self._last_try = now
        # Workers forked together log in together; SoftHSM2's file-backed token then fails one of them now
        # and then (CKR_GENERAL_ERROR): a new worker tries a few times before it gives up.
        attempts = 5 if forked else 1
        try:
            for attempt in range(attempts):
                try:
                    self.connect()
                    break
                except KeyUnavailable:
                    if attempt == attempts - 1 or self._refused_pin is not None:
                        raise
                    time.sleep(0.1 * (attempt + 1))
        except KeyUnavailable as e:
            self._broken = e.detail or "unavailable"
            raise
        except ConfigError as e:  # a pin-source that cannot be read now
            self._broken = e.message
            raise KeyUnavailable(f"{e.message}") from None
        log.info("PKCS#11 token connected: %s (pid %d)", self.uri.shown, os.getpid())
        return self._gen

    def _fail(self, gen: int, e: Exception) -> None:
        with self._lock:
            if gen == self._gen and self._broken is None:
                self._broken = f"{type(e).__name__} {e}".strip()
                self._last_try = time.monotonic()

    # ------------------------------------------------------------------ using it
    def run(self, fn: Callable[[PooledSession], T]) -> T:
        """`fn` with a session of the pool; a token error breaks the connection and is KeyUnavailable."""
        gen = self._ensure()
        try:
            ps = self._pool.get(timeout=30)
        except queue.Empty:
            raise KeyUnavailable(f"{self.uri.shown}: no PKCS#11 session free for 30 s") from None
        try:
            if self._turns is None:
                return fn(ps)
            with self._turns:
                return fn(ps)
        except NoSuchKey:
            raise
        except (MechanismInvalid, MechanismParamInvalid, DataLenRange, FunctionNotSupported) as e:
            # What this token cannot do (a template's RSA-PSS, an OAEP hash) is no sign that it went away.
            raise InternalError(
                f"the token cannot do this operation: {type(e).__name__}", detail=self.uri.shown
            ) from None
        except PKCS11Error as e:
            self._fail(gen, e)
            raise KeyUnavailable(f"{self.uri.shown}: {type(e).__name__} {e}".strip()) from None
        finally:
            if gen == self._gen:
                self._pool.put(ps)

    def fresh_session(self, ps: PooledSession) -> None:
        """Give `ps` a new session (called from `fn` inside `run`). tpm2-pkcs11 leaves a failed C_Decrypt's
        operation active, and its session then refuses every later call (CKR_OPERATION_ACTIVE). Raises
        PKCS11Error when the token cannot open a session: it is gone, and `run` says so."""
        try:
            ps.session.close()
        except PKCS11Error:
            pass
        ps.keys.clear()
        ps.session = self.token.open(rw=True)

    def admin(self, fn: Callable[[Any], T]) -> T:
        """`fn` with the logged-in read-write session (creating, listing, deleting keys)."""
        self._ensure()
        with self._lock:
            if self._turns is None:
                return fn(self._login)
            with self._turns:
                return fn(self._login)

    def close(self) -> None:
        with self._lock:
            if self._login is not None and self._pid == os.getpid() and self._broken is None:
                try:
                    self._login.close()  # logs out every session of this process
                except PKCS11Error:
                    pass
            self._login = None
            self._broken = "closed"
