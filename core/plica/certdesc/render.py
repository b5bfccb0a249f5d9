"""Rendering templates into certificate descriptions, and the provisioner template options (§6.1, §6.2).

The CA renders a template for every request, so parsed templates are cached by their text. A template
file is still read on every call (step reads `templateFile` at each signing, so edits apply at once);
only the parse of identical text is reused.
"""

from __future__ import annotations

import base64
import binascii
import os
import threading
from collections.abc import Mapping
from typing import Any

from plica.templating import parse

from .data import merge_template_data
from .errors import DescriptionError
from .sshdesc import SSHDescription
from .x509desc import X509Description

_CACHE_MAX = 256
_cache: dict[tuple[str, str], Any] = {}
_cache_lock = threading.Lock()


def _parsed(text: str, name: str) -> Any:
    """The parsed template for `text`, from the cache when possible (parse errors are not cached)."""
    key = (name, text)
    template = _cache.get(key)
    if template is None:
        template = parse(text, name=name)
        with _cache_lock:
            if len(_cache) >= _CACHE_MAX:
                # Templates come from configuration, so a full cache means churn; start over.
                _cache.clear()
            _cache[key] = template
    return template


def render_text(template_text: str, data: Mapping[str, Any], *, name: str = "template") -> str:
    """Execute a template; `plica.templating.TemplateError` (parse, execution, `fail`) propagates."""
    return str(_parsed(template_text, name).execute(data))


def render_x509(template_text: str, data: Mapping[str, Any], *, name: str = "template") -> X509Description:
    """Render an X.509 template and decode the output (§1); decode errors raise `DescriptionError`."""
    return X509Description.from_json(render_text(template_text, data, name=name), template=name)


def render_ssh(template_text: str, data: Mapping[str, Any], *, name: str = "template") -> SSHDescription:
    """Render an SSH template and decode the output (§2); decode errors raise `DescriptionError`."""
    return SSHDescription.from_json(render_text(template_text, data, name=name), template=name)


def clear_cache() -> None:
    with _cache_lock:
        _cache.clear()


def resolve_template_path(path: str, *, base_dir: str) -> str:
    """step's `step.Abs`: absolute stays, `~/` is $HOME, `./` and `../` are relative to the working
    directory, anything else is relative to the step path (`base_dir`)."""
    if os.path.isabs(path):
        return path
    if path == "~" or path.startswith("~/"):
        return os.path.join(os.path.expanduser("~"), path[2:])
    if path in (".", "..") or path.startswith(("./", "../")):
        return os.path.abspath(path)
    return os.path.join(base_dir, path)


def load_template_option(options: Mapping[str, Any] | None, *, base_dir: str) -> str | None:
    """The custom template text of a provisioner's `x509`/`ssh` options, or None for the default (§6.1).

    `template` wins over `templateFile`. A `template` whose trimmed text starts with `{` is the template
    itself; otherwise it is standard base64 of it. `templateFile` is resolved by `resolve_template_path`
    and read now (call this at signing time, as step does). Failures raise `DescriptionError`.
    """
    if not options:
        return None
    inline = options.get("template") or ""
    if inline:
        text = str(inline).strip()
        if text.startswith("{"):
            return text
        try:
            return base64.b64decode(text, validate=True).decode("utf-8")
        except (binascii.Error, ValueError) as e:
            raise DescriptionError(f"error decoding template: {e}") from None
    path = options.get("templateFile") or ""
    if not path:
        return None
    full = resolve_template_path(str(path), base_dir=base_dir)
    try:
        with open(full, encoding="utf-8") as f:
            return f.read()
    except (OSError, UnicodeDecodeError) as e:
        raise DescriptionError(f"error reading template file {full}: {e}") from None


def has_custom_template(options: Mapping[str, Any] | None) -> bool:
    """Whether a custom template is configured (it decides if `.Insecure.User` is set, §6.3)."""
    return bool(options and (options.get("template") or options.get("templateFile")))


__all__ = [
    "clear_cache",
    "has_custom_template",
    "load_template_option",
    "merge_template_data",
    "render_ssh",
    "render_text",
    "render_x509",
    "resolve_template_path",
]
