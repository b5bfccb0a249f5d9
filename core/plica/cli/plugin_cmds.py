"""`plica plugin new NAME`: a new third-party provisioner distribution that works and passes its tests at once.

What it writes is the layout of `examples/plica-example-hmac` and of every plugin in this repository: a
pyproject.toml with the `plica.provisioners` entry point, a package `plica_<name>` built only on `plica.api`
(a token type: one-time JWS signed with a key whose public half is in the ca.json block), a README with the
block and the flags, and tests that run the kernel's conformance suite (`plica.testing.conformance`) and get
a certificate through the real server.
"""

from __future__ import annotations

import re
from pathlib import Path

import click
import orjson

from plica import __version__
from plica.jose import public_jwk
from plica.keys import generate

NAME_RE = re.compile(r"[a-z][a-z0-9]*(-[a-z0-9]+)*")
TYPE_RE = re.compile(r"[A-Za-z][A-Za-z0-9]*")

PYPROJECT = """\
[build-system]
requires = ["setuptools>=64"]
build-backend = "setuptools.build_meta"

[project]
name = "__DIST__"
version = "0.1.0"
description = "__TYPE__ provisioner for the Plica certificate authority (tokens signed with a key from ca.json)"
readme = "README.md"
requires-python = ">=3.11"
dependencies = ["plica>=__PLICA_VERSION__"]

[project.optional-dependencies]
test = ["plica[testing]>=__PLICA_VERSION__"]

# How the CA finds this type: `pip install` it next to plica and `plica provisioner capabilities` lists it.
[project.entry-points."plica.provisioners"]
__NAME__ = "__PKG__"

[tool.setuptools.packages.find]
include = ["__PKG__*"]

[tool.pytest.ini_options]
testpaths = ["tests"]
addopts = "--import-mode=importlib"
asyncio_mode = "auto"
asyncio_default_fixture_loop_scope = "function"

[tool.ruff]
line-length = 110
target-version = "py311"

[tool.ruff.lint]
select = ["E", "F", "W", "I", "B", "UP", "SIM", "RUF"]
# attrs fields with j("jsonName") and test classes' ClassVar-like settings are meant this way.
ignore = ["RUF009", "RUF012"]

[tool.ruff.lint.isort]
known-first-party = ["plica", "__PKG__"]
"""

README = """\
# __DIST__ — the __TYPE__ provisioner

One-time tokens (JWS) signed with a private key whose public half is in the provisioner's ca.json block.
Written with `plica plugin new __NAME__`; it imports nothing of Plica but `plica.api`, the kernel's public
face.

```sh
pip install -e .            # next to plica: `plica provisioner capabilities` lists __TYPE__
```

## ca.json block

```json
__BLOCK__
```

- `key` — the public JWK (EC, RSA or Ed25519) that verifies the provisioner's tokens. A private key here is
  refused at start-up: it stays with the clients.

## Commands and flags

```sh
plica provisioner add devices --type __TYPE__ --__NAME__-new-key devices.key.json     # new key pair
plica provisioner add devices --type __TYPE__ --__NAME__-public-key devices.pub.json  # bring your own
plica certificate foo.internal foo.crt foo.key --provisioner devices --__NAME__-key devices.key.json
```

Add/update flags: `--__NAME__-new-key FILE`, `--__NAME__-public-key FILE`.
Client flags: `--__NAME__-key FILE`.

## Tokens

Header `{"alg": "ES256", "typ": "JWT"}`; claims `iss` = the provisioner's name, `aud` = the CA's sign
audience with the fragment `#__NAME__/<name>` (`https://ca.example.com/1.0/sign#__NAME__/devices`), `sub`,
`sans`, `jti` (single use), `iat`, `nbf`, `exp`. The CSR's CN must be empty or one of sub/sans; for each SAN
type the CSR carries, its set must equal the token's.

## Capabilities

`__TYPE__  x509-sign  x509-renew` (renewal over mTLS with the kernel's checks only).

## Tests

```sh
pip install -e '.[test]' && pytest
```

`tests/test_conformance.py` runs the kernel's conformance suite (hooks, capability row, this README's
ca.json block, config errors, refusals, what `/provisioners` shows); `tests/test_tokens.py` gets a
certificate through the real server with the fixtures of the `plica.testing` pytest plugin.
"""

GITIGNORE = """\
__pycache__/
*.egg-info/
build/
dist/
"""

INIT = '''\
"""__DIST__: the __TYPE__ provisioner type for Plica.

The `plica.provisioners` entry point names this module: the kernel registers every hook it finds here (and
reports the plugin broken if one is not a hook it defines).
"""

from __future__ import annotations

from __PKG__.client import cli_client_options, client_token
from __PKG__.manage import provisioner_block_from_cli, provisioner_cli_options
from __PKG__.provisioner import (
    TYPE,
    __CLS__Config,
    authorize_sign,
    provisioner_load,
    provisioner_token_keys,
    provisioner_types,
    renew_with_kernel_checks,
)

__all__ = [
    "TYPE",
    "__CLS__Config",
    "authorize_sign",
    "cli_client_options",
    "client_token",
    "provisioner_block_from_cli",
    "provisioner_cli_options",
    "provisioner_load",
    "provisioner_token_keys",
    "provisioner_types",
    "renew_with_kernel_checks",
]
'''

PROVISIONER = '''\
"""Server side of the __TYPE__ provisioner.

Verify a token with the key of the ca.json block and say what it allows; the kernel does the rest (claims,
name policies, templates, signing, single use of the token)."""

from __future__ import annotations

from typing import Any

from attrs import define, frozen

from plica.api import (
    AuthorityView,
    ConfigError,
    JOSEError,
    Provisioner,
    ProvisionerConfig,
    ProvisionerType,
    PublicKey,
    SignRequest,
    Token,
    X509Authorization,
    check_token_claims,
    hookimpl,
    j,
    key_from_jwk,
    provides,
    renew_with_kernel_checks,
    thumbprint,
    x509_authorization,
)

# Renewal needs only the kernel's checks: importing this hook is what gives the type x509-renew.
__all__ = ["renew_with_kernel_checks"]


@define(kw_only=True)
class __CLS__Config(ProvisionerConfig):
    """The ca.json block: the common fields (type, name, claims, options) and the public key."""

    key: dict[str, Any] = j("key")


TYPE = ProvisionerType(
    name="__TYPE__",
    type_id=__TYPE_ID__,  # the number in its certificates' provisioner extension (third parties: >= 1000)
    config_class=__CLS__Config,
    identifier_types={"ip-address": True, "hardware-id": False, "service-account": False},
    description="one-time tokens signed with the key in the provisioner's block",
)

provisioner_types = provides(TYPE)


@frozen
class State:
    """What the hot path needs, prepared once per (re)load."""

    key: PublicKey
    kid: str
    fragment: str


@hookimpl
def provisioner_load(provisioner: Provisioner, authority: AuthorityView) -> None:
    cfg: __CLS__Config = provisioner.config
    try:
        key = key_from_jwk(cfg.key)
    except JOSEError as e:
        raise ConfigError("key", str(e)) from None
    if hasattr(key, "private_bytes"):
        raise ConfigError("key", "must be a public key: the private key stays with the clients")
    kid = thumbprint(cfg.key)
    provisioner.state = State(key=key, kid=kid, fragment=f"__NAME__/{provisioner.name}")  # type: ignore[arg-type]


@hookimpl
def provisioner_token_keys(provisioner: Provisioner) -> list[str]:
    # A token names its provisioner in its audience: https://ca.example.com/1.0/sign#__NAME__/<name>.
    return [provisioner.state.fragment]


@hookimpl
def authorize_sign(
    provisioner: Provisioner, token: Token, request: SignRequest, authority: AuthorityView
) -> X509Authorization:
    state: State = provisioner.state
    token.verify(state.key)
    # Times, iss = the provisioner's name, an audience of /sign with this provisioner's fragment, a subject.
    check_token_claims(provisioner, token, authority.audiences.sign, fragment=state.fragment)
    # The certificate gets the token's sub and sans; the CSR may ask for nothing else.
    return x509_authorization(token, credential_id=state.kid)
'''

CLIENT = '''\
"""Client side of the __TYPE__ provisioner.

`plica certificate ... --provisioner NAME --__NAME__-key FILE` signs the token with that key."""

from __future__ import annotations

from pathlib import Path

import click
import orjson

from plica.api import (
    ClientContext,
    JOSEError,
    default_alg,
    file_option,
    hookimpl,
    key_from_jwk,
    required_options,
    sign_compact,
    token_claims,
)


@hookimpl
def cli_client_options() -> list[click.Option]:
    return [
        file_option(
            "--__NAME__-key",
            help="__TYPE__: the private key (JWK file) that signs the provisioner's tokens.",
        ),
    ]


@hookimpl
def client_token(provisioner_type: str, context: ClientContext, operation: str) -> str | None:
    if operation != "sign":
        raise click.UsageError(f"{provisioner_type} provisioners only sign certificates (not {operation})")
    (path,) = required_options(context, "__OPT___key")
    try:
        jwk = orjson.loads(Path(path).read_bytes())
        key = key_from_jwk(jwk)
    except (OSError, ValueError, JOSEError) as e:
        raise click.ClickException(f"cannot read the private key in {path}: {e}") from None
    name = str(context.provisioner.get("name", ""))
    audience = f"{context.audience}#__NAME__/{name}"
    claims = token_claims(name, context.subject, audience, sans=context.sans, extra=context.extra_claims)
    return sign_compact({"alg": default_alg(jwk), "typ": "JWT"}, claims, key)  # type: ignore[arg-type]
'''

MANAGE = '''\
"""Management of the __TYPE__ provisioner.

`plica provisioner add|update --type __TYPE__`: the flags of the block and what they write."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click
import orjson

from plica.api import file_option, generate, hookimpl, private_jwk, public_jwk, write_private_file


@hookimpl
def provisioner_cli_options() -> list[click.Option]:
    return [
        click.Option(
            ["--__NAME__-new-key", "__OPT___new_key"],
            type=click.Path(dir_okay=False),
            help="__TYPE__: make a new key pair; the private JWK goes to this file (0600), "
            "the public key into ca.json.",
        ),
        file_option(
            "--__NAME__-public-key",
            help="__TYPE__: the public key (JWK file) that verifies the provisioner's tokens.",
        ),
    ]


@hookimpl
def provisioner_block_from_cli(
    provisioner_type: str, name: str, options: dict[str, Any], existing: dict[str, Any] | None
) -> dict[str, Any] | None:
    block = dict(existing or {"type": "__TYPE__", "name": name})
    new_key, public = options.get("__OPT___new_key"), options.get("__OPT___public_key")
    if new_key and public:
        raise click.UsageError("give --__NAME__-new-key or --__NAME__-public-key, not both")
    if new_key:
        key = generate("EC")
        write_private_file(Path(new_key), orjson.dumps(private_jwk(key)))
        block["key"] = public_jwk(key)
    elif public:
        try:
            block["key"] = orjson.loads(Path(public).read_bytes())
        except orjson.JSONDecodeError as e:
            raise click.UsageError(f"{public} is not a JWK (JSON): {e}") from None
    if "key" not in block:
        flags = "--__NAME__-new-key FILE or --__NAME__-public-key FILE"
        raise click.UsageError(f"__TYPE__ provisioners need a key: give {flags}")
    return block
'''

TEST_CONFORMANCE = '''\
"""The kernel's conformance suite for __TYPE__.

Its hooks, its capability row, the README's ca.json block (loads, round-trips), config errors that name
their JSON path, a refusal in the API's error shape, and nothing secret on /provisioners."""

from __future__ import annotations

from pathlib import Path

import __PKG__
from plica.api import generate, private_jwk
from plica.testing.conformance import ProvisionerConformance, readme_block

README = Path(__file__).resolve().parents[1] / "README.md"


class TestConformance(ProvisionerConformance):
    plugin = __PKG__
    type_name = "__TYPE__"
    capabilities = ["x509-sign", "x509-renew"]
    example_block = readme_block(README, "__TYPE__")
    bad_blocks = [
        ({"type": "__TYPE__", "name": "bad"}, "key"),
        ({"type": "__TYPE__", "name": "bad", "key": "not a JWK"}, "key"),
        ({"type": "__TYPE__", "name": "bad", "key": {"kty": "EC", "crv": "P-256"}}, "key"),
        ({"type": "__TYPE__", "name": "bad", "key": private_jwk(generate("EC"))}, "key"),
    ]
'''

TEST_TOKENS = '''\
"""__TYPE__ tokens through the real server.

The plugin's own client signs a token, the CA issues a certificate for it once, and refuses a token signed
with another key. Fixtures (ca_files, ca, csr_for) come from the plica.testing pytest plugin, installed
with plica."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson
import pytest

from plica.api import ClientContext, PrivateKey, generate, private_jwk, public_jwk
from plica.testing import CAFiles
from __PKG__ import client


@pytest.fixture
def device_key() -> PrivateKey:
    return generate("EC")


@pytest.fixture
def key_file(tmp_path: Path, device_key: PrivateKey) -> Path:
    path = tmp_path / "devices.key.json"
    path.write_bytes(orjson.dumps(private_jwk(device_key)))
    return path


@pytest.fixture
def ca_files(ca_files: CAFiles, device_key: PrivateKey) -> CAFiles:
    """The plugin's CA (the `ca` fixture serves it), with a provisioner `devices` of this type."""
    block = {"type": "__TYPE__", "name": "devices", "key": public_jwk(device_key)}
    ca_files.add_provisioner(block)
    return ca_files


def token(ca: Any, key_file: Path, subject: str) -> str:
    context = ClientContext(
        provisioner={"type": "__TYPE__", "name": "devices"},
        ca_url=ca.files.url,
        audience=ca.api.aud("/sign"),
        subject=subject,
        sans=[subject],
        options={"__OPT___key": str(key_file)},
    )
    ott = client.client_token(provisioner_type="__TYPE__", context=context, operation="sign")
    assert ott
    return ott


async def test_a_token_gets_one_certificate(ca: Any, key_file: Path, csr_for: Any) -> None:
    ott = token(ca, key_file, "a.example")
    r = await ca.api.post("/sign", {"csr": csr_for(["a.example"]).pem, "ott": ott})
    assert r.status == 201, r.raw
    assert "BEGIN CERTIFICATE" in r.json["crt"]
    r = await ca.api.post("/sign", {"csr": csr_for(["a.example"]).pem, "ott": ott})
    assert r.status == 401 and "already used" in r.error()["message"]


async def test_a_token_of_another_key_is_refused(ca: Any, tmp_path: Path, csr_for: Any) -> None:
    other = tmp_path / "other.key.json"
    other.write_bytes(orjson.dumps(private_jwk(generate("EC"))))
    r = await ca.api.post("/sign", {"csr": csr_for(["b.example"]).pem, "ott": token(ca, other, "b.example")})
    assert r.status == 401, r.raw
    r.error()


async def test_names_the_token_does_not_allow_are_refused(ca: Any, key_file: Path, csr_for: Any) -> None:
    ott = token(ca, key_file, "c.example")
    r = await ca.api.post("/sign", {"csr": csr_for(["c.example", "evil.example"]).pem, "ott": ott})
    assert 400 <= r.status < 500, r.raw
    r.error()
'''


def _camel(name: str) -> str:
    return "".join(part.capitalize() for part in name.split("-"))


def render(text: str, values: dict[str, str]) -> str:
    for key, value in values.items():
        text = text.replace(f"__{key}__", value)
    return text


def scaffold(name: str, target: Path, type_name: str, type_id: int) -> list[Path]:
    """Write the distribution `plica-<name>` into `target`; the files written."""
    pkg = "plica_" + name.replace("-", "_")
    example_key = public_jwk(generate("EC"))
    block = {"type": type_name, "name": "devices", "key": example_key}
    values = {
        "DIST": f"plica-{name}",
        "PKG": pkg,
        "NAME": name,
        "OPT": name.replace("-", "_"),
        "TYPE": type_name,
        "CLS": type_name[0].upper() + type_name[1:],
        "TYPE_ID": str(type_id),
        "PLICA_VERSION": __version__,
        "BLOCK": orjson.dumps(block, option=orjson.OPT_INDENT_2).decode(),
    }
    files = {
        "pyproject.toml": PYPROJECT,
        "README.md": README,
        ".gitignore": GITIGNORE,
        f"{pkg}/__init__.py": INIT,
        f"{pkg}/provisioner.py": PROVISIONER,
        f"{pkg}/client.py": CLIENT,
        f"{pkg}/manage.py": MANAGE,
        "tests/test_conformance.py": TEST_CONFORMANCE,
        "tests/test_tokens.py": TEST_TOKENS,
    }
    written = []
    for rel, text in files.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(render(text, values), encoding="utf-8")
        written.append(path)
    return written


@click.group("plugin")
def plugin_group() -> None:
    """Write provisioner plugins: `plica plugin new NAME` starts a distribution (docs/plugins.md)."""


@plugin_group.command("new")
@click.argument("name")
@click.option(
    "--dir",
    "directory",
    type=click.Path(file_okay=False, path_type=Path),
    default=None,
    help="Where to write the distribution (default ./plica-NAME); it must not exist or be empty.",
)
@click.option("--type", "type_name", default=None, help="The ca.json `type` (default: NAME in CamelCase).")
@click.option(
    "--type-id",
    type=click.IntRange(min=1000),
    default=1000,
    show_default=True,
    help="The number in its certificates' provisioner extension (third-party types use 1000 and above).",
)
def new_cmd(name: str, directory: Path | None, type_name: str | None, type_id: int) -> None:
    """Start a provisioner plugin: the distribution plica-NAME with a working token type built on plica.api,
    its README (ca.json block, flags) and tests that run the kernel's conformance suite."""
    if not NAME_RE.fullmatch(name):
        raise click.BadParameter(
            "lower-case letters, digits and single dashes, starting with a letter", param_hint="NAME"
        )
    type_name = type_name or _camel(name)
    if not TYPE_RE.fullmatch(type_name):
        raise click.BadParameter("letters and digits, starting with a letter", param_hint="--type")
    target = directory or Path.cwd() / f"plica-{name}"
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise click.ClickException(f"{target} already exists and is not empty")
    written = scaffold(name, target, type_name, type_id)
    click.echo(f"wrote plica-{name} ({len(written)} files) in {target}")
    click.echo(f"next: cd {target} && pip install -e '.[test]' && pytest && plica provisioner capabilities")
