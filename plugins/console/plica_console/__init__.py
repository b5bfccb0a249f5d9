"""plica-console: a web console for the operators of a Plica CA, served by the CA itself under `/console`.

Installed means on; `"console": {"enabled": false}` in ca.json turns it off (read per request, so a reload
is enough). Admins of remote management sign in (sessions in the CA's database); every page is rendered on
the server (Jinja2) and runs no script. See README.md.
"""

from __future__ import annotations

from aiohttp import web

from plica.api import AuthorityView, Migration, Route, hookimpl

from . import manage, pages, panels, signin, sshpages
from .base import CONSOLE, PREFIX, Console, load_static, secure, setup_templates
from .sessions import MIGRATIONS, SignInLimiter
from .stats import MIGRATIONS as STATS_MIGRATIONS


async def static(request: web.Request) -> web.StreamResponse:
    found = request.app[CONSOLE].static.get(request.match_info["name"])
    if found is None:
        raise web.HTTPNotFound()
    body, ctype = found
    resp = web.Response(body=body, content_type=ctype)
    resp.headers["Cache-Control"] = "public, max-age=3600"
    return secure(resp)


async def root(request: web.Request) -> web.StreamResponse:
    raise web.HTTPPermanentRedirect(f"{PREFIX}/")


@hookimpl
def http_routes(authority: AuthorityView) -> list[Route]:
    p = PREFIX
    return [
        Route("GET", p, root),
        Route("GET", f"{p}/", pages.overview),
        Route("GET", f"{p}/static/{{name}}", static),
        Route("GET", f"{p}/signin", signin.signin_page),
        Route("POST", f"{p}/signin/password", signin.signin_password),
        Route("POST", f"{p}/signin/certificate", signin.signin_certificate),
        Route("GET", f"{p}/sso/callback", signin.sso_callback),
        Route("GET", f"{p}/sso/{{name}}", signin.sso_start),
        Route("POST", f"{p}/signout", signin.signout),
        Route("GET", f"{p}/certificates", pages.certificates),
        Route("GET", f"{p}/certificates.csv", pages.certificates_csv),
        Route("GET", f"{p}/certificates/{{serial}}", pages.certificate),
        Route("GET", f"{p}/certificates/{{serial}}/pem", pages.certificate_pem),
        Route("POST", f"{p}/certificates/{{serial}}/revoke", pages.revoke),
        Route("GET", f"{p}/ssh", sshpages.ssh_certificates),
        Route("GET", f"{p}/ssh.csv", sshpages.ssh_csv),
        Route("GET", f"{p}/ssh/{{serial}}", sshpages.ssh_certificate),
        Route("GET", f"{p}/ssh/{{serial}}/cert.pub", sshpages.ssh_certificate_download),
        Route("POST", f"{p}/ssh/{{serial}}/revoke", sshpages.ssh_revoke),
        Route("GET", f"{p}/provisioners", manage.provisioners),
        Route("POST", f"{p}/provisioners", manage.provisioner_add),
        Route("POST", f"{p}/provisioners/{{name}}/edit", manage.provisioner_edit),
        Route("POST", f"{p}/provisioners/{{name}}/remove", manage.provisioner_remove),
        Route("GET", f"{p}/plugins/{{panel}}", panels.panel_page),
        Route("POST", f"{p}/plugins/{{panel}}/{{action}}", panels.panel_action),
        Route("GET", f"{p}/admins", manage.admins),
        Route("POST", f"{p}/admins", manage.admin_add),
        Route("POST", f"{p}/admins/{{id}}/remove", manage.admin_remove),
        Route("POST", f"{p}/admins/{{id}}/type", manage.admin_type),
    ]


@hookimpl
def storage_migrations() -> list[Migration]:
    return [*MIGRATIONS, *STATS_MIGRATIONS]


@hookimpl
def http_setup(app: web.Application, authority: AuthorityView) -> None:
    setup_templates(app)
    app[CONSOLE] = Console(authority, SignInLimiter(), load_static())
