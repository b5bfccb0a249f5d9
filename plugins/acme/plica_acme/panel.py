"""ACME in an operator's console (the kernel's `admin_panels` hook): the newest accounts, the orders in
flight and the EAB keys of each provisioner that requires them; creating a key (its HMAC key shown once)
and revoking one. The actions keep the admin API's rules (`api/eab_admin.py`): the provisioner must be an
ACME one with `requireEAB`, a reference is unique per provisioner and at most 256 characters."""

from __future__ import annotations

import functools
import time
from typing import Any

import orjson

from plica.api import (
    AdminAction,
    AdminPanel,
    AdminTable,
    AuthorityView,
    BadRequest,
    NotFound,
    hookimpl,
    rfc3339,
)

from . import eab
from .provisioner import TYPE, acme_provisioner
from .store import EAB_PURPOSE, AcmeStore

LIMIT = 100
MAX_REFERENCE = 256


def _eab_provisioner(authority: AuthorityView, name: str) -> str:
    prov = acme_provisioner(authority, name)
    if prov is None:
        raise NotFound(f"there is no ACME provisioner named {name[:100]!r}")
    if not prov.state.require_eab:
        raise BadRequest(f"ACME provisioner {name!r} does not require EAB")
    return prov.name


def _identifiers(raw: Any) -> str:
    try:
        ids = orjson.loads(raw) if isinstance(raw, str | bytes) else raw
        return ", ".join(str(i.get("value", "")) for i in ids)
    except (ValueError, TypeError, AttributeError):
        return ""


async def tables(authority: AuthorityView) -> list[AdminTable]:
    store = AcmeStore(authority.storage)
    now = int(time.time())
    accounts = [
        {"Account": a[0], "Provisioner": a[1], "Status": a[2], "Contact": _identifiers_contact(a[3]),
         "Created": rfc3339(int(a[4])), "EAB key": a[5] or ""}
        for a in await store.recent_accounts(LIMIT)
    ]  # fmt: skip
    orders = [
        {"Order": o[0], "Provisioner": o[1], "Account": o[2], "Status": o[3], "Names": _identifiers(o[4]),
         "Expires": rfc3339(int(o[5]))}
        for o in await store.orders_in_flight(now, LIMIT)
    ]  # fmt: skip
    keys = []
    for prov in authority.provisioners_of_type(TYPE.name):
        if prov.state.require_eab:
            for k in await store.eab_keys(prov.name):
                keys.append(
                    {"Key id": k.id, "Provisioner": k.provisioner, "Reference": k.reference,
                     "Bound to": k.account_id or "", "Created": rfc3339(k.created),
                     "provisioner": k.provisioner, "id": k.id}
                )  # fmt: skip
    return [
        AdminTable("Accounts (newest first)", ("Account", "Provisioner", "Status", "Contact", "Created", "EAB key"), accounts),
        AdminTable("Orders in flight", ("Order", "Provisioner", "Account", "Status", "Names", "Expires"), orders),
        AdminTable(
            "External account binding keys",
            ("Key id", "Provisioner", "Reference", "Bound to", "Created"),
            keys,
            row_action="eab-revoke",
            row_fields=("provisioner", "id"),
            note="Only provisioners with requireEAB have keys. The HMAC key is shown once, when it is created.",
        ),
    ]  # fmt: skip


def _identifiers_contact(raw: Any) -> str:
    try:
        return ", ".join(str(c) for c in orjson.loads(raw))
    except (ValueError, TypeError):
        return ""


async def create_key(authority: AuthorityView, fields: dict[str, str]) -> dict[str, str]:
    name = _eab_provisioner(authority, fields.get("provisioner", ""))
    reference = fields.get("reference", "").strip()
    if len(reference) > MAX_REFERENCE:
        raise BadRequest(f"reference length {len(reference)} exceeds the maximum ({MAX_REFERENCE})")
    try:
        # Sealed with the CA's key, as every other way of adding a key does.
        key = await eab.add_key(
            AcmeStore(authority.storage, functools.partial(authority.sealer, EAB_PURPOSE)), name, reference
        )
    except ValueError as e:
        raise BadRequest(str(e)) from None
    return {
        "Provisioner": name,
        "Reference": reference,
        "Key id (--kid)": key.id,
        "HMAC key (--hmac)": key.hmac_key,
    }


async def revoke_key(authority: AuthorityView, fields: dict[str, str]) -> dict[str, str]:
    name = _eab_provisioner(authority, fields.get("provisioner", ""))
    if not await AcmeStore(authority.storage).remove_eab_key(name, fields.get("id", "")):
        raise NotFound("ACME External Account Key not found")
    return {}


@hookimpl
def admin_panels(authority: AuthorityView) -> list[AdminPanel]:
    return [
        AdminPanel(
            "acme",
            "ACME",
            tables,
            (
                AdminAction("eab-create", "Create an EAB key", ("provisioner", "reference"), create_key),
                AdminAction("eab-revoke", "Revoke", ("provisioner", "id"), revoke_key),
            ),
        )
    ]
