"""What a verified ID token allows (step-ca's oidc.go AuthorizeSign, AuthorizeSSHSign, AuthorizeRevoke,
AuthorizeSSHRevoke).

A person gets only their own identity: an X.509 certificate whose subject is `sub` and whose SANs are the
e-mail address and `<iss>#<sub>` (step's default leaf template; the CSR may ask for nothing else), and an SSH
user certificate for step's principals (the sanitised local part of the e-mail, the raw local part, the
e-mail). An admin (`admins`, by e-mail or group) may ask for any names, for SSH host certificates and any
principals, and may revoke.
"""

from __future__ import annotations

import re

from cryptography import x509

from plica.api import (
    AuthorityView,
    CertType,
    CSRCheck,
    Forbidden,
    Provisioner,
    RevokeAuthorization,
    RevokeRequest,
    SignRequest,
    SSHAuthorization,
    SSHRevokeAuthorization,
    SSHRevokeRequest,
    SSHSignRequest,
    Token,
    Unauthorized,
    X509Authorization,
    csr_common_name,
    csr_sans,
    hookimpl,
    ssh_sign_hooks,
)
from plica_oidc.provisioner import Person, require_admin_for, verify

# step's sshUserRegex: what the sanitised local part must look like to be a principal.
SSH_USER = re.compile(r"^[a-z][-a-z0-9_]*$")


def _own_names_only(person: Person) -> CSRCheck:
    allowed = {person.subject, *person.names}

    def check(csr: x509.CertificateSigningRequest) -> None:
        cn = csr_common_name(csr)
        s = csr_sans(csr)
        asked = ([cn] if cn else []) + s.dns + [str(ip) for ip in s.ips] + s.emails + s.uris
        other = [n for n in asked if n not in allowed]
        if other:
            raise Forbidden(
                f"names {other!r} are not the signed-in person's identity {sorted(allowed)!r}; "
                "only an admin of this OIDC provisioner may ask for other names (admins)"
            )

    return check


@hookimpl
def authorize_sign(
    provisioner: Provisioner, token: Token, request: SignRequest, authority: AuthorityView
) -> X509Authorization:
    person = verify(provisioner, token)
    common = {
        "token_id": person.token_id,
        "credential_id": provisioner.state.client_id,
        "token_claims": person.claims,
    }
    if person.admin:
        # step's DefaultAdminLeafTemplate: the CSR's subject and SANs as they are.
        return X509Authorization(
            subject=person.subject, sans=None, check_csr=None, csr_passthrough=True, **common
        )
    return X509Authorization(
        subject=person.subject,
        sans=person.names,
        check_csr=_own_names_only(person),
        **common,
    )


def sanitize_ssh_user(email: str) -> str:
    """step's SanitizeSSHUserPrincipal: the local part in lower case, dots dropped, anything but
    [a-z0-9-] replaced by '_'."""
    local = email[: email.rfind("@")] if "@" in email else email
    out = []
    for ch in local.lower():
        if "a" <= ch <= "z" or "0" <= ch <= "9" or ch == "-":
            out.append(ch)
        elif ch != ".":
            out.append("_")
    return "".join(out)


def ssh_principals(email: str) -> list[str]:
    """step's DefaultIdentityFunc for OIDC: sanitised local part, raw local part, e-mail; no duplicates."""
    name = sanitize_ssh_user(email)
    if not SSH_USER.match(name):
        raise Unauthorized(f"invalid principal {name!r} from email {email!r}")
    names = [name]
    if "@" in email:
        names.append(email[: email.rfind("@")])
    names.append(email)
    return list(dict.fromkeys(n for n in names if n))


def _ssh(
    provisioner: Provisioner,
    token: Token,
    request: SSHSignRequest,
    authority: AuthorityView,
    cert_type: CertType,
) -> SSHAuthorization:
    person = verify(provisioner, token)
    if not person.email:
        raise Unauthorized("ID token has no email claim: an SSH certificate needs one")
    principals = ssh_principals(person.email)
    if person.admin:
        # step's sshCertOptionsRequireValidator: the request names type, key id and principals.
        return SSHAuthorization(
            cert_type=cert_type,
            key_id=person.email,
            principals=principals,
            token_id=person.token_id,
            token_claims=person.claims,
            use_request_values=True,
        )
    if cert_type != "user":
        require_admin_for(person, "get SSH host certificates")
    return SSHAuthorization(
        cert_type="user",
        key_id=person.email,
        principals=principals,
        token_id=person.token_id,
        token_claims=person.claims,
    )


authorize_ssh_user_sign, authorize_ssh_host_sign = ssh_sign_hooks(_ssh)


@hookimpl
def authorize_revoke(
    provisioner: Provisioner, token: Token, request: RevokeRequest, authority: AuthorityView
) -> RevokeAuthorization:
    person = verify(provisioner, token)
    require_admin_for(person, "revoke certificates")
    # An ID token's subject names the person, not a serial: an admin's token revokes any serial (step-ca).
    return RevokeAuthorization(token_id=person.token_id, any_serial=True)


@hookimpl
def authorize_ssh_revoke(
    provisioner: Provisioner, token: Token, request: SSHRevokeRequest, authority: AuthorityView
) -> SSHRevokeAuthorization:
    person = verify(provisioner, token)
    require_admin_for(person, "revoke SSH certificates")
    return SSHRevokeAuthorization(token_id=person.token_id, any_serial=True)
