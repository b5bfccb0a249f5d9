"""URLs of ACME resources, built from the request's scheme and Host (api.md §8: links use the Host)."""

from __future__ import annotations

from urllib.parse import quote, urlsplit

from aiohttp import web


class Links:
    """The URL space of one provisioner as one request sees it (`/acme/<name>` or `/2.0/acme/<name>`)."""

    __slots__ = ("base", "path")

    def __init__(self, request: web.Request, provisioner: str) -> None:
        self.path = f"/acme/{quote(provisioner, safe='')}"
        prefix = "/2.0" if request.path.startswith("/2.0/") else ""
        self.base = f"{request.scheme}://{request.host}{prefix}{self.path}"

    def directory(self) -> str:
        return f"{self.base}/directory"

    def new_nonce(self) -> str:
        return f"{self.base}/new-nonce"

    def new_account(self) -> str:
        return f"{self.base}/new-account"

    def new_order(self) -> str:
        return f"{self.base}/new-order"

    def revoke_cert(self) -> str:
        return f"{self.base}/revoke-cert"

    def key_change(self) -> str:
        return f"{self.base}/key-change"

    def renewal_info(self) -> str:
        return f"{self.base}/renewal-info"

    def account(self, acc_id: str) -> str:
        return f"{self.base}/account/{acc_id}"

    def account_orders(self, acc_id: str) -> str:
        return f"{self.base}/account/{acc_id}/orders"

    def order(self, order_id: str) -> str:
        return f"{self.base}/order/{order_id}"

    def finalize(self, order_id: str) -> str:
        return f"{self.base}/order/{order_id}/finalize"

    def authz(self, authz_id: str) -> str:
        return f"{self.base}/authz/{authz_id}"

    def challenge(self, authz_id: str, ch_type: str) -> str:
        return f"{self.base}/challenge/{authz_id}/{ch_type}"

    def certificate(self, cert_id: str, alternate: int = 0) -> str:
        return f"{self.base}/certificate/{cert_id}" + (f"/{alternate}" if alternate else "")

    def account_id_from_kid(self, kid: str) -> str | None:
        """The account id of a `kid` URL of this provisioner (under either mount), or None."""
        path = urlsplit(kid).path
        for mount in ("", "/2.0"):
            head = f"{mount}{self.path}/account/"
            if path.startswith(head):
                acc = path[len(head) :]
                return acc if acc and "/" not in acc else None
        return None
