"""Building the `plica` command without importing every plugin.

Discovering plugins imports each of them (and whatever they import), which is most of a second; `plica
--version`, `plica --help` and the commands that need no plugin should not pay it. So what plugins add to
the CLI is attached when a command that needs it is about to run (or show its own help), not when the
command tree is built:

- `plugin_options(hook)`: a decorator for a kernel command whose options include every plugin's
  (`cli_client_options`): it only marks the function; the options are added by `complete`.
- `deferred(group, make)`: sub-commands of a kernel group that are built from the plugins
  (`provisioner add|update` take every type's flags); `make()` runs in `complete`.
- `complete(cmd)`: attaches all of that to `cmd` and everything under it, once. The root group (`plica.cli.
  main`) calls it on the command it is about to run; the plugins' own commands (hook `cli_commands`) are
  merged there too.

Command definitions stay ordinary click decorators; only when plugins are consulted changes.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

import click

_OPTIONS_HOOK = "__plica_plugin_options__"
_DEFERRED = "__plica_deferred__"
_DONE = "__plica_completed__"


def plugin_options(hook: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Mark a command function to receive the options every plugin returns from `hook` (a broadcast hook
    returning a list of click.Option); they are appended after the command's own options."""

    def mark(f: Callable[..., Any]) -> Callable[..., Any]:
        setattr(f, _OPTIONS_HOOK, hook)
        return f

    return mark


def deferred(group: click.Group, make: Callable[[], Iterable[click.Command]]) -> None:
    """Add the commands `make()` returns to `group` when it is completed (see `complete`)."""
    getattr(group, _DEFERRED, None) or setattr(group, _DEFERRED, [])
    getattr(group, _DEFERRED).append(make)


def needs_plugins(cmd: click.Command) -> bool:
    """Whether completing `cmd` asks the plugins anything."""
    if getattr(cmd, _DONE, False):
        return False
    if getattr(cmd.callback, _OPTIONS_HOOK, None) or getattr(cmd, _DEFERRED, None):
        return True
    if isinstance(cmd, click.Group):
        return any(needs_plugins(c) for c in cmd.commands.values())
    return False


def complete(cmd: click.Command) -> click.Command:
    """Attach the plugins' options and deferred sub-commands to `cmd` and everything under it (once)."""
    if getattr(cmd, _DONE, False):
        return cmd
    setattr(cmd, _DONE, True)
    hook = getattr(cmd.callback, _OPTIONS_HOOK, None)
    if hook is not None:
        from plica.plugins import get_plugins

        have = {p.name for p in cmd.params}
        flags = {f for p in cmd.params for f in p.opts}
        for res in getattr(get_plugins().pm.hook, hook)():
            for opt in res or []:
                # a plugin's flag the command already has (by name or by flag, as `--ca-url`) is skipped
                if opt.name not in have and not flags & set(opt.opts):
                    cmd.params.append(opt)
                    have.add(opt.name)
                    flags.update(opt.opts)
    if isinstance(cmd, click.Group):
        for make in getattr(cmd, _DEFERRED, None) or []:
            for sub in make():
                cmd.add_command(sub)
        for sub in list(cmd.commands.values()):
            complete(sub)
    return cmd


def merge(into: click.Group, commands: Iterable[click.Command]) -> None:
    """Add plugin commands to `into`; a plugin group named like an existing group adds its sub-commands
    to it (sshpop's `ssh renew` joins the kernel's `ssh`)."""
    for cmd in commands:
        have = into.commands.get(cmd.name or "")
        if isinstance(have, click.Group) and isinstance(cmd, click.Group):
            for sub in cmd.commands.values():
                have.add_command(sub)
        else:
            into.add_command(cmd)
