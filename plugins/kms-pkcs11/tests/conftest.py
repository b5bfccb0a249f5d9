"""Real PKCS#11 modules for the tests: Debian's SoftHSM2 (tokens in a temporary directory through
SOFTHSM2_CONF) and tpm2-pkcs11 over swtpm (a software TPM the test starts on free ports, behind its own
tpm2-abrmd resource manager on a private D-Bus, with a token made by tpm2_ptool).

`module` runs a test against both; each can be taken away (`take_away`) and given back (`give_back`)."""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from attrs import define, field

SOFTHSM = "/usr/lib/softhsm/libsofthsm2.so"
TPM2_PKCS11 = "/usr/lib/x86_64-linux-gnu/libtpm2_pkcs11.so.1"
PIN = "4711-plica-pin"
SO_PIN = "5678-so-pin"


@define
class Module:
    name: str
    module_path: str
    tmp: Path
    env: dict[str, str]  # what the module needs in the environment (for the CA's subprocess too)
    pin_file: Path
    token: str = "plica"
    procs: dict[str, subprocess.Popen[bytes]] = field(factory=dict)
    away: tuple[Path, Path] | None = None  # SoftHSM2's token directory while it is away: (where, home)

    # Worker processes the CA runs with. The master never loads the module and each worker opens it after
    # the fork, which tpm2-pkcs11 over tpm2-abrmd (GLib's D-Bus) needs.
    workers: int = 2

    def uri(self, *, pin_value: bool = False) -> str:
        pin = f"pin-value={PIN}" if pin_value else f"pin-source=file:{self.pin_file}"
        return f"pkcs11:module-path={self.module_path};token={self.token}?{pin}"

    def full_env(self) -> dict[str, str]:
        return {**os.environ, **self.env}

    def tool(self, *args: str) -> str:
        """pkcs11-tool (OpenSC) on this token, logged in."""
        r = subprocess.run(
            ["pkcs11-tool", "--module", self.module_path, "--token-label", self.token, "--login", "--pin", PIN, *args],
            capture_output=True, text=True, env=self.full_env(), timeout=120,
        )  # fmt: skip
        assert r.returncode == 0, r.stdout + r.stderr
        return r.stdout

    def take_away(self) -> None:
        """The token disappears from under the CA: SoftHSM2's token directory moves away; the TPM (swtpm and
        its resource manager) stops."""
        if self.name == "softhsm":
            (tokdir,) = list((self.tmp / "tokens").iterdir())
            self.away = (self.tmp / "away", tokdir)
            shutil.move(str(tokdir), self.away[0])
        else:
            for name in ("abrmd", "swtpm"):
                _stop(self.procs.pop(name))

    def give_back(self) -> None:
        if self.name == "softhsm":
            assert self.away is not None
            shutil.move(str(self.away[0]), self.away[1])
            self.away = None
        else:
            _start_tpm(self)


def _stop(p: subprocess.Popen[bytes]) -> None:
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def _port_pair() -> int:
    """A free port whose successor is free too (swtpm's control channel is the TCTI's port + 1)."""
    while True:
        with socket.socket() as a:
            a.bind(("127.0.0.1", 0))
            port = a.getsockname()[1]
            with socket.socket() as b:
                try:
                    b.bind(("127.0.0.1", port + 1))
                except OSError:
                    continue
                return port


def _wait(cond: object, what: str, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while not cond():  # type: ignore[operator]
        assert time.monotonic() < deadline, f"{what} did not come up"
        time.sleep(0.1)


def _start_tpm(m: Module) -> None:
    port = int(m.env["PLICA_TEST_SWTPM_PORT"])
    log = (m.tmp / "swtpm.log").open("ab")
    m.procs["swtpm"] = subprocess.Popen(
        ["swtpm", "socket", "--tpm2", "--tpmstate", f"dir={m.tmp / 'state'}",
         "--server", f"type=tcp,port={port},bindaddr=127.0.0.1",
         "--ctrl", f"type=tcp,port={port + 1},bindaddr=127.0.0.1",
         "--flags", "not-need-init,startup-clear"],
        stdout=log, stderr=log,
    )  # fmt: skip

    def listening() -> bool:
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
        return False

    _wait(listening, "swtpm")
    alog = (m.tmp / "abrmd.log").open("ab")
    # tpm2_ptool and tpm2-pkcs11 load and flush TPM objects as a resource manager allows; without one, swtpm
    # runs out of object slots. A private bus name, so that concurrent test runs never meet.
    m.procs["abrmd"] = subprocess.Popen(
        ["tpm2-abrmd", "--session", "--allow-root", f"--tcti=swtpm:host=127.0.0.1,port={port}",
         f"--dbus-name={m.env['PLICA_TEST_ABRMD_NAME']}"],
        stdout=alog, stderr=alog, env=m.full_env(),
    )  # fmt: skip

    def registered() -> bool:
        r = subprocess.run(["tpm2_getrandom", "4"], capture_output=True, env=m.full_env())
        return r.returncode == 0

    _wait(registered, "tpm2-abrmd")


@contextlib.contextmanager
def softhsm_module(tmp: Path) -> Iterator[Module]:
    tmp.mkdir(parents=True, exist_ok=True)
    (tmp / "tokens").mkdir()
    conf = tmp / "softhsm2.conf"
    conf.write_text(
        f"directories.tokendir = {tmp / 'tokens'}\nobjectstore.backend = file\nlog.level = ERROR\n"
    )
    pin_file = tmp / "pin"
    pin_file.write_text(PIN + "\n")
    pin_file.chmod(0o600)
    m = Module(
        name="softhsm", module_path=SOFTHSM, tmp=tmp, env={"SOFTHSM2_CONF": str(conf)}, pin_file=pin_file
    )
    r = subprocess.run(
        ["softhsm2-util", "--init-token", "--free", "--label", m.token, "--pin", PIN, "--so-pin", SO_PIN],
        capture_output=True, text=True, env=m.full_env(),
    )  # fmt: skip
    assert r.returncode == 0, r.stderr
    yield m


@contextlib.contextmanager
def private_bus() -> Iterator[str]:
    """A D-Bus session bus of our own (tpm2-abrmd and its TCTI meet there); its address."""
    bus = subprocess.Popen(
        ["dbus-daemon", "--session", "--nofork", "--print-address=1"],
        stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
    )  # fmt: skip
    assert bus.stdout is not None
    try:
        yield bus.stdout.readline().decode().strip()
    finally:
        _stop(bus)


@contextlib.contextmanager
def tpm2_module(tmp: Path, address: str) -> Iterator[Module]:
    tmp.mkdir(parents=True, exist_ok=True)
    for d in ("state", "store"):
        (tmp / d).mkdir()
    pin_file = tmp / "pin"
    pin_file.write_text(PIN + "\n")
    pin_file.chmod(0o600)
    name = f"com.plica.test.Tabrmd{os.getpid()}x{_port_pair()}"
    tcti = f"tabrmd:bus_name={name},bus_type=session"
    m = Module(
        name="tpm2",
        module_path=TPM2_PKCS11,
        tmp=tmp,
        pin_file=pin_file,
        env={
            "DBUS_SESSION_BUS_ADDRESS": address,
            "TPM2TOOLS_TCTI": tcti,
            "TPM2_PKCS11_TCTI": tcti,
            "TPM2_PKCS11_STORE": str(tmp / "store"),
            "TPM2_PKCS11_LOG_LEVEL": "0",
            "PLICA_TEST_SWTPM_PORT": str(_port_pair()),
            "PLICA_TEST_ABRMD_NAME": name,
        },
    )
    try:
        _start_tpm(m)
        for cmd in (
            ["tpm2_ptool", "init", f"--path={tmp / 'store'}"],
            ["tpm2_ptool", "addtoken", "--pid=1", f"--sopin={SO_PIN}", f"--userpin={PIN}", f"--label={m.token}",
             f"--path={tmp / 'store'}"],
        ):  # fmt: skip
            r = subprocess.run(cmd, capture_output=True, text=True, env=m.full_env(), timeout=120)
            assert r.returncode == 0, r.stdout + r.stderr
        yield m
    finally:
        for p in list(m.procs.values()):
            _stop(p)


def _have(*paths: str) -> bool:
    return all(Path(p).exists() or shutil.which(p) for p in paths)


HAVE_SOFTHSM = _have(SOFTHSM, "softhsm2-util", "pkcs11-tool")
HAVE_TPM = _have(TPM2_PKCS11, "swtpm", "tpm2_ptool", "tpm2-abrmd", "dbus-daemon", "pkcs11-tool")


@pytest.fixture
def softhsm(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Module]:
    if not HAVE_SOFTHSM:
        pytest.skip("needs softhsm2 and opensc (pkcs11-tool)")
    with softhsm_module(tmp_path / "softhsm") as m:
        for k, v in m.env.items():
            monkeypatch.setenv(k, v)
        yield m


@pytest.fixture(scope="session")
def dbus_address() -> Iterator[str]:
    # One bus for the whole run: GLib keeps the first session-bus connection of a process for good, so a
    # bus per test would leave this process talking to a dead one.
    if not HAVE_TPM:
        yield ""
        return
    with private_bus() as address:
        yield address


@pytest.fixture(params=["softhsm", "tpm2"])
def module(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Module]:
    """Each PKCS#11 module in turn; its environment is this process's too (the tests open the token)."""
    if request.param == "softhsm":
        if not HAVE_SOFTHSM:
            pytest.skip("needs softhsm2 and opensc (pkcs11-tool)")
        cm = softhsm_module(tmp_path / "softhsm")
    else:
        if not HAVE_TPM:
            pytest.skip("needs libtpm2-pkcs11-1, libtpm2-pkcs11-tools, swtpm, tpm2-abrmd and dbus")
        cm = tpm2_module(tmp_path / "tpm", request.getfixturevalue("dbus_address"))
    with cm as m:
        for k, v in m.env.items():
            monkeypatch.setenv(k, v)
        yield m
