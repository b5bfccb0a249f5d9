"""The `plica` command: CA operations, client commands, and what plugins add."""

from __future__ import annotations

import sys

import click

from plica import __version__
from plica.cli.admin_cmds import admin_group
from plica.cli.ca import init_cmd, start_cmd
from plica.cli.client_cmds import (
    certificate_cmd,
    rekey_cmd,
    renew_cmd,
    revoke_cmd,
    root_cmd,
    ssh_group,
    token_cmd,
)
from plica.cli.crypto_cmds import crypto_group
from plica.cli.kms_cmds import kms_group
from plica.cli.plugin_cmds import plugin_group
from plica.cli.provisioner_cmds import provisioner_group
from plica.cli.remote_cmds import certificate_list_cmd, with_list
from plica.plugins import get_plugins


def build_cli() -> click.Group:
    @click.group(context_settings={"help_option_names": ["-h", "--help"]})
    @click.version_option(__version__, prog_name="plica")
    def cli() -> None:
        """Plica: a pluggable online certificate authority (step-ca compatible)."""

    for cmd in (
        init_cmd,
        start_cmd,
        token_cmd,
        with_list(certificate_cmd, certificate_list_cmd),
        renew_cmd,
        rekey_cmd,
        revoke_cmd,
        root_cmd,
        ssh_group,
        provisioner_group,
        crypto_group,
        admin_group,
        plugin_group,
        kms_group,
    ):
        cli.add_command(cmd)
    for res in get_plugins().pm.hook.cli_commands():
        for cmd in res or []:
            if (
                cmd.name in cli.commands
                and isinstance(cli.commands[cmd.name], click.Group)
                and isinstance(cmd, click.Group)
            ):
                for sub in cmd.commands.values():
                    cli.commands[cmd.name].add_command(sub)  # type: ignore[attr-defined]
            else:
                cli.add_command(cmd)
    return cli


def main() -> None:
    sys.exit(build_cli()(standalone_mode=True))
