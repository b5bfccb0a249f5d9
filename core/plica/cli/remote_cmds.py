"""The CLI against a remote CA's admin API (docs/admin.md): `plica certificate list`, and the remote mode
of `plica provisioner add|update|remove` and `plica admin list|add|update|remove`.

An admin proves who it is with an admin certificate (`--admin-cert/--admin-key`, the unattended way) or
signs in through the admin provisioner as step does: `--admin-provisioner "Admin JWK"` (its password
from `--admin-password-file` or a prompt) gets a short-lived certificate for `--admin-subject` (default
`step`) that lives only in memory for the command.
"""

from __future__ import annotations

import csv
import io
import time
from collections.abc import Callable
from typing import Any
from urllib.parse import quote, urlencode

import click
import orjson
from cryptography import x509
from cryptography.hazmat.primitives.asymmetric import ec

from plica.admin.client import AdminClient, AdminCredentials
from plica.client import CAClientError
from plica.clientkit import client_for, make_token
from plica.durations import parse_duration, parse_time

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
        click.Option(["--admin-subject"], default="step", show_default=True, help="The admin to sign in as."),
        click.Option(["--admin-password-file"], type=path, help="Password of the admin provisioner's key."),
    ]


def with_remote_options(f: Callable[..., Any]) -> Callable[..., Any]:
    for opt in reversed(remote_options()):
        f = click.option(*opt.opts, **_option_kwargs(opt))(f)
    return f


def _option_kwargs(opt: click.Option) -> dict[str, Any]:
    kw: dict[str, Any] = {"help": opt.help, "type": opt.type, "envvar": opt.envvar}
    if opt.default is not None:
        kw.update(default=opt.default, show_default=True)
    return kw


def requested(kw: dict[str, Any]) -> bool:
    return any(kw.get(k) for k in REMOTE_FLAGS)


def admin_client(kw: dict[str, Any]) -> AdminClient:
    """An admin client for the CA of `kw`, signed in with a certificate or through the admin provisioner."""
    ca = client_for(kw)
    if kw.get("admin_cert"):
        if not kw.get("admin_key"):
            raise click.UsageError("--admin-cert needs --admin-key")
        try:
            creds = AdminCredentials.load(kw["admin_cert"], kw["admin_key"])
        except ValueError as e:
            raise click.ClickException(str(e)) from None
        return AdminClient(ca.ca_url, ca.root, creds)
    subject = kw.get("admin_subject") or "step"
    token_kw = {"provisioner": kw["admin_provisioner"], "password_file": kw.get("admin_password_file")}
    key = ec.generate_private_key(ec.SECP256R1())
    from plica.cli.client_cmds import build_csr

    try:
        ott = make_token(ca, token_kw, "sign", subject, [subject])
        resp = ca.post("/sign", {"csr": build_csr(key, subject, [subject]), "ott": ott, "notAfter": "5m"})
    except CAClientError as e:
        raise click.ClickException(f"cannot sign in as admin {subject!r}: {e}") from None
    chain = [x509.load_pem_x509_certificate(c.encode()) for c in resp["certChain"]]
    return AdminClient(ca.ca_url, ca.root, AdminCredentials(chain=chain, key=key))


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


def _all_admin_provisioners(client: AdminClient) -> list[dict[str, Any]]:
    names = []
    cursor = ""
    while True:
        page = call(client, "GET", "/admin/provisioners?" + urlencode({"cursor": cursor, "limit": 100}))
        names += [p.get("name") for p in page.get("provisioners", [])]
        cursor = page.get("nextCursor") or ""
        if not cursor:
            break
    return [call(client, "GET", "/admin/provisioners/" + quote(n, safe="")) for n in names if n]


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
