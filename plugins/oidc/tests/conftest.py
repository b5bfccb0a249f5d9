"""Fixtures for the OIDC tests: a real OpenID provider (oidc-provider, tests/oidckit.py) per test, and ID
tokens it issues through the real sign-in flows (tests/browser.py plays the person at the browser)."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from plica_oidc.client import Client, authorization_code_flow

from .browser import sign_in
from .oidckit import CLIENT_ID, PASSWORD, Provider


@pytest.fixture
def provider(tmp_path: Path) -> Iterator[Provider]:
    p = Provider(tmp_path).start()
    try:
        yield p
    finally:
        p.stop()


def login_token(provider: Provider, login: str, client_id: str = CLIENT_ID) -> str:
    """An ID token for `login`: the authorization-code flow with PKCE, the person signing in at the
    provider's login and consent pages."""
    block = provider.block(client_id=client_id)

    def browser(url: str) -> bool:
        threading.Thread(target=sign_in, args=(url, login, PASSWORD), daemon=True).start()
        return True

    return authorization_code_flow(Client(block), None, open_browser=browser)


@pytest.fixture
def id_token(provider: Provider) -> Callable[..., str]:
    return lambda login, client_id=CLIENT_ID: login_token(provider, login, client_id)
