"""What a client command needs to talk to a CA: the connection options, the client, a provisioner picked from
`/provisioners` and a token made by that provisioner type's plugin.

Public (through `plica.api`) so that a plugin's own client commands (`plica ssh renew` of SSHPOP, `plica acme
eab` over the admin API) behave exactly as the kernel's do. The second half is what a type's `client_token`
and `provisioner_block_from_cli` share: file options, the password, the key that signs a token and the token.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import click
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from plica.cli.common import read_defaults, read_password_file
from plica.client import CAClient, CAClientError
from plica.hookspecs import hookimpl
from plica.jose import PrivateKey, PublicKey, sign_compact
from plica.plugins import get_plugins
from plica.types import ClientContext

# The audience path of each operation (step CLI uses the /1.0/ prefixed URLs).
AUDIENCE_PATH = {
    "sign": "/1.0/sign",
    "revoke": "/1.0/revoke",
    "ssh-sign": "/1.0/ssh/sign",
    "ssh-revoke": "/1.0/ssh/revoke",
    "ssh-renew": "/1.0/ssh/renew",
    "ssh-rekey": "/1.0/ssh/rekey",
    "renew": "/1.0/renew",
}


def ca_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """--ca-url/--root/--provisioner/--password-file, with defaults from <home>/config/defaults.json."""

    @click.option("--ca-url", envvar="PLICA_CA_URL", help="URL of the CA (default from defaults.json).")
    @click.option(
        "--root",
        "root",
        envvar="PLICA_ROOT",
        type=click.Path(dir_okay=False),
        help="Root certificate to trust (default from defaults.json).",
    )
    @click.option("--provisioner", "--issuer", "provisioner", help="Name of the provisioner to use.")
    @click.option(
        "--password-file",
        "--provisioner-password-file",
        "password_file",
        type=click.Path(exists=True, dir_okay=False),
        help="Password of the provisioner key.",
    )
    @functools.wraps(f)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        return f(*args, **kwargs)

    return wrapper


def client_for(kw: dict[str, Any]) -> CAClient:
    d = read_defaults()
    url = kw.get("ca_url") or d.get("ca-url")
    root = kw.get("root") or d.get("root")
    if not url:
        raise click.UsageError("no CA URL: give --ca-url (or run `plica init`, which writes defaults.json)")
    return CAClient(url, Path(root) if root else None)


def credential_types(kw: dict[str, Any]) -> set[str]:
    """The provisioner types (lower-case) whose plugin contributed a client option the user set: with
    `--x5c-cert` only X5C provisioners are candidates, as step offers only those."""
    plugins = get_plugins()
    # pluggy types a hookimpl's function as returning object; cli_client_options' spec says what it returns.
    impls = {
        id(i.plugin): cast(Callable[[], list[click.Option] | None], i.function)
        for i in plugins.pm.hook.cli_client_options.get_hookimpls()
    }
    ctx = click.get_current_context(silent=True)

    def given(opt: click.Option) -> bool:
        # Only flags the user gave count: an option with a default (--k8ssa-token-path) is always in kw.
        if not kw.get(opt.name or ""):
            return False
        if ctx is not None and opt.name:
            src = ctx.get_parameter_source(opt.name)
            if src is not None:
                return src not in (click.core.ParameterSource.DEFAULT, click.core.ParameterSource.DEFAULT_MAP)
        return kw.get(opt.name or "") != opt.default

    out: set[str] = set()
    for key, entry in plugins.types.items():
        fn = impls.get(id(entry.plugin.module))
        if fn is not None and any(given(o) for o in fn() or []):
            out.add(key)
    return out


def pick_provisioner(client: CAClient, name: str | None, kw: dict[str, Any] | None = None) -> dict[str, Any]:
    provs = client.provisioners()
    installed = get_plugins().types
    if name:
        for p in provs:
            if p.get("name") == name:
                return p
        raise click.ClickException(f"the CA has no provisioner named {name!r}")
    wanted = credential_types(kw or {})
    if wanted:
        usable = [p for p in provs if str(p.get("type", "")).lower() in wanted]
    else:
        usable = [
            p
            for p in provs
            if str(p.get("type", "")).lower() in installed and str(p.get("type")).upper() == "JWK"
        ]
        usable = usable or [p for p in provs if str(p.get("type", "")).lower() in installed]
    if len(usable) == 1:
        return usable[0]
    if not usable:
        raise click.ClickException("the CA has no provisioner this client can use")
    names = ", ".join(repr(p.get("name")) for p in usable)
    raise click.UsageError(f"the CA has several provisioners ({names}): choose one with --provisioner")


def make_token(
    client: CAClient,
    kw: dict[str, Any],
    operation: str,
    subject: str,
    sans: list[str],
    extra_claims: dict[str, Any] | None = None,
) -> str:
    prov = pick_provisioner(client, kw.get("provisioner"), kw)
    options = dict(kw)
    options["password"] = read_password_file(kw.get("password_file"))
    ctx = ClientContext(
        provisioner=prov,
        ca_url=client.ca_url,
        audience=client.ca_url.rstrip("/") + AUDIENCE_PATH[operation],
        subject=subject,
        sans=sans,
        options=options,
        prompt=(lambda msg: click.prompt(msg, hide_input=True)),
        extra_claims=extra_claims or {},
    )
    plugins = get_plugins()
    type_name = str(prov.get("type"))
    make = (
        plugins.types[type_name.lower()].hooks.get("client_token")
        if type_name.lower() in plugins.types
        else None
    )
    token: str | None = (
        make(provisioner_type=type_name, context=ctx, operation=operation) if make is not None else None
    )
    if not token:
        raise click.ClickException(f"no installed plugin can make tokens for provisioner type {type_name!r}")
    return token


def write_ssh_cert(path: Path, b64: str) -> None:
    blob = base64.b64decode(b64)
    kind = blob[4 : 4 + int.from_bytes(blob[:4], "big")]
    path.write_bytes(kind + b" " + b64.encode() + b"\n")


def refused(e: CAClientError) -> click.ClickException:
    """A CA's refusal as the one-line error a CLI prints."""
    return click.ClickException(
        f"the CA refused the request ({e.status}): {e.message}" if e.status else e.message
    )


# ------------------------------------------------------------------ what the types' client sides share


def file_option(*decls: str, help: str, **kw: Any) -> click.Option:
    """An option naming a file that must exist (a key, a certificate, a PEM bundle): most of what a type's
    `cli_client_options` and `provisioner_cli_options` return. `kw` goes to click.Option as is."""
    return click.Option(list(decls), type=click.Path(exists=True, dir_okay=False), help=help, **kw)


def cert_and_key_options(kind: str, label: str, *, cert: str, key: str) -> list[click.Option]:
    """`--<kind>-cert` and `--<kind>-key`: the client options of a type whose tokens are signed with the key
    of a certificate they carry (X5C, SSHPOP, Nebula). `cert` says what the certificate is, `key` the forms
    its private key may take; `required_options(context, "<kind>_cert", "<kind>_key")` reads them back."""
    return [
        file_option(f"--{kind}-cert", help=f"{label} provisioner: {cert}"),
        file_option(f"--{kind}-key", help=f"{label} provisioner: the private key of --{kind}-cert ({key})."),
    ]


def block_from_file_option(
    type_name: str, option: str, field: str, read: Callable[[str], Any], *, missing: str
) -> Callable[..., dict[str, Any] | None]:
    """`provisioner_block_from_cli` for a type whose block needs one field read from one file option (X5C's
    and Nebula's `roots`): the `existing` block or a new one, `field` set to `read(path)` when the option
    `option` gives a path, UsageError(`missing`) when the block has no `field` even so:

        provisioner_block_from_cli = block_from_file_option("X5C", "x5c_root", "roots", read, missing=...)
    """

    @hookimpl(specname="provisioner_block_from_cli")
    def block_from_cli(
        provisioner_type: str, name: str, options: dict[str, Any], existing: dict[str, Any] | None
    ) -> dict[str, Any] | None:
        block = dict(existing or {"type": type_name, "name": name})
        if options.get(option):
            block[field] = read(options[option])
        if not block.get(field):
            raise click.UsageError(missing)
        return block

    return block_from_cli


def required_options(context: ClientContext, *names: str) -> list[str]:
    """The values of the client options a type cannot make a token without (`"x5c_cert", "x5c_key"`), in
    order; UsageError naming the provisioner and the flags when one of them is not given."""
    values = [context.options.get(n) for n in names]
    if not all(values):
        flags = " and ".join("--" + n.replace("_", "-") for n in names)
        prov = context.provisioner
        raise click.UsageError(f"provisioner {prov.get('name')!r} of type {prov.get('type')} needs {flags}")
    return [str(v) for v in values]


def need_password(
    given: bytes | None, prompt: Callable[[str], str | bytes] | None, message: str, *, missing: str
) -> bytes:
    """The password a command cannot do without: `given` (from --password-file), else what `prompt` answers
    to `message` (a terminal); UsageError(`missing`) when neither gives one."""
    password = given
    if not password and prompt is not None:
        answer = prompt(message)
        password = answer.encode() if isinstance(answer, str) else answer
    if not password:
        raise click.UsageError(missing)
    return password


def load_signing_key(path: str, password: bytes | None) -> PrivateKey:
    """The private key that signs a type's tokens (`--x5c-key`, `--sshpop-key`): PEM or OpenSSH, EC, RSA or
    Ed25519. UsageError saying what is wrong (an encrypted key without --password-file, an unreadable or
    unsupported key)."""
    data = Path(path).read_bytes()
    key: Any
    try:
        if b"OPENSSH PRIVATE KEY" in data:
            key = serialization.load_ssh_private_key(data, password=password)
        else:
            key = serialization.load_pem_private_key(data, password=password)
    except TypeError:
        raise click.UsageError(f"{path} is encrypted: give --password-file") from None
    except (ValueError, UnsupportedAlgorithm) as e:
        raise click.UsageError(f"cannot read the private key {path}: {e}") from None
    if not isinstance(key, ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey):
        raise click.UsageError(f"{path}: unsupported key type {type(key).__name__}")
    return key


def jws_alg(key: PrivateKey) -> str:
    """The JWS algorithm step signs a token with for a key: ES256/384/512 by curve, RS256, or EdDSA."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        alg = {256: "ES256", 384: "ES384", 521: "ES512"}.get(key.curve.key_size)
        if alg is None:
            raise click.UsageError(f"unsupported elliptic curve {key.curve.name} for a token signature")
        return alg
    if isinstance(key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    raise click.UsageError(f"unsupported key type {type(key).__name__} for a token signature")


def _spki(key: PublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)


def sign_token(
    key: PrivateKey, claims: dict[str, Any], *, holder: PublicKey, mismatch: str, **header: Any
) -> str:
    """A token signed with the key of the credential it carries, as step's clients make them: header `alg`
    (from the key), `typ: JWT` and `header` (the credential: `x5c`, `sshpop`). UsageError(`mismatch`) when
    `key` is not the private half of `holder`, the credential's public key."""
    if _spki(holder) != _spki(key.public_key()):
        raise click.UsageError(mismatch)
    return sign_compact({"alg": jws_alg(key), "typ": "JWT", **header}, claims, key)
