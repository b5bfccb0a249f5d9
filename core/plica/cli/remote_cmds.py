"""The CLI against a remote CA's admin API (docs/admin.md): `plica certificate list`, and the remote mode
of `plica provisioner add|update|remove` and `plica admin list|add|update|remove`.

An admin proves who it is with an admin certificate (`--admin-cert/--admin-key`, the unattended way) or
signs in through the admin provisioner as step does: `--admin-provisioner "Admin JWK"` (its password
from `--admin-password-file` or a prompt) gets a short-lived certificate for `--admin-subject` (default
the e-mail of an OIDC sign-in, else `step`) that lives only in memory for the command.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote, urlencode

import click
import orjson
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from plica.admin.client import AdminClient, AdminCredentials
from plica.cli import lazy
from plica.cli.common import default_home, read_defaults
from plica.client import CAClientError
from plica.clientkit import client_for, make_token, pick_provisioner
from plica.durations import parse_duration, parse_time
from plica.jose import b64url_decode

REMOTE_FLAGS = ("admin_cert", "admin_provisioner")


def remote_options() -> list[click.Option]:
    """The options that select the remote mode and say how to sign in."""
    path = click.Path(exists=True, dir_okay=False)
    return [
        click.Option(["--ca-url"], envvar="PLICA_CA_URL", help="URL of the CA (default from defaults.json)."),
        click.Option(["--root"], envvar="PLICA_ROOT", type=click.Path(dir_okay=False), help="Root to trust."),
        click.Option(["--admin-cert"], type=path, help="Admin certificate (chain): work on the remote CA."),
        click.Option(["--admin-key"], type=path, help="The admin certificate's key."),
        click.Option(
            ["--admin-provisioner"], help="Sign in as an admin through this provisioner (e.g. 'Admin JWK')."
        ),
        click.Option(
            ["--admin-subject"],
            help="The admin to sign in as (default: the e-mail of an OIDC sign-in, else step).",
        ),
        click.Option(["--admin-password-file"], type=path, help="Password of the admin provisioner's key."),
    ]


def sign_in_options() -> list[click.Option]:
    """The installed types' client flags (`cli_client_options`: OIDC's `--console` and `--listen`, X5C's
    `--x5c-cert`, ...): signing in through an admin provisioner of that type takes them as `plica
    certificate` does."""
    from plica.plugins import get_plugins

    return [o for res in get_plugins().pm.hook.cli_client_options() for o in (res or [])]


def unique(params: list[click.Parameter]) -> list[click.Parameter]:
    """`params` without a later one that repeats an earlier one's name or flag (a type's client flag that a
    command already has, as `--ca-url`)."""
    names: set[str | None] = set()
    flags: set[str] = set()
    out = []
    for p in params:
        if p.name in names or flags & set(p.opts):
            continue
        names.add(p.name)
        flags.update(p.opts)
        out.append(p)
    return out


def with_remote_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """Add the remote options to a click command function (after its other decorators' options), and the
    installed types' client flags (`sign_in_options`) when the command runs (plica.cli.lazy), so that
    building the CLI does not import every plugin."""
    params = getattr(f, "__click_params__", [])
    f.__click_params__ = unique([*params, *reversed(remote_options())])  # type: ignore[attr-defined]
    return lazy.plugin_options("cli_client_options")(f)


def requested(kw: dict[str, Any]) -> bool:
    return any(kw.get(k) for k in (*REMOTE_FLAGS, "client_machine"))


def on_client_machine(kw: dict[str, Any], home: Path | None, config: Path | None) -> bool:
    """Whether a command that edits the CA here should work on the remote CA instead, as step's `step ca
    provisioner|admin` commands do anywhere: no --home/--config given, no ca.json in the default home,
    and a CA URL known (--ca-url, $PLICA_CA_URL or defaults.json). It then signs in through the admin
    provisioner (the CA's only JWK unless --admin-provisioner says), asking for its password."""
    if home is not None or config is not None or (default_home() / "config" / "ca.json").exists():
        return False
    return bool(kw.get("ca_url") or read_defaults().get("ca-url"))


def admin_client(kw: dict[str, Any]) -> AdminClient:
    """An admin client for the CA of `kw`, signed in with a certificate or through the admin provisioner:
    once per command (kept in `kw`), so a command of several requests asks for one password or one
    sign-in at the identity provider."""
    if "_admin_client" not in kw:
        kw["_admin_client"] = _signed_in(kw)
    client: AdminClient = kw["_admin_client"]
    return client


def _signed_in(kw: dict[str, Any]) -> AdminClient:
    ca = client_for(kw)
    if kw.get("admin_cert"):
        if not kw.get("admin_key"):
            raise click.UsageError("--admin-cert needs --admin-key")
        try:
            creds = AdminCredentials.load(kw["admin_cert"], kw["admin_key"])
        except ValueError as e:
            raise click.ClickException(str(e)) from None
        return AdminClient(ca.ca_url, ca.root, creds)
    subject = kw.get("admin_subject") or ""
    token_kw = {o.name: kw.get(o.name) for o in sign_in_options() if o.name}
    # without --admin-provisioner, the CA's only JWK provisioner (`Admin JWK` on a new CA), as step offers
    token_kw.update(provisioner=kw.get("admin_provisioner"), password_file=kw.get("admin_password_file"))
    if not token_kw["provisioner"]:
        try:
            token_kw["provisioner"] = pick_provisioner(ca, None, token_kw)["name"]
        except click.UsageError:
            raise click.UsageError(
                "the CA has several provisioners to sign in with: choose the admin provisioner with "
                "--admin-provisioner (or give --admin-cert/--admin-key)"
            ) from None
    key = ec.generate_private_key(ec.SECP256R1())
    from plica.cli.client_cmds import build_csr

    try:
        ott = make_token(ca, token_kw, "sign", subject or "step", [subject or "step"])
        # An identity provider's ID token says who signed in; its e-mail is the admin's subject (the spec's
        # single sign-on) unless --admin-subject says otherwise.
        subject = subject or _token_email(ott) or "step"
        resp = ca.post("/sign", {"csr": build_csr(key, subject, [subject]), "ott": ott, "notAfter": "5m"})
    except CAClientError as e:
        raise click.ClickException(f"cannot sign in as admin {subject!r}: {e}") from None
    chain = [x509.load_pem_x509_certificate(c.encode()) for c in resp["certChain"]]
    return AdminClient(ca.ca_url, ca.root, AdminCredentials(chain=chain, key=key))


def _token_email(token: str) -> str | None:
    """The `email` claim of a JWT this command just got (read, not verified: the CA verifies it)."""
    try:
        claims = orjson.loads(b64url_decode(token.split(".")[1]))
    except (IndexError, ValueError):
        return None
    email = claims.get("email") if isinstance(claims, dict) else None
    return email if isinstance(email, str) and email else None


def call(client: AdminClient, method: str, path: str, body: Any = None) -> Any:
    try:
        return client.request(method, path, body)
    except CAClientError as e:
        raise click.ClickException(str(e)) from None


# ---------------------------------------------------------------- provisioners (plica provisioner ...)
class RemoteDocument:
    """What `plica provisioner add|update|remove` edit, on the remote CA: the same `find` and
    `provisioners` as a ca.json document, each change sent to the admin API as it is made."""

    def __init__(self, client: AdminClient) -> None:
        from plica.plugins import get_plugins

        self.client, self.plugins = client, get_plugins()
        self.fetched: dict[str, dict[str, Any]] = {}
        self.provisioners = _RemoteList(self)

    def find(self, name: str) -> tuple[int, dict[str, Any]] | None:
        from plica.admin.linkedca import block_from_linkedca

        try:
            got = self.client.request("GET", "/admin/provisioners/" + quote(name, safe=""))
        except CAClientError as e:
            if e.status == 404:
                return None
            raise click.ClickException(str(e)) from None
        self.fetched[name] = got
        return 0, block_from_linkedca(got, self.plugins)


class _RemoteList:
    def __init__(self, doc: RemoteDocument) -> None:
        self.doc = doc

    def _body(self, block: dict[str, Any], like: dict[str, Any] | None) -> dict[str, Any]:
        from plica.admin.linkedca import linkedca_from_block
        from plica.admin.provstore import new_provisioner

        body = linkedca_from_block(new_provisioner(block), extensions=True)
        for k in ("id", "authorityId", "createdAt", "deletedAt"):
            body.pop(k, None)
            if like is not None and k in like:
                body[k] = like[k]
        return body

    def append(self, block: dict[str, Any]) -> None:
        call(self.doc.client, "POST", "/admin/provisioners", self._body(block, None))

    def __setitem__(self, _i: int, block: dict[str, Any]) -> None:
        ((name, like),) = self.doc.fetched.items()
        call(self.doc.client, "PUT", "/admin/provisioners/" + quote(name, safe=""), self._body(block, like))

    def __delitem__(self, _i: int) -> None:
        ((name, _),) = self.doc.fetched.items()
        call(self.doc.client, "DELETE", "/admin/provisioners/" + quote(name, safe=""))


def remote_edit(kw: dict[str, Any], change: Callable[[Any], str]) -> None:
    """Apply a `plica provisioner` change to the remote CA (what `_edit` does to ca.json)."""
    click.echo(change(RemoteDocument(admin_client(kw))) + " (remote)")


# ---------------------------------------------------------------- admins (plica admin ... --admin-cert)
ADMIN_NUMBERS = {"ADMIN": 1, "SUPER_ADMIN": 2}


def admin_list(kw: dict[str, Any]) -> list[dict[str, Any]]:
    client = admin_client(kw)
    provs = {p["id"]: p["name"] for p in _all_admin_provisioners(client)}
    out, cursor = [], ""
    while True:
        page = call(client, "GET", "/admin/admins?" + urlencode({"cursor": cursor, "limit": 100}))
        for a in page.get("admins", []):
            kind = {1: "ADMIN", 2: "SUPER_ADMIN"}.get(a.get("type"), str(a.get("type")))
            out.append(
                {
                    "id": a["id"],
                    "subject": a["subject"],
                    "provisioner": provs.get(a.get("provisioner_id", ""), a.get("provisioner_id", "")),
                    "type": kind,
                }
            )
        cursor = page.get("nextCursor") or ""
        if not cursor:
            return out


def admin_provisioners(client: AdminClient) -> list[dict[str, Any]]:
    """Every page of `/admin/provisioners`: the CA's provisioners (its database's) as ca.json blocks."""
    out: list[dict[str, Any]] = []
    cursor = ""
    while True:
        page = call(client, "GET", "/admin/provisioners?" + urlencode({"cursor": cursor, "limit": 100}))
        out += page.get("provisioners", [])
        cursor = page.get("nextCursor") or ""
        if not cursor:
            return out


def _all_admin_provisioners(client: AdminClient) -> list[dict[str, Any]]:
    names = [p.get("name") for p in admin_provisioners(client)]
    return [call(client, "GET", "/admin/provisioners/" + quote(n, safe="")) for n in names if n]


def local_provisioners(config_path: Path) -> list[dict[str, Any]]:
    """The provisioner blocks of the CA of `config_path`: ca.json's, or with `enableAdmin` its database's
    (ca.json's while the CA has not yet moved them there). Reads only."""
    import asyncio

    from plica import config as config_mod
    from plica.admin.provstore import list_provisioners
    from plica.caconfig_edit import EditError, read_document
    from plica.errors import ConfigError
    from plica.storage import StorageError, db_source, open_storage

    try:
        cfg = config_mod.load(config_path)
        blocks: list[dict[str, Any]] = list(read_document(config_path).provisioners)
    except ConfigError as e:
        raise click.ClickException(e.in_file(config_path)) from None
    except EditError as e:  # its own message names the file
        raise click.ClickException(str(e)) from None
    if not cfg.authority.enable_admin:
        return blocks

    async def stored() -> list[dict[str, Any]]:
        storage = open_storage(*db_source(cfg))
        await storage.open()
        try:
            await storage.migrate([])
            row = await storage.fetch_one("SELECT migrated FROM config_state WHERE id = 1")
            if not (row and row[0]):
                return blocks  # the CA's first start with enableAdmin will move these
            return [p.block for p in await list_provisioners(storage)]
        finally:
            await storage.close()

    try:
        return asyncio.run(stored())
    except StorageError as e:
        raise click.ClickException(f"database error: {e}") from None


def admin_add(kw: dict[str, Any], subject: str, provisioner: str, make_super: bool) -> dict[str, Any]:
    body = {"subject": subject, "provisioner": provisioner, "type": 2 if make_super else 1}
    made: dict[str, Any] = call(admin_client(kw), "POST", "/admin/admins", body)
    return {**made, "provisioner": provisioner}


def admin_find(kw: dict[str, Any], subject: str, provisioner: str | None) -> dict[str, Any]:
    admins = [a for a in admin_list(kw) if subject in (a["id"], a["subject"])]
    admins = [a for a in admins if provisioner is None or a["provisioner"] == provisioner]
    if not admins:
        raise click.ClickException(f"there is no admin {subject!r}")
    if len(admins) > 1:
        raise click.ClickException(
            f"{subject!r} is an admin of several provisioners: choose one with --provisioner"
        )
    return admins[0]


def admin_update(kw: dict[str, Any], admin_id: str, make_super: bool) -> dict[str, Any]:
    body = {"type": 2 if make_super else 1}
    out: dict[str, Any] = call(admin_client(kw), "PATCH", f"/admin/admins/{quote(admin_id, safe='')}", body)
    return out


def admin_remove(kw: dict[str, Any], admin_id: str) -> None:
    call(admin_client(kw), "DELETE", f"/admin/admins/{quote(admin_id, safe='')}")


# ---------------------------------------------------------------- plica certificate list
COLUMNS = ("serial", "subject", "provisioner", "status", "notAfter", "sans")


def expiring_before(value: str) -> str:
    """A duration from now (`30d`, `72h`) or an RFC 3339 time, as Unix seconds for the API."""
    days = value[:-1] if value.endswith("d") else ""
    if days.isdigit():  # Go durations have no days; an inventory wants them
        return str(int(time.time()) + int(days) * 86400)
    try:
        return str(int(time.time() + parse_duration(value).total_seconds()))
    except ValueError:
        pass
    try:
        return str(int(parse_time(value).timestamp()))
    except (ValueError, AttributeError):
        raise click.BadParameter(f"{value!r} is neither a duration (30d, 72h) nor an RFC 3339 time") from None


@click.command("list")
@click.option("--provisioner", help="Only certificates of this provisioner.")
@click.option("--name", help="Only certificates whose CN or a SAN contains this.")
@click.option("--status", type=click.Choice(["valid", "expired", "revoked"]), help="Only this status.")
@click.option("--expiring-before", help="Still valid, expiring before this (30d, 72h, or RFC 3339).")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@click.option("--csv", "as_csv", is_flag=True, help="Print CSV.")
@with_remote_options
def certificate_list_cmd(
    provisioner: str | None,
    name: str | None,
    status: str | None,
    expiring_before: str | None,
    as_json: bool,
    as_csv: bool,
    **kw: Any,
) -> None:
    """List the CA's X.509 certificates (GET /admin/certificates, every page). Needs an admin:
    --admin-cert/--admin-key, or --admin-provisioner to sign in."""
    if not requested(kw):
        raise click.UsageError("give --admin-cert/--admin-key or --admin-provisioner to sign in as an admin")
    query = {"limit": "10000"}
    for key, value in (("provisioner", provisioner), ("name", name), ("status", status)):
        if value:
            query[key] = value
    if expiring_before:
        query["expiringBefore"] = globals()["expiring_before"](expiring_before)
    client = admin_client(kw)
    certs: list[dict[str, Any]] = []
    while True:
        page = call(client, "GET", "/admin/certificates?" + urlencode(query))
        certs += page.get("certificates", [])
        if not page.get("nextCursor"):
            break
        query["cursor"] = page["nextCursor"]
    if as_json:
        click.echo(orjson.dumps(certs, option=orjson.OPT_INDENT_2).decode())
    elif as_csv:
        buf = io.StringIO()
        w = csv.writer(buf)
        w.writerow(COLUMNS)
        for c in certs:
            w.writerow(
                [c["serial"], c["subject"], c["provisioner"], c["status"], c["notAfter"], " ".join(c["sans"])]
            )
        click.echo(buf.getvalue(), nl=False)
    else:
        click.echo(_table(certs))


def _table(certs: list[dict[str, Any]]) -> str:
    if not certs:
        return "No certificates."
    rows = [[c["serial"], c["subject"], c["provisioner"], c["status"], c["notAfter"]] for c in certs]
    head = ["SERIAL", "SUBJECT", "PROVISIONER", "STATUS", "NOT AFTER"]
    widths = [max(len(str(r[i])) for r in [head, *rows]) for i in range(len(head))]
    return "\n".join(
        "  ".join(str(v).ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in [head, *rows]
    )


def with_list(base: click.Command, sub: click.Command) -> click.Command:
    """`base` (e.g. `plica certificate SUBJECT ...`) that also answers `base sub ...` (`plica certificate
    list`), since a click command cannot have subcommands."""

    class Combined(type(base)):  # type: ignore[misc]
        def make_context(
            self, info_name: str | None, args: list[str], parent: Any = None, **extra: Any
        ) -> Any:
            if args and args[0] == sub.name:
                return sub.make_context(f"{info_name} {sub.name}", args[1:], parent=parent, **extra)
            return super().make_context(info_name, args, parent=parent, **extra)

    combined = base
    combined.__class__ = Combined
    combined.epilog = (
        base.epilog or ""
    ) + f"\n\n`plica {base.name} {sub.name} --help`: {sub.short_help or ''}"
    return combined
