"""`plica provisioner ...`: list, add, update and remove provisioners, and show what this installation can do.

`add`/`update`/`remove` edit ca.json on the CA machine (like `step ca provisioner` without remote
management): the kernel owns the common fields (claims, templates), each installed plugin adds its
type's flags (`provisioner_cli_options`) and writes its type's fields (`provisioner_block_from_cli`).
Every change is validated by loading the result before it replaces the file (plica.caconfig_edit), and
`--reload` sends SIGHUP to the running `plica start`.
"""

from __future__ import annotations

import copy
import os
import signal
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import click
import orjson

from plica.cli import remote_cmds as remote
from plica.cli.common import default_home, read_password_file
from plica.client import CAClientError
from plica.clientkit import client_for
from plica.durations import parse_duration
from plica.errors import PluginError
from plica.http.pidfile import pid_file_path
from plica.plugins import Plugins, get_plugins
from plica.types import CAPABILITIES


@click.group("provisioner")
def provisioner_group() -> None:
    """Provisioners: list, add, update, remove (on the CA machine), and the installed types' capabilities."""


# ============================================================================ where ca.json is

_HOME_HELP = "The CA's directory (default $PLICA_HOME or ~/.plica); ca.json is <home>/config/ca.json."
_CONFIG_HELP = "Path to ca.json (default <home>/config/ca.json)."
F = TypeVar("F", bound=Callable[..., Any])


def _where(
    home_help: str = _HOME_HELP, config_help: str = _CONFIG_HELP
) -> list[tuple[list[str], dict[str, Any]]]:
    """--home and --config (or --ca-config), where ca.json is: (declarations, attributes) of each."""
    return [
        (
            ["--home"],
            {"type": click.Path(file_okay=False, path_type=Path), "default": None, "help": home_help},
        ),
        (
            ["--config", "--ca-config", "config_path"],
            {"type": click.Path(dir_okay=False, path_type=Path), "default": None, "help": config_help},
        ),
    ]


def where_options(home_help: str = _HOME_HELP, config_help: str = _CONFIG_HELP) -> Callable[[F], F]:
    """`_where` as decorators of a command."""

    def decorate(f: F) -> F:
        for decls, attrs in reversed(_where(home_help, config_help)):
            f = click.option(*decls, **attrs)(f)
        return f

    return decorate


def config_path_of(home: Path | None, config_path: Path | None) -> Path:
    return config_path or (home or default_home()) / "config" / "ca.json"


def home_of(config_path: Path) -> Path:
    """The CA home for a ca.json path, as `CAConfig.home` derives it (the pid file lives there)."""
    d = config_path.resolve().parent
    return d.parent if d.name == "config" else d


# ============================================================================ list / capabilities


@provisioner_group.command("list")
@where_options(
    "Read the CA of this home instead of asking it (ca.json, or its database with enableAdmin).",
    "Read this ca.json instead of asking the CA (its database with enableAdmin).",
)
@remote.with_remote_options
def list_cmd(home: Path | None, config_path: Path | None, **kw: Any) -> None:
    """Print the provisioners as JSON: the CA's /provisioners (all pages); with --admin-cert or
    --admin-provisioner its /admin/provisioners (all pages); with --home/--config the blocks in ca.json,
    or in the CA's database when ca.json has enableAdmin."""
    if home is not None or config_path is not None:
        provs = remote.local_provisioners(config_path_of(home, config_path))
    elif remote.requested(kw):
        provs = remote.admin_provisioners(remote.admin_client(kw))
    else:
        try:
            provs = client_for(kw).provisioners()
        except CAClientError as e:
            raise click.ClickException(f"cannot list provisioners: {e}") from None
    click.echo(orjson.dumps(provs, option=orjson.OPT_INDENT_2).decode())


def capability_table() -> str:
    plugins = get_plugins()
    rows = plugins.capability_rows()
    caps = list(CAPABILITIES)
    lines: list[str] = []
    if not rows:
        lines.append("No provisioner types are installed (pip install plica-jwk, plica-acme, ...).")
    else:
        width = max(len("type"), *(len(r["type"]) for r in rows))
        lines.append("type".ljust(width) + "  " + "  ".join(caps))
        for r in rows:
            marks = ["✔".center(len(c)) if c in r["capabilities"] else "-".center(len(c)) for c in caps]
            lines.append(r["type"].ljust(width) + "  " + "  ".join(marks))
        lines.append("")
        ident = plugins.identifier_rows()
        if ident:
            cols = list(ident[0]["columns"])
            w = max(len("identifier"), *(len(i["identifier"]) for i in ident))
            lines.append("identifier".ljust(w) + "  " + "  ".join(cols))
            for i in ident:
                lines.append(
                    i["identifier"].ljust(w)
                    + "  "
                    + "  ".join(("✔" if i["columns"][c] else "-").center(len(c)) for c in cols)
                )
    if plugins.key_managers:
        lines.append("")
        w = max(len("key manager"), *(len(k["type"]) for k in plugins.key_managers))
        lines.append("key manager".ljust(w) + "  distribution")
        for k in plugins.key_managers:
            lines.append(k["type"].ljust(w) + f"  {k['distribution']} {k['version']}".rstrip())
    for f in plugins.failures:
        lines.append(f"warning: {f}")
    return "\n".join(lines)


@provisioner_group.command("capabilities")
@click.option("--json", "as_json", is_flag=True, help="Print JSON (the same as GET /capabilities).")
def capabilities_cmd(as_json: bool) -> None:
    """Show each installed provisioner type and the capabilities its plugin implements."""
    if as_json:
        click.echo(orjson.dumps(get_plugins().capabilities_json(), option=orjson.OPT_INDENT_2).decode())
    else:
        click.echo(capability_table())


# ============================================================================ common (kernel) flags


class _Bool(click.ParamType):
    """true/false, as step's `--disable-renewal=false` accepts."""

    name = "boolean"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> bool:
        if isinstance(value, bool):
            return value
        v = str(value).strip().lower()
        if v in ("true", "1", "yes", "on", "t"):
            return True
        if v in ("false", "0", "no", "off", "f"):
            return False
        self.fail(f"{value!r} is not true or false", param, ctx)


# (parameter name, flag, claims JSON key)
DURATION_FLAGS = [
    ("x509_min_dur", "--x509-min-dur", "minTLSCertDuration"),
    ("x509_max_dur", "--x509-max-dur", "maxTLSCertDuration"),
    ("x509_default_dur", "--x509-default-dur", "defaultTLSCertDuration"),
    ("ssh_user_min_dur", "--ssh-user-min-dur", "minUserSSHCertDuration"),
    ("ssh_user_max_dur", "--ssh-user-max-dur", "maxUserSSHCertDuration"),
    ("ssh_user_default_dur", "--ssh-user-default-dur", "defaultUserSSHCertDuration"),
    ("ssh_host_min_dur", "--ssh-host-min-dur", "minHostSSHCertDuration"),
    ("ssh_host_max_dur", "--ssh-host-max-dur", "maxHostSSHCertDuration"),
    ("ssh_host_default_dur", "--ssh-host-default-dur", "defaultHostSSHCertDuration"),
]
BOOL_CLAIM_FLAGS = [
    ("disable_renewal", "--disable-renewal", "disableRenewal"),
    ("allow_renewal_after_expiry", "--allow-renewal-after-expiry", "allowRenewalAfterExpiry"),
]
TEMPLATE_FLAGS = [
    ("x509_template", "--x509-template", "x509"),
    ("ssh_template", "--ssh-template", "ssh"),
]
TEMPLATE_DATA_FLAGS = [
    ("x509_template_data", "--x509-template-data", "x509"),
    ("ssh_template_data", "--ssh-template-data", "ssh"),
]


def _value_option(flag: str, name: str, metavar: str, help: str) -> click.Option:
    """An option with one value and no default: not given (None) and given empty ("": remove) differ."""
    return click.Option([flag, name], default=None, metavar=metavar, help=help)


def _common_options(*, add: bool) -> list[click.Parameter]:
    opts: list[click.Parameter] = [click.Option(decls, **attrs) for decls, attrs in _where()]
    if add:
        opts.append(
            click.Option(
                ["--type", "provisioner_type"],
                default="JWK",
                show_default=True,
                help="The provisioner type (JWK, OIDC, X5C, ACME, ...): its plugin must be installed.",
            )
        )
    opts += [
        _value_option(
            flag,
            name,
            "DURATION",
            f"claims.{key} (e.g. 5m, 24h); an empty value removes it (global default applies).",
        )
        for name, flag, key in DURATION_FLAGS
    ]
    for name, flag, key in BOOL_CLAIM_FLAGS:
        opts.append(
            click.Option(
                [flag, name],
                type=_Bool(),
                is_flag=False,
                flag_value="true",
                default=None,
                help=f"claims.{key} (alone means true; {flag}=false sets false).",
            )
        )
    opts.append(
        click.Option(
            ["--enable-ssh-ca/--disable-ssh-ca", "enable_ssh_ca"],
            default=None,
            help="claims.enableSSHCA: may this provisioner sign SSH certificates.",
        )
    )
    opts += [
        _value_option(
            flag,
            name,
            "FILE",
            f'options.{kind}.templateFile: the {kind} certificate template; "" removes it.',
        )
        for name, flag, kind in TEMPLATE_FLAGS
    ]
    opts += [
        _value_option(
            flag,
            name,
            "FILE",
            f'options.{kind}.templateData: a JSON object file for the template; "" removes it.',
        )
        for name, flag, kind in TEMPLATE_DATA_FLAGS
    ]
    opts.append(
        click.Option(
            ["--password-file"],
            type=click.Path(exists=True, dir_okay=False),
            default=None,
            help="Password for the provisioner's private key (JWK: encrypts the key made by --create).",
        )
    )
    opts.append(
        click.Option(
            ["--reload"],
            is_flag=True,
            default=False,
            help="Send SIGHUP to the running `plica start` of this CA so the change takes effect now.",
        )
    )
    return opts


COMMON_NAMES = frozenset(
    [p.name for p in _common_options(add=True) if p.name]  # type: ignore[misc]
)


# ============================================================================ plugin flags


class PluginOptions:
    """The union of every installed plugin's `provisioner_cli_options`, deduplicated by parameter name.

    Click must know every option before it parses, so add/update accept all of them; the values then go
    to the plugin of the chosen type. Two plugins may give one name different meanings (ACME's repeatable
    `--challenge` is a challenge type, SCEP's is its shared secret): such a name is parsed as raw
    strings and converted with the chosen plugin's own declaration."""

    def __init__(self, plugins: Plugins) -> None:
        self.by_module: dict[int, list[click.Option]] = {}
        declared: dict[str, list[tuple[Any, click.Option]]] = {}
        for impl in plugins.pm.hook.provisioner_cli_options.get_hookimpls():
            try:
                opts = list(impl.function() or [])
            except Exception as e:
                plugins.failures.append(f"plugin {impl.plugin_name!r} failed to list its options: {e}")
                continue
            mine = [o for o in opts if isinstance(o, click.Option) and o.name and o.name not in COMMON_NAMES]
            self.by_module[id(impl.plugin)] = mine
            for o in mine:
                declared.setdefault(o.name, []).append((impl.plugin, o))  # type: ignore[arg-type]
        self.owners: dict[str, list[str]] = {}
        self.raw: set[str] = set()
        self.merged: dict[str, click.Option] = {}
        module_types: dict[int, list[str]] = {}
        for entry in plugins.types.values():
            module_types.setdefault(id(entry.plugin.module), []).append(entry.type.name)
        for name, decls in declared.items():
            self.owners[name] = [t for mod, _ in decls for t in module_types.get(id(mod), [])]
            first = decls[0][1]
            if all(_compatible(first, o) for _, o in decls[1:]):
                self.merged[name] = first
                continue
            self.raw.add(name)
            flags = list(dict.fromkeys(f for _, o in decls for f in o.opts))
            self.merged[name] = click.Option(
                [*flags, name],
                multiple=any(o.multiple for _, o in decls),
                default=None,
                help=" / ".join(dict.fromkeys(o.help or "" for _, o in decls if o.help)),
            )

    def params(self) -> list[click.Option]:
        return [copy.copy(o) for o in self.merged.values()]

    def values_for(
        self, module: Any, type_name: str, parsed: dict[str, Any], ctx: click.Context
    ) -> dict[str, Any]:
        """`parsed` with the chosen plugin's options converted its way; a flag of another type is an error."""
        own = {o.name: o for o in self.by_module.get(id(module), [])}
        out = dict(parsed)
        for name in self.merged:
            value = parsed.get(name)
            given = value not in (None, (), False)
            if name not in own:
                if given:
                    flag = self.merged[name].opts[0]
                    owners = ", ".join(self.owners.get(name, [])) or "another type"
                    raise click.UsageError(
                        f"{flag} is not an option of provisioner type {type_name} (it belongs to {owners})"
                    )
                out[name] = None
                continue
            if name in self.raw:
                out[name] = _convert(own[name], value, ctx)
        return out


def _compatible(a: click.Option, b: click.Option) -> bool:
    return (
        a.multiple == b.multiple
        and a.is_flag == b.is_flag
        and a.count == b.count
        and type(a.type) is type(b.type)
        and a.nargs == b.nargs
    )


def _convert(opt: click.Option, value: Any, ctx: click.Context) -> Any:
    values = list(value) if isinstance(value, tuple | list) else ([] if value is None else [value])
    if opt.multiple:
        return tuple(opt.type.convert(v, opt, ctx) for v in values)
    if not values:
        return None
    if len(values) > 1:
        raise click.UsageError(f"{opt.opts[0]} takes a single value for this provisioner type")
    return opt.type.convert(values[0], opt, ctx)


# ============================================================================ building a block


def _given(kw: dict[str, Any], flags: Iterable[tuple[str, str, str]]) -> Iterator[tuple[Any, str, str]]:
    """(value, flag, target) for each of `flags` (option name, flag, target) the command was given."""
    for name, flag, target in flags:
        value = kw.get(name)
        if value is not None:
            yield value, flag, target


def _apply_common(block: dict[str, Any], kw: dict[str, Any], cfg_path: Path) -> None:
    claims = block.get("claims")
    if claims is not None and not isinstance(claims, dict):
        raise click.UsageError("the provisioner's 'claims' is not a JSON object; fix ca.json first")
    claims = dict(claims or {})
    touched = False
    for v, flag, key in _given(kw, DURATION_FLAGS):
        touched = True
        if v == "":
            claims.pop(key, None)
            continue
        try:
            d = parse_duration(v)
        except ValueError as e:
            raise click.BadParameter(str(e), param_hint=flag) from None
        if d.total_seconds() <= 0:
            raise click.BadParameter(f"{v!r} must be a positive duration", param_hint=flag)
        claims[key] = v
    for v, _, key in _given(kw, BOOL_CLAIM_FLAGS):
        claims[key] = v
        touched = True
    if kw.get("enable_ssh_ca") is not None:
        claims["enableSSHCA"] = kw["enable_ssh_ca"]
        touched = True
    if touched:
        block.pop("claims", None)
        if claims:
            block["claims"] = claims

    options = block.get("options")
    if options is not None and not isinstance(options, dict):
        raise click.UsageError("the provisioner's 'options' is not a JSON object; fix ca.json first")
    options = copy.deepcopy(options or {})
    touched = False
    for v, flag, kind in _given(kw, TEMPLATE_FLAGS):
        touched = True
        sub = dict(options.get(kind) or {})
        sub.pop("template", None)  # an inline template would win over the file
        sub.pop("templateFile", None)
        if v != "":
            sub["templateFile"] = _template_path(v, cfg_path, flag)
        _set_or_drop(options, kind, sub)
    for v, flag, kind in _given(kw, TEMPLATE_DATA_FLAGS):
        touched = True
        sub = dict(options.get(kind) or {})
        sub.pop("templateData", None)
        if v != "":
            sub["templateData"] = _template_data(v, flag)
        _set_or_drop(options, kind, sub)
    if touched:
        block.pop("options", None)
        if options:
            block["options"] = options


def _set_or_drop(options: dict[str, Any], kind: str, sub: dict[str, Any]) -> None:
    if sub:
        options[kind] = sub
    else:
        options.pop(kind, None)


def _template_path(value: str, cfg_path: Path, flag: str) -> str:
    """Keep a path the CA will find as written (absolute, or relative to the CA home as step resolves
    templateFile); a file named relative to the current directory is stored absolute."""
    # With the template engine, which only the commands that edit ca.json need (the CLI starts without).
    from plica.certdesc.render import resolve_template_path

    home = home_of(cfg_path)
    if Path(resolve_template_path(value, base_dir=str(home))).is_file():
        return value
    if Path(value).is_file():
        return str(Path(value).resolve())
    raise click.BadParameter(
        f"template file {value!r} not found (relative paths are read from {home})", param_hint=flag
    )


def _template_data(value: str, flag: str) -> dict[str, Any]:
    try:
        data = orjson.loads(Path(value).read_bytes())
    except OSError as e:
        raise click.BadParameter(f"cannot read {value}: {e.strerror}", param_hint=flag) from None
    except orjson.JSONDecodeError as e:
        raise click.BadParameter(f"{value} is not valid JSON: {e}", param_hint=flag) from None
    if not isinstance(data, dict):
        raise click.BadParameter(f"{value} must hold a JSON object", param_hint=flag)
    return data


def _block_from_plugin(
    plugins: Plugins,
    type_name: str,
    name: str,
    options: dict[str, Any],
    existing: dict[str, Any] | None,
) -> dict[str, Any]:
    try:
        entry = plugins.get_type(type_name)
    except PluginError as e:
        raise click.ClickException(f"cannot manage provisioner {name!r}: {e}") from None
    fn = entry.hooks.get("provisioner_block_from_cli")
    if fn is None:
        block = dict(existing or {"type": entry.type.name, "name": name})
    else:
        try:
            block = fn(
                provisioner_type=entry.type.name,
                name=name,
                options=options,
                existing=copy.deepcopy(existing) if existing is not None else None,
            )
        except click.ClickException:
            raise
        except (ValueError, OSError) as e:
            raise click.ClickException(f"provisioner {name!r} ({entry.type.name}): {e}") from None
        if block is None:
            raise click.ClickException(
                f"the plugin {entry.plugin.distribution} did not build a block for type {entry.type.name}"
            )
    block = dict(block)
    # The kernel owns the identity of the block: type first, then name, whatever the plugin did.
    block.pop("type", None)
    block.pop("name", None)
    out = {"type": existing.get("type", entry.type.name) if existing else entry.type.name, "name": name}
    out.update(block)
    return out


# ============================================================================ reload


def send_reload(cfg_path: Path) -> int:
    """SIGHUP the `plica start` serving this ca.json (its master forwards it to the workers)."""
    pid_path = pid_file_path(home_of(cfg_path))
    try:
        pid = int(pid_path.read_text().strip())
    except (OSError, ValueError):
        raise click.ClickException(
            f"the change is saved, but no running CA was found ({pid_path} is missing): "
            "start the CA, or send SIGHUP to it yourself"
        ) from None
    cmdline = Path(f"/proc/{pid}/cmdline")
    if cmdline.parent.exists() and (not cmdline.exists() or b"plica" not in cmdline.read_bytes()):
        raise click.ClickException(
            f"the change is saved, but process {pid} from {pid_path} is not a running plica: "
            "start the CA, or send SIGHUP to it yourself"
        )
    try:
        os.kill(pid, signal.SIGHUP)
    except ProcessLookupError:
        raise click.ClickException(
            f"the change is saved, but the CA (pid {pid}) is not running: start it to use the change"
        ) from None
    return pid


def _finish(cfg_path: Path, reload: bool, what: str) -> None:
    click.echo(f"✔ {what} in {cfg_path}")
    if reload:
        pid = send_reload(cfg_path)
        click.echo(f"✔ Sent SIGHUP to the CA (pid {pid}); its log says whether the reload succeeded")
    else:
        click.echo("Send SIGHUP to the CA (or use --reload) for the change to take effect.")


# ============================================================================ add / update / remove


def _password_prompt() -> Callable[[str], bytes] | None:
    if not os.isatty(0):
        return None

    def prompt(message: str) -> bytes:
        return click.prompt(message, hide_input=True, confirmation_prompt=True).encode()

    return prompt


def _edit(cfg_path: Path, change: Callable[[Any], str], reload: bool, kw: dict[str, Any]) -> None:
    if remote.requested(kw):  # --admin-cert / --admin-provisioner: the remote CA's admin API
        return remote.remote_edit(kw, change)
    # Validating an edit loads ca.json as the server does (plugins, templates): only commands that edit
    # import it, so that the CLI starts without.
    from plica.caconfig_edit import EditError, edit_config

    try:
        with edit_config(cfg_path) as doc:
            what = change(doc)
    except EditError as e:
        msg = str(e)
        if "default duration is longer than max duration" in msg:
            msg += (
                " (a request that names no duration gets the default: lower it too, e.g. "
                "--x509-default-dur, --ssh-user-default-dur or --ssh-host-default-dur)"
            )
        raise click.ClickException(msg) from None
    _finish(cfg_path, reload, what)


def build_commands(plugins: Plugins) -> list[click.Command]:
    popts = PluginOptions(plugins)

    def options_for(kw: dict[str, Any], type_name: str, ctx: click.Context) -> dict[str, Any]:
        entry = plugins.get_type(type_name)
        values = popts.values_for(entry.plugin.module, entry.type.name, kw, ctx)
        values["password"] = read_password_file(kw.get("password_file"))
        values["prompt"] = _password_prompt()
        return values

    def add(name: str, **kw: Any) -> None:
        ctx = click.get_current_context()
        kw["client_machine"] = remote.on_client_machine(kw, kw["home"], kw["config_path"])
        cfg_path = config_path_of(kw.pop("home"), kw.pop("config_path"))
        type_name = kw.pop("provisioner_type")
        reload = kw.pop("reload")
        try:
            entry = plugins.get_type(type_name)
        except PluginError as e:
            raise click.ClickException(f"cannot add provisioner {name!r}: {e}") from None

        def change(doc: Any) -> str:
            if doc.find(name) is not None:
                raise click.ClickException(f"{cfg_path} already has a provisioner named {name!r}")
            block = _block_from_plugin(plugins, entry.type.name, name, options_for(kw, type_name, ctx), None)
            _apply_common(block, kw, cfg_path)
            doc.provisioners.append(block)
            return f"Added provisioner {name!r} ({entry.type.name})"

        _edit(cfg_path, change, reload, kw)

    def update(name: str, **kw: Any) -> None:
        ctx = click.get_current_context()
        kw["client_machine"] = remote.on_client_machine(kw, kw["home"], kw["config_path"])
        cfg_path = config_path_of(kw.pop("home"), kw.pop("config_path"))
        reload = kw.pop("reload")

        def change(doc: Any) -> str:
            found = doc.find(name)
            if found is None:
                raise click.ClickException(f"{cfg_path} has no provisioner named {name!r}")
            i, existing = found
            type_name = str(existing.get("type", ""))
            block = _block_from_plugin(plugins, type_name, name, options_for(kw, type_name, ctx), existing)
            _apply_common(block, kw, cfg_path)
            doc.provisioners[i] = block
            return f"Updated provisioner {name!r} ({type_name})"

        _edit(cfg_path, change, reload, kw)

    name_arg = click.Argument(["name"])
    add_cmd = click.Command(
        "add",
        callback=add,
        params=remote.unique(
            [name_arg, *_common_options(add=True), *popts.params(), *remote.remote_options()]
        ),
        help="Add a provisioner to ca.json (like `step ca provisioner add`). NAME identifies it; --type "
        "picks its type (default JWK) and each installed type adds its own flags.",
        short_help="Add a provisioner to ca.json.",
    )
    update_cmd = click.Command(
        "update",
        callback=update,
        params=remote.unique(
            [copy.copy(name_arg), *_common_options(add=False), *popts.params(), *remote.remote_options()]
        ),
        help="Change a provisioner in ca.json (like `step ca provisioner update`): only the flags given "
        'change; an empty value (--x509-min-dur="") removes a field.',
        short_help="Change a provisioner in ca.json.",
    )
    return [add_cmd, update_cmd]


@provisioner_group.command("remove")
@click.argument("name")
@where_options()
@click.option("--reload", is_flag=True, help="Send SIGHUP to the running CA so the change takes effect now.")
@remote.with_remote_options
def remove_cmd(name: str, home: Path | None, config_path: Path | None, reload: bool, **kw: Any) -> None:
    """Remove the provisioner NAME from ca.json (like `step ca provisioner remove`)."""
    kw["client_machine"] = remote.on_client_machine(kw, home, config_path)
    cfg_path = config_path_of(home, config_path)

    def change(doc: Any) -> str:
        found = doc.find(name)
        if found is None:
            raise click.ClickException(f"{cfg_path} has no provisioner named {name!r}")
        i, block = found
        del doc.provisioners[i]
        return f"Removed provisioner {name!r} ({block.get('type')})"

    _edit(cfg_path, change, reload, kw)


for _cmd in build_commands(get_plugins()):
    provisioner_group.add_command(_cmd)
