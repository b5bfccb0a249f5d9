"""sprig's network functions: ``getHostByName``, ``urlParse`` and ``urlJoin``."""

from __future__ import annotations

import random
import socket
import urllib.parse
from typing import Any

from ..errors import GoError
from ..golang.reflect import go_type_name
from .registry import function_table

FUNCS, sprig = function_table()


@sprig("getHostByName", "string")
def _get_host_by_name(name: str) -> str:
    try:
        infos = socket.getaddrinfo(name, None)
        addrs = sorted({str(i[4][0]) for i in infos})
    except OSError:
        addrs = []
    if not addrs:
        raise GoError("invalid argument to Intn")
    return random.choice(addrs)


@sprig("urlParse", "string")
def _url_parse(v: str) -> dict[str, Any]:
    try:
        u = urllib.parse.urlsplit(v)
    except ValueError as e:
        raise GoError(f"unable to parse url: {e}") from None
    rest = v[len(u.scheme) + 1 :] if u.scheme else v
    opaque = ""
    path = urllib.parse.unquote(u.path)
    if u.scheme and not rest.startswith("/"):
        opaque = rest.split("#", 1)[0].split("?", 1)[0]
        path = ""
    userinfo = ""
    if "@" in u.netloc:
        userinfo = u.netloc.rsplit("@", 1)[0]
    host = u.netloc.rsplit("@", 1)[-1]
    hostname = host
    if hostname.startswith("["):
        hostname = hostname[1 : hostname.find("]")] if "]" in hostname else hostname
    elif ":" in hostname:
        hostname = hostname.rsplit(":", 1)[0]
    return {
        "scheme": u.scheme,
        "host": host,
        "hostname": hostname,
        "path": path,
        "query": u.query,
        "opaque": opaque,
        "fragment": urllib.parse.unquote(u.fragment),
        "userinfo": userinfo,
    }


@sprig("urlJoin", "map")
def _url_join(d: Any) -> str:
    d = d or {}

    def get(k: str) -> str:
        v = d.get(k, "")
        if not isinstance(v, str):
            raise GoError(f"unable to parse {k} key, must be of type string, but {go_type_name(v)} found")
        return v

    scheme, host, path, query, opaque, fragment = (
        get("scheme"),
        get("host"),
        get("path"),
        get("query"),
        get("opaque"),
        get("fragment"),
    )
    userinfo = get("userinfo")
    out = ""
    if scheme:
        out += scheme + ":"
    if opaque:
        out += opaque
    else:
        if scheme or host or userinfo:
            if host or path or userinfo:
                out += "//"
            if userinfo:
                out += userinfo + "@"
            out += host
        if path and not path.startswith("/") and host:
            out += "/"
        out += urllib.parse.quote(path, safe="/:@!$&'()*+,;=-._~")
    if query:
        out += "?" + query
    if fragment:
        out += "#" + urllib.parse.quote(fragment, safe="/:@!$&'()*+,;=-._~?")
    return out
