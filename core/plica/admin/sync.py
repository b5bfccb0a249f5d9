"""Several instances, one CA: with `enableAdmin` the provisioners are the database's, and every worker
of every instance sharing that database installs a change made through any of them within a second.

A change to the `provisioners` table bumps `config_state.version` in the same transaction (triggers,
kernel-0003). Each worker polls that one integer every `POLL_INTERVAL` in the background and, when it
moved, rebuilds its snapshot from the table — the same swap as a SIGHUP reload, so requests in flight
finish with the provisioners they started with. The signing path never queries it: it reads the
installed snapshot, as without `enableAdmin`. (A poll of one row costs the database less than keeping a
LISTEN connection per worker, works the same on SQLite, and needs no session state on pooled
PostgreSQL connections.)
"""

from __future__ import annotations

import asyncio
import logging
from typing import TYPE_CHECKING

from plica.admin.provstore import config_version, database_config
from plica.config import CAConfig
from plica.errors import ConfigError, PluginError
from plica.storage import StorageError

if TYPE_CHECKING:
    from plica.authority import Authority

log = logging.getLogger("plica.admin")

POLL_INTERVAL = 0.25  # seconds: a change is live everywhere well within one second


async def load(authority: Authority, file_config: CAConfig) -> None:
    """Build and install the snapshot of `file_config` with the database's provisioners. Raises
    ConfigError/PluginError (nothing installed) when they do not load."""
    version = await config_version(authority.storage)
    cfg = await database_config(authority.storage, file_config)
    authority.install(authority.load_snapshot(cfg))
    authority.file_config = file_config
    authority.config_version = version


async def refresh(authority: Authority) -> bool:
    """Reload if the provisioners changed since the installed snapshot; True if it did."""
    version = await config_version(authority.storage)
    if version == authority.config_version or authority.file_config is None:
        return False
    try:
        await load(authority, authority.file_config)
    except (ConfigError, PluginError) as e:
        # Every write is validated by loading it first; this is a row written by something else.
        log.error("provisioners in the database do not load, keeping the previous ones: %s", e)
        authority.config_version = version
        return False
    log.info("provisioners changed in the database (version %d): reloaded", version)
    return True


async def watch(authority: Authority, interval: float = POLL_INTERVAL) -> None:
    """Poll the change counter until cancelled."""
    while True:
        await asyncio.sleep(interval)
        try:
            await refresh(authority)
        except StorageError as e:
            log.warning("cannot check the provisioners for changes: %s", e)
        except Exception:
            log.exception("checking the provisioners for changes failed")


def reload_soon(authority: Authority, file_config: CAConfig) -> None:
    """SIGHUP with `enableAdmin`: the rest of ca.json is re-read, the provisioners stay the database's."""

    async def run() -> None:
        try:
            await load(authority, file_config)
        except (ConfigError, PluginError, StorageError) as e:
            log.error("reload failed, keeping the previous configuration: %s", e)

    task = asyncio.get_running_loop().create_task(run())
    _pending.add(task)
    task.add_done_callback(_pending.discard)


_pending: set[asyncio.Task[None]] = set()
