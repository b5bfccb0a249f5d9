"""URLs of ACME resources, built from the request's scheme and Host (docs/reference/wire.md §8: links use the Host)."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from aiohttp import web

# The directory's entries (RFC 8555 §7.1.1, RFC 9773's renewalInfo) and the paths they point to.
DIRECTORY = {
    "newNonce": "new-nonce",
    "newAccount": "new-account",
    "newOrder": "new-order",
    "revokeCert": "revoke-cert",
    "keyChange": "key-change",
    "renewalInfo": "renewal-info",
}


class Links:
    """The URL space of one provisioner as one request sees it (`/acme/<name>` or `/2.0/acme/<name>`)."""

    __slots__ = ("base", "path")

    def __init__(self, request: web.Request, provisioner: str) -> None:
        self.path = f"/acme/{quote(provisioner, safe='')}"
        prefix = "/2.0" if request.path.startswith("/2.0/") else ""
        self.base = f"{request.scheme}://{request.host}{prefix}{self.path}"

    def url(self, *parts: str) -> str:
        return "/".join((self.base, *parts))

    def directory(self) -> str:
        return self.url("directory")

    def directory_entries(self) -> dict[str, str]:
        return {name: self.url(path) for name, path in DIRECTORY.items()}

    def account(self, acc_id: str, *more: str) -> str:
        return self.url("account", acc_id, *more)

    def account_orders(self, acc_id: str) -> str:
        return self.account(acc_id, "orders")

    def order(self, order_id: str, *more: str) -> str:
        return self.url("order", order_id, *more)

    def finalize(self, order_id: str) -> str:
        return self.order(order_id, "finalize")

    def authz(self, authz_id: str) -> str:
        return self.url("authz", authz_id)

    def challenge(self, authz_id: str, ch_type: str) -> str:
        return self.url("challenge", authz_id, ch_type)

    def certificate(self, cert_id: str, alternate: int = 0) -> str:
        return self.url("certificate", cert_id, *([str(alternate)] if alternate else []))

    def account_id_from_kid(self, kid: str) -> str | None:
        """The account id of a `kid` URL of this provisioner (under either mount), or None."""
        path = urlsplit(kid).path
        for mount in ("", "/2.0"):
            head = f"{mount}{self.path}/account/"
            if path.startswith(head):
                acc = path[len(head) :]
                return acc if acc and "/" not in acc else None
        return None
