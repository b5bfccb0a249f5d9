"""The ACME tables (`storage_migrations`). Times are Unix seconds; JSON columns are TEXT.

Every row carries what the hot path filters on, so each protocol step is one or two statements:
a nonce is consumed by one DELETE, an account is read by its primary key, a new order is one multi-row
INSERT for its authorizations and one INSERT for the order. An authorization holds its
challenge state in its own row (one challenge of an authorization is validated at a time), so a challenge
is claimed by one conditional UPDATE and no two instances validate the same one.
"""

from __future__ import annotations

from plica.api import Migration

_TABLES = [
    """CREATE TABLE IF NOT EXISTS acme_nonces (
        nonce TEXT PRIMARY KEY,
        expires BIGINT NOT NULL)""",
    "CREATE INDEX IF NOT EXISTS acme_nonces_expires ON acme_nonces (expires)",
    """CREATE TABLE IF NOT EXISTS acme_accounts (
        id TEXT PRIMARY KEY,
        provisioner TEXT NOT NULL,
        thumbprint TEXT NOT NULL,
        jwk TEXT NOT NULL,
        status TEXT NOT NULL,
        contact TEXT NOT NULL,
        tos_agreed INTEGER NOT NULL,
        eab_key_id TEXT,
        created BIGINT NOT NULL,
        UNIQUE (provisioner, thumbprint))""",
    """CREATE TABLE IF NOT EXISTS acme_orders (
        id TEXT PRIMARY KEY,
        provisioner TEXT NOT NULL,
        account_id TEXT NOT NULL,
        status TEXT NOT NULL,
        expires BIGINT NOT NULL,
        created BIGINT NOT NULL,
        identifiers TEXT NOT NULL,
        not_before TEXT,
        not_after TEXT,
        error TEXT,
        replaces TEXT,
        cert_id TEXT,
        cert_serial TEXT,
        cert_chain TEXT,
        cert_not_after BIGINT)""",
    "CREATE INDEX IF NOT EXISTS acme_orders_account ON acme_orders (account_id, created)",
    "CREATE UNIQUE INDEX IF NOT EXISTS acme_orders_cert ON acme_orders (cert_id)",
    "CREATE INDEX IF NOT EXISTS acme_orders_serial ON acme_orders (cert_serial)",
    "CREATE INDEX IF NOT EXISTS acme_orders_replaces ON acme_orders (replaces)",
    "CREATE INDEX IF NOT EXISTS acme_orders_expires ON acme_orders (expires)",
    """CREATE TABLE IF NOT EXISTS acme_authz (
        id TEXT PRIMARY KEY,
        order_id TEXT NOT NULL,
        account_id TEXT NOT NULL,
        provisioner TEXT NOT NULL,
        id_type TEXT NOT NULL,
        id_value TEXT NOT NULL,
        wildcard INTEGER NOT NULL,
        status TEXT NOT NULL,
        expires BIGINT NOT NULL,
        challenges TEXT NOT NULL,
        token TEXT NOT NULL,
        ch_type TEXT,
        ch_status TEXT,
        ch_error TEXT,
        validated BIGINT,
        next_attempt BIGINT)""",
    "CREATE INDEX IF NOT EXISTS acme_authz_order ON acme_authz (order_id)",
    "CREATE INDEX IF NOT EXISTS acme_authz_account ON acme_authz (account_id, id_value)",
    "CREATE INDEX IF NOT EXISTS acme_authz_processing ON acme_authz (ch_status, next_attempt)",
    """CREATE TABLE IF NOT EXISTS acme_eab_keys (
        id TEXT PRIMARY KEY,
        provisioner TEXT NOT NULL,
        reference TEXT NOT NULL,
        hmac_key TEXT NOT NULL,
        created BIGINT NOT NULL,
        account_id TEXT,
        bound_at BIGINT)""",
    "CREATE INDEX IF NOT EXISTS acme_eab_provisioner ON acme_eab_keys (provisioner, reference)",
]

# A reference names one key per provisioner, also when two admins create it at the same moment.
_EAB_UNIQUE = [
    "CREATE UNIQUE INDEX IF NOT EXISTS acme_eab_reference ON acme_eab_keys (provisioner, reference)"
    " WHERE reference <> ''"
]

# device-attest-01: what a verified attestation vouches for (the attested key, the device's data), read
# by finalize.
_ATTESTATION = ["ALTER TABLE acme_authz ADD COLUMN attestation TEXT"]

MIGRATIONS = [
    Migration(id="acme-0001", sql={"sqlite": list(_TABLES), "postgresql": list(_TABLES)}),
    Migration(id="acme-0002", sql={"sqlite": _EAB_UNIQUE, "postgresql": _EAB_UNIQUE}),
    Migration(id="acme-0003", sql={"sqlite": _ATTESTATION, "postgresql": _ATTESTATION}),
]
