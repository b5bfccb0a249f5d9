"""A CA's ca.json loaded the way `plica start` loads it, without serving; a plugin loaded from its source."""

from __future__ import annotations

import contextlib
import importlib.util
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from types import ModuleType
from typing import TYPE_CHECKING

from plica import config as config_mod
from plica.authority import Authority, Snapshot
from plica.http.server import load_material, open_authority
from plica.plugins import Plugins, get_plugins
from plica.storage import open_storage_for

if TYPE_CHECKING:
    from plica.testing import CAFiles


@contextlib.asynccontextmanager
async def opened_authority(files: CAFiles, plugins: Plugins | None = None) -> AsyncIterator[Authority]:
    """The Authority of `files`: config, key material, storage (migrated) and every provisioner loaded
    through its plugin, exactly as start-up does it. Raises what start-up raises (`ConfigError` naming the
    JSON path, `PluginError`); the storage is closed afterwards."""
    plugins = plugins or get_plugins()
    cfg = config_mod.load(files.config_path)
    material = load_material(cfg, files.password)
    authority = await open_authority(cfg, material, plugins, start_time=time.time() - 5)
    try:
        yield authority
    finally:
        await authority.storage.close()


def load_snapshot(files: CAFiles, plugins: Plugins | None = None) -> Snapshot:
    """What a reload of `files` builds: config, key material and every provisioner loaded through its plugin,
    without opening the storage. Raises what a reload refuses (`ConfigError` naming the JSON path)."""
    cfg = config_mod.load(files.config_path)
    authority = Authority(
        material=load_material(cfg, files.password),
        storage=open_storage_for(cfg),  # never opened: loading provisioners does not touch it
        plugins=plugins or get_plugins(),
        start_time=time.time() - 5,
    )
    return authority.load_snapshot(cfg)


def import_source(package_dir: Path) -> ModuleType:
    """Import the package in `package_dir` (a plugin's source tree, not installed) under its directory's
    name, without touching sys.path: its entry points stay unregistered, so the kernel's plugin discovery in
    the rest of the test session does not see it. The conformance suite needs only the module."""
    name = package_dir.name
    if name in sys.modules:
        return sys.modules[name]
    spec = importlib.util.spec_from_file_location(
        name, package_dir / "__init__.py", submodule_search_locations=[str(package_dir)]
    )
    if spec is None or spec.loader is None:
        raise ImportError(f"{package_dir} is not a Python package")
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[name]
        raise
    return module
