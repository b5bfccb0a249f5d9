"""The `plica` command: CA operations, client commands, and what plugins add.

The root group imports a command's module only when that command is asked for, and consults the plugins
only for a command that needs them (`plica.cli.lazy`), so `plica --version` and `plica --help` start in a
fraction of the time discovering plugins takes.
"""

from __future__ import annotations

import importlib
import importlib.metadata
import sys
from typing import Any

import click

from plica import __version__
from plica.cli import lazy

# name → module:attribute, imported when the command is asked for
KERNEL_COMMANDS: dict[str, str] = {
    "init": "plica.cli.ca:init_cmd",
    "start": "plica.cli.ca:start_cmd",
    "token": "plica.cli.client_cmds:token_cmd",
    "certificate": "plica.cli.main:certificate_with_list",
    "renew": "plica.cli.client_cmds:renew_cmd",
    "rekey": "plica.cli.client_cmds:rekey_cmd",
    "revoke": "plica.cli.client_cmds:revoke_cmd",
    "root": "plica.cli.client_cmds:root_cmd",
    "ssh": "plica.cli.client_cmds:ssh_group",
    "provisioner": "plica.cli.provisioner_cmds:provisioner_group",
    "crypto": "plica.cli.crypto_cmds:crypto_group",
    "admin": "plica.cli.admin_cmds:admin_group",
    "plugin": "plica.cli.plugin_cmds:plugin_group",
    "kms": "plica.cli.kms_cmds:kms_group",
}

# Plugins that add top-level commands (hook `cli_commands`) name them here, so that `plica --help` lists
# them without importing the plugin: `[project.entry-points."plica.commands"] acme = "plica_acme"`.
COMMANDS_ENTRY_POINT_GROUP = "plica.commands"


# Commands a function of this module builds a root command from (`certificate_with_list`).
COMPOSED = {"plica.cli.client_cmds:certificate_cmd", "plica.cli.remote_cmds:certificate_list_cmd"}


def certificate_with_list() -> click.Command:
    """`plica certificate SUBJECT ...`, which also answers `plica certificate list`."""
    from plica.cli.client_cmds import certificate_cmd
    from plica.cli.remote_cmds import certificate_list_cmd, with_list

    return with_list(certificate_cmd, certificate_list_cmd)


def _import(ref: str) -> click.Command:
    """The command `ref` names: a click command, or a function that builds one."""
    module, _, attr = ref.partition(":")
    obj = getattr(importlib.import_module(module), attr)
    cmd: click.Command = obj if isinstance(obj, click.Command) else obj()
    return cmd


class PlicaGroup(click.Group):
    """The root group: kernel commands imported on demand, plugin commands merged when one is needed."""

    def __init__(self, **kw: Any) -> None:
        super().__init__(**kw)
        self._plugins_merged = False

    def _declared(self) -> dict[str, importlib.metadata.EntryPoint]:
        return {ep.name: ep for ep in importlib.metadata.entry_points(group=COMMANDS_ENTRY_POINT_GROUP)}

    def _merge_plugins(self) -> None:
        if self._plugins_merged:
            return
        self._plugins_merged = True
        from plica.plugins import get_plugins

        for res in get_plugins().pm.hook.cli_commands():
            for cmd in res or []:
                if cmd.name in KERNEL_COMMANDS and cmd.name not in self.commands:
                    self.add_command(_import(KERNEL_COMMANDS[cmd.name]))
            lazy.merge(self, res or [])

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*KERNEL_COMMANDS, *self._declared(), *self.commands})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        """The command as defined (for listing); `resolve_command` completes it before it runs."""
        if cmd_name in self.commands:
            return self.commands[cmd_name]
        if cmd_name in KERNEL_COMMANDS:
            self.add_command(_import(KERNEL_COMMANDS[cmd_name]))
            return self.commands[cmd_name]
        self._merge_plugins()
        return self.commands.get(cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, cmd, rest = super().resolve_command(ctx, args)
        if cmd is not None and (isinstance(cmd, click.Group) or lazy.needs_plugins(cmd)):
            # A group may get sub-commands from plugins (sshpop's `ssh renew`), so they are asked first.
            self._merge_plugins()
            cmd = self.commands[cmd.name or ""]
        if cmd is not None:
            lazy.complete(cmd)
        return name, cmd, rest

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        declared = self._declared()
        names = self.list_commands(ctx)
        limit = formatter.width - 6 - max(map(len, names), default=0)
        rows = []
        for name in names:
            if name in self.commands or name in KERNEL_COMMANDS:
                cmd = self.get_command(ctx, name)
                if cmd is None or cmd.hidden:
                    continue
                rows.append((name, cmd.get_short_help_str(limit)))
            else:  # a plugin's, not imported: its distribution says what it is
                dist = declared[name].dist
                text = f"[{dist.name}] {dist.metadata['Summary'] or ''}" if dist else ""
                rows.append((name, click.Command(name, help=text).get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def load_all(self) -> PlicaGroup:
        """Every command, completed (tests walk the whole tree)."""
        for name in self.list_commands(click.Context(self)):
            self.get_command(click.Context(self), name)
        self._merge_plugins()
        for cmd in self.commands.values():
            lazy.complete(cmd)
        return self


def build_cli() -> PlicaGroup:
    @click.group(cls=PlicaGroup, context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(__version__, prog_name="plica")
    def cli() -> None:
        """Plica: a pluggable online certificate authority (step-ca compatible)."""

    return cli  # type: ignore[return-value]


def main() -> None:
    sys.exit(build_cli()(standalone_mode=True))
