"""What a Compute Engine instance identity token says (docs/reference/cloud-iid.md, GCP): the `format=full`
claims Google adds under `google.compute_engine`, read once the signature has verified.

    {"aud": "<ca>/1.0/sign#gcp/<name>", "azp": "<sa id>", "email": "<sa>@<project>.iam.gserviceaccount.com",
     "email_verified": true, "exp": iat + 3600, "iat": ..., "iss": "https://accounts.google.com",
     "sub": "<sa id>", "google": {"compute_engine": {"instance_creation_timestamp": ..., "instance_id": "...",
     "instance_name": "...", "project_id": "...", "project_number": ..., "zone": "us-central1-a"}}}
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from attrs import frozen

from plica.api import Unauthorized

GOOGLE_ISSUER = "https://accounts.google.com"
# step-ca checks that these are not empty, in this order (gcp.go authorizeToken).
REQUIRED = ("instance_id", "instance_name", "project_id", "zone")


@frozen
class Instance:
    """The instance a verified token speaks for, and the service account it runs as."""

    id: str
    name: str
    project_id: str
    zone: str
    created: dt.datetime | None  # instance_creation_timestamp
    service_account: str  # `sub`: the service account's unique id (the certificate's credential id)
    email: str

    def check_complete(self) -> None:
        """step-ca's last check: the instance fields it relies on are not empty (Unauthorized naming one)."""
        for claim, value in zip(REQUIRED, (self.id, self.name, self.project_id, self.zone), strict=True):
            if not value:
                raise Unauthorized(f"GCP token claim google.compute_engine.{claim} cannot be empty")

    @property
    def dns_names(self) -> list[str]:
        """The instance's internal DNS names, the only SANs allowed with disableCustomSANs."""
        return [
            f"{self.name}.c.{self.project_id}.internal",
            f"{self.name}.{self.zone}.c.{self.project_id}.internal",
        ]


def read_instance(claims: dict[str, Any]) -> Instance:
    """The `google.compute_engine` claims of a verified token. Unauthorized when the token has none (it was
    asked for without `format=full`) or a field has the wrong type; `check_complete` checks the rest."""
    google = claims.get("google")
    ce = google.get("compute_engine") if isinstance(google, dict) else None
    if not isinstance(ce, dict):
        raise Unauthorized(
            "GCP token has no google.compute_engine claims (the metadata server gives them with format=full)"
        )
    fields: dict[str, str] = {}
    for name in REQUIRED:
        value = ce.get(name, "")
        if not isinstance(value, str):
            raise Unauthorized(f"GCP token claim google.compute_engine.{name} must be a string")
        fields[name] = value
    email = claims.get("email", "")
    sub = claims.get("sub", "")
    return Instance(
        id=fields["instance_id"],
        name=fields["instance_name"],
        project_id=fields["project_id"],
        zone=fields["zone"],
        created=_created(ce.get("instance_creation_timestamp")),
        service_account=sub if isinstance(sub, str) else "",
        email=email if isinstance(email, str) else "",
    )


def _created(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    try:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise TypeError
        return dt.datetime.fromtimestamp(value, dt.UTC)
    except (TypeError, ValueError, OverflowError, OSError):
        raise Unauthorized(
            "GCP token claim google.compute_engine.instance_creation_timestamp must be a time (seconds)"
        ) from None
