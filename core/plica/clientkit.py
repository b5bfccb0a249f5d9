"""What a client command needs to talk to a CA: the connection options, the client, a provisioner picked from
`/provisioners` and a token made by that provisioner type's plugin.

Public (through `plica.api`) so that a plugin's own client commands (`plica ssh renew` of SSHPOP, `plica acme
eab` over the admin API) behave exactly as the kernel's do.
"""

from __future__ import annotations

import base64
import functools
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

import click

from plica.cli.common import read_defaults, read_password_file
from plica.client import CAClient, CAClientError
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
