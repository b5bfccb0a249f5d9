"""Claims (docs/reference/wire.md §7c): resolution provisioner → global → built-in, step's stretching quirk, validation errors
that name the JSON path — and what they mean for a real /sign (§3a: validity, min/max, backdate)."""

from __future__ import annotations

import datetime as dt
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import aiohttp
import pytest
import pytest_asyncio
from attrs import define

from plica.claims import resolve
from plica.config import ClaimsConfig, structure
from plica.errors import ConfigError
from plica.testing import (
    Api,
    CAFiles,
    ProvKey,
    admin_key,
    db_counts,
    in_process_ca,
    make_ca,
    new_jwk_provisioner,
    pem_cert,
)

UTC = dt.UTC
H, M = timedelta(hours=1), timedelta(minutes=1)
PATH = "ca.json.authority.provisioners[3].claims"


def claims(**kw: Any) -> ClaimsConfig:
    return structure(kw, ClaimsConfig, "claims")


# ============================================================================ resolution


def test_builtin_defaults_are_steps() -> None:
    c = resolve(None, None, path=PATH)
    assert (c.tls.min, c.tls.max, c.tls.default) == (5 * M, 24 * H, 24 * H)
    assert (c.user_ssh.min, c.user_ssh.max, c.user_ssh.default) == (5 * M, 24 * H, 16 * H)
    assert (c.host_ssh.min, c.host_ssh.max, c.host_ssh.default) == (5 * M, 720 * H, 720 * H)
    assert not (
        c.enable_ssh_ca or c.disable_renewal or c.allow_renewal_after_expiry or c.disable_smallstep_extensions
    )


def test_provisioner_over_global_over_builtin() -> None:
    glob = claims(maxTLSCertDuration="48h", enableSSHCA=True, disableRenewal=True)
    c = resolve(claims(minTLSCertDuration="1h", disableRenewal=False), glob, path=PATH)
    assert (c.tls.min, c.tls.max, c.tls.default) == (1 * H, 48 * H, 24 * H)
    assert c.enable_ssh_ca is True and c.disable_renewal is False
    assert resolve(None, glob, path=PATH).disable_renewal is True


def test_quirk_a_provisioner_default_outside_the_global_bounds_stretches_them() -> None:
    # step's claims.go: with only default* set by the provisioner, max (or min) follows it.
    c = resolve(claims(defaultTLSCertDuration="48h"), None, path=PATH)
    assert (c.tls.min, c.tls.max, c.tls.default) == (5 * M, 48 * H, 48 * H)
    c = resolve(claims(defaultTLSCertDuration="2m"), None, path=PATH)
    assert (c.tls.min, c.tls.max, c.tls.default) == (2 * M, 24 * H, 2 * M)
    c = resolve(claims(defaultUserSSHCertDuration="100h"), claims(maxUserSSHCertDuration="30h"), path=PATH)
    assert (c.user_ssh.max, c.user_ssh.default) == (100 * H, 100 * H)
    # It does not stretch a bound the provisioner set itself: that is an error.
    with pytest.raises(ConfigError) as e:
        resolve(claims(defaultTLSCertDuration="48h", maxTLSCertDuration="24h"), None, path=PATH)
    assert e.value.path == f"{PATH}.defaultTLSCertDuration" and "longer than max" in e.value.message
    # A provisioner that narrows max (or min) without a default of its own pulls the inherited default in.
    c = resolve(claims(maxTLSCertDuration="1h"), None, path=PATH)
    assert (c.tls.min, c.tls.max, c.tls.default) == (5 * M, 1 * H, 1 * H)
    c = resolve(claims(minHostSSHCertDuration="800h", maxHostSSHCertDuration="900h"), None, path=PATH)
    assert (c.host_ssh.min, c.host_ssh.max, c.host_ssh.default) == (800 * H, 900 * H, 800 * H)
    # Nor a global default outside the global bounds.
    with pytest.raises(ConfigError) as e:
        resolve(None, claims(defaultTLSCertDuration="48h"), path=PATH)
    assert e.value.path == "ca.json.authority.claims.defaultTLSCertDuration"


@pytest.mark.parametrize(
    ("prov", "field", "fragment"),
    [
        ({"minTLSCertDuration": "0s"}, "minTLSCertDuration", "greater than 0"),
        ({"maxUserSSHCertDuration": "-5m"}, "maxUserSSHCertDuration", "greater than 0"),
        ({"minTLSCertDuration": "2h", "maxTLSCertDuration": "1h"}, "maxTLSCertDuration", "shorter than min"),
        ({"minTLSCertDuration": "2h", "defaultTLSCertDuration": "1h", "maxTLSCertDuration": "3h"},
         "defaultTLSCertDuration", "shorter than min"),
        ({"defaultHostSSHCertDuration": "one day"}, "defaultHostSSHCertDuration", "invalid duration"),
    ],
)  # fmt: skip
def test_validation_errors_name_the_field(prov: dict[str, str], field: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as e:
        resolve(claims(**prov), None, path=PATH)
    assert e.value.path == f"{PATH}.{field}"
    assert fragment in e.value.message
    assert str(e.value).startswith(f"{PATH}.{field}: ")


def test_claims_of_the_wrong_json_type_name_the_field() -> None:
    with pytest.raises(ConfigError) as e:
        structure({"enableSSHCA": "yes"}, ClaimsConfig, PATH)
    assert e.value.path == f"{PATH}.enableSSHCA" and "true or false" in e.value.message
    with pytest.raises(ConfigError) as e:
        structure({"maxTLSCertDuration": 24}, ClaimsConfig, PATH)
    assert e.value.path == f"{PATH}.maxTLSCertDuration"


# ============================================================================ validity of real certificates


@define
class Env:
    files: CAFiles
    api: Api
    provs: dict[str, ProvKey]


@pytest_asyncio.fixture(scope="module", loop_scope="module")
async def env(tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Env]:
    files = make_ca(tmp_path_factory.mktemp("claims"), ssh=False)
    provs: dict[str, ProvKey] = {}
    for name, c in {
        "stretch": {"defaultTLSCertDuration": "48h"},
        "short": {"minTLSCertDuration": "1h", "maxTLSCertDuration": "2h", "defaultTLSCertDuration": "90m"},
    }.items():
        block, key = new_jwk_provisioner(name, claims=c)
        files.add_provisioner(block)
        provs[name] = key
    async with in_process_ca(files), aiohttp.ClientSession() as session:
        provs["admin"] = admin_key(files)
        yield Env(files=files, api=Api(files, session), provs=provs)


def _rfc3339(t: dt.datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


async def _validity(env: Env, prov: str, **body: Any) -> tuple[dt.datetime, dt.datetime]:
    r, _ = await env.api.sign(env.provs[prov], f"{prov}.example", **body)
    assert r.status == 201, r.raw
    leaf = pem_cert(r.json["crt"])
    return leaf.not_valid_before_utc, leaf.not_valid_after_utc


async def _refused(env: Env, prov: str, status: int, **body: Any) -> str:
    before = db_counts(env.files)
    r, _ = await env.api.sign(env.provs[prov], f"{prov}.example", **body)
    assert r.status == status, r.raw
    assert db_counts(env.files) == before
    return r.error()["message"]


def near(a: dt.datetime, b: dt.datetime, slack: float = 15) -> bool:
    return abs((a - b).total_seconds()) <= slack


@pytest.mark.asyncio(loop_scope="module")
async def test_default_validity_is_backdated(env: Env) -> None:
    now = dt.datetime.now(UTC)
    nb, na = await _validity(env, "admin")
    assert near(nb, now - M) and na - nb == 24 * H + M
    nb, na = await _validity(env, "admin", notAfter="1h")
    assert near(nb, now - M) and near(na, now + H)


@pytest.mark.asyncio(loop_scope="module")
async def test_not_after_is_relative_to_not_before(env: Env) -> None:
    now = dt.datetime.now(UTC)
    nb, na = await _validity(env, "admin", notBefore="10m", notAfter="1h")
    assert near(nb, now + 10 * M) and na - nb == H  # an explicit notBefore is not backdated
    start = (now + 2 * H).replace(microsecond=0)
    nb, na = await _validity(env, "admin", notBefore=_rfc3339(start), notAfter=_rfc3339(start + 3 * H))
    assert (nb, na) == (start, start + 3 * H)


@pytest.mark.asyncio(loop_scope="module")
async def test_max_duration_tolerates_the_backdate(env: Env) -> None:
    nb, na = await _validity(env, "admin", notAfter="24h")  # 24h1m with the backdate: allowed
    assert na - nb == 24 * H + M
    nb, na = await _validity(env, "admin", notBefore="1h", notAfter="24h1m")  # exactly max + backdate
    assert na - nb == 24 * H + M
    assert "maximum" in await _refused(env, "admin", 403, notBefore="1h", notAfter="24h1m1s")
    assert "maximum" in await _refused(env, "admin", 403, notAfter="24h2m")
    assert "minimum" in await _refused(env, "admin", 403, notAfter="3m")


@pytest.mark.asyncio(loop_scope="module")
async def test_impossible_windows_are_400(env: Env) -> None:
    assert "past" in await _refused(env, "admin", 400, notAfter="-1h")
    now = dt.datetime.now(UTC)
    assert "before notBefore" in await _refused(env, "admin", 400, notBefore="2h", notAfter=_rfc3339(now + H))
    assert "invalid" in await _refused(env, "admin", 400, notBefore="yesterday")


@pytest.mark.asyncio(loop_scope="module")
async def test_provisioner_claims_apply(env: Env) -> None:
    # The quirk, end to end: default 48h stretched the max of 24h.
    nb, na = await _validity(env, "stretch")
    assert na - nb == 48 * H + M
    nb, na = await _validity(env, "stretch", notAfter="48h")
    assert na - nb == 48 * H + M
    assert "maximum" in await _refused(env, "stretch", 403, notAfter="49h")
    nb, na = await _validity(env, "short")
    assert na - nb == 90 * M + M
    assert "minimum" in await _refused(env, "short", 403, notAfter="30m")
    assert "maximum" in await _refused(env, "short", 403, notAfter="3h")
