"""Running a provisioner's certificate template (X.509 or SSH): what its failures look like to a client."""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import TypeVar

from plica.certdesc.errors import DescriptionError
from plica.errors import BadRequest, InternalError
from plica.templating.errors import TemplateError
from plica.types import Provisioner

log = logging.getLogger("plica.authority")
T = TypeVar("T")


def render_step(prov: Provisioner, fn: Callable[[], T]) -> T:
    """Run a template step. step answers 400 with the message of `fail` and 500 for any other template
    error (the template is the operator's, not the client's); either way the message names it."""
    try:
        return fn()
    except (TemplateError, DescriptionError) as e:
        if isinstance(e, TemplateError) and e.fail_message:
            raise BadRequest(e.fail_message) from None
        log.error("template of provisioner %r failed: %s", prov.name, e)
        raise InternalError(
            f"error applying the certificate template of provisioner {prov.name!r}: {e}"
        ) from None
