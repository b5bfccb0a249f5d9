"""Name policies: which names the CA may put on certificates (docs/reference/wire.md §7e), for the whole authority
(`authority.policy`) and per provisioner (the provisioner block's `policy`).

The semantics follow step-ca's policy engine (smallstep/certificates `policy/`):

* a policy with no constraints restricts nothing;
* deny wins: a name matched by a deny rule is refused, whatever the allow rules say;
* once the engine has any allow rule, a name of a type with no rule at all (allow or deny) is refused —
  "not explicitly permitted"; a type with only deny rules is allowed unless denied; a type with allow
  rules must match one of them;
* DNS: `example.com` matches exactly that name; `*.example.com` and `.example.com` match exactly one
  label below it (not `example.com`, not `a.b.example.com`); comparison ignores case;
* IP: a CIDR range or a single address;
* email: `user@example.com` matches that mailbox, `@example.com` or `example.com` any mailbox of that
  exact domain;
* URI: a DNS pattern matched against the URI's host (a URI without a host, or with an IP host, is refused
  when URI rules exist);
* the subject common name is checked too: allowed by a `cn` allow rule, otherwise checked as the name it
  looks like (IP, URI, email or DNS);
* wildcard DNS names (`*.example.com`) in a request are refused unless `allowWildcardNames` is true;
* SSH user certificates: principals that look like emails are checked as `email`, IPs and URIs are
  refused, the rest are `principal`s; host certificates: IPs are `ip`, the rest `dns` (or, when the host
  policy has `principal` rules, either a `dns` or a `principal` match allows it);
* a policy for only one SSH certificate kind refuses the other kind.

Where Plica is stricter than step (documented in docs/policy.md): deny rules also apply to wildcard
names and to common names that a `cn` allow rule would let through, a wildcard name is refused whenever
a policy applies and `allowWildcardNames` is false, an SSH certificate valid for every principal (no
principals) is refused when a policy for its kind has constraints, and unknown keys in a policy block are
configuration errors rather than ignored (a typo must not silently open the CA).

Everything is parsed once when ca.json loads; a check is a few list scans.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Iterable, Sequence
from typing import Any
from urllib.parse import urlsplit

from attrs import define, field, frozen
from cryptography import x509
from cryptography.x509.oid import NameOID

from plica.config import did_you_mean
from plica.errors import ConfigError, Forbidden
from plica.names import SANs, split_sans

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

# The keys each section accepts (docs/reference/wire.md §7e).
_X509_KEYS = ("cn", "dns", "ip", "email", "uri")
_SSH_USER_KEYS = ("email", "principal")
_SSH_HOST_KEYS = ("dns", "ip", "principal")


@frozen
class Rule:
    """One constraint, with where it came from (for the refusal message)."""

    value: Any  # normalised: str for dns/email/uri/cn/principal, an ip network for ip
    source: str  # JSON path, e.g. ca.json.authority.policy.x509.deny.dns[0]
    text: str  # as written in ca.json


@define
class _Rules:
    allow: dict[str, list[Rule]] = field(factory=dict)
    deny: dict[str, list[Rule]] = field(factory=dict)

    def count(self, kind: str) -> int:
        return len(self.allow.get(kind, ())) + len(self.deny.get(kind, ()))

    def permitted_total(self) -> int:
        return sum(len(v) for v in self.allow.values())

    def total(self) -> int:
        return self.permitted_total() + sum(len(v) for v in self.deny.values())


class _Refused(Exception):
    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


@define
class Engine:
    """One allow/deny engine (step's NamePolicyEngine): X.509, SSH user or SSH host."""

    rules: _Rules
    allow_wildcards: bool
    where: str  # "x509", "ssh.user", "ssh.host" (for messages)
    _permitted: int = 0
    _total: int = 0

    def __attrs_post_init__(self) -> None:
        self._permitted = self.rules.permitted_total()
        self._total = self.rules.total()

    @property
    def empty(self) -> bool:
        return self._total == 0

    # ---------------------------------------------------------------- generic
    def _check(self, kind: str, name: str, parsed: Any, match: Any) -> None:
        """step's checkNameConstraints, preceded by its 'not explicitly permitted' rule."""
        if self.rules.count(kind) == 0:
            if self._permitted > 0:
                raise _Refused(
                    f"{kind} name {name!r} is not allowed: the {self.where} policy has allow rules but "
                    f"none for {kind} names"
                )
            return
        for rule in self.rules.deny.get(kind, ()):
            if match(parsed, rule.value):
                raise _Refused(f"{kind} name {name!r} is denied by {rule.source} ({rule.text!r})")
        allow = self.rules.allow.get(kind, ())
        if allow and not any(match(parsed, r.value) for r in allow):
            sources = allow[0].source.rpartition("[")[0]
            raise _Refused(f"{kind} name {name!r} is not allowed by {sources} ({[r.text for r in allow]!r})")

    def _denied(self, kind: str, parsed: Any, match: Any) -> Rule | None:
        for rule in self.rules.deny.get(kind, ()):
            if match(parsed, rule.value):
                return rule
        return None

    # ---------------------------------------------------------------- per type
    def check_dns(self, name: str) -> None:
        labels = _dns_labels(name)
        if labels is None:
            raise _Refused(f"dns name {name!r} is not a valid domain name")
        if labels[-1] == "*" and not self.allow_wildcards:
            raise _Refused(
                f"dns name {name!r} is a wildcard name, which the {self.where} policy does not allow "
                "(allowWildcardNames is false)"
            )
        self._check("dns", name, labels, _match_domain)

    def check_ip(self, ip: IPAddress) -> None:
        self._check("ip", str(ip), ip, _match_ip)

    def check_email(self, email: str) -> None:
        local, sep, domain = email.rpartition("@")
        labels = _dns_labels(domain) if sep and local else None
        if labels is None or labels[-1] == "*":
            if self.rules.count("email") or self._permitted:
                raise _Refused(f"email name {email!r} is not a valid email address")
            return
        self._check("email", email, (local, labels), _match_email)

    def check_uri(self, uri: str) -> None:
        def match(parsed: tuple[str, list[str] | None], constraint: str) -> bool:
            host, labels = parsed
            if labels is None:
                raise _Refused(f"uri name {uri!r} has no domain name host to check ({host!r})")
            return _match_domain(labels, constraint)

        try:
            host = urlsplit(uri).hostname or ""
        except ValueError:
            host = ""
        labels: list[str] | None = None
        if host and "*" not in host:
            try:
                ipaddress.ip_address(host)
            except ValueError:
                labels = _dns_labels(host)
        self._check("uri", uri, (host, labels), match)

    def check_principal(self, principal: str) -> None:
        self._check("principal", principal, principal, _match_principal)

    def check_cn(self, cn: str) -> None:
        """step's validateCommonName, except that deny rules always win."""
        if not cn or self.empty:
            return
        if (rule := self._denied("cn", cn, _match_cn)) is not None:
            raise _Refused(f"common name {cn!r} is denied by {rule.source} ({rule.text!r})")
        allow = self.rules.allow.get("cn", ())
        sans = split_sans([cn])
        try:
            # The CN is also checked as the name it looks like; its deny rules apply even when a cn
            # allow rule matches.
            self.check_sans(sans)
        except _Refused as e:
            if any(_match_cn(cn, r.value) for r in allow) and not self._denies_any(sans):
                return
            raise _Refused(f"common name {cn!r} is not allowed: {e.message}") from None

    def _denies_any(self, sans: SANs) -> bool:
        """Whether any deny rule matches one of `sans` (a `cn` allow rule never overrides a deny rule)."""
        for d in sans.dns:
            labels = _dns_labels(d)
            if labels is not None and self._denied("dns", labels, _match_domain):
                return True
        if any(self._denied("ip", ip, _match_ip) for ip in sans.ips):
            return True
        for e in sans.emails:
            local, _, domain = e.rpartition("@")
            labels = _dns_labels(domain)
            if labels is not None and self._denied("email", (local, labels), _match_email):
                return True
        for u in sans.uris:
            try:
                labels = _dns_labels(urlsplit(u).hostname or "")
            except ValueError:
                labels = None
            if labels is not None and self._denied("uri", labels, _match_domain):
                return True
        return False

    def check_sans(self, sans: SANs) -> None:
        if self.empty:
            return
        for d in sans.dns:
            self.check_dns(d)
        for ip in sans.ips:
            self.check_ip(ip)
        for e in sans.emails:
            self.check_email(e)
        for u in sans.uris:
            self.check_uri(u)


@define
class NamePolicy:
    """A loaded `policy` block: up to three engines. `label` names it in refusals."""

    label: str
    x509: Engine | None = None
    ssh_user: Engine | None = None
    ssh_host: Engine | None = None

    @classmethod
    def from_json(cls, data: Any, *, path: str, label: str | None = None) -> NamePolicy:
        """Parse and validate a policy block; ConfigError names the JSON path of what is wrong."""
        data = _object(data, ("x509", "ssh"), path, "a JSON object with 'x509' and/or 'ssh'")
        pol = cls(label=label or ("the authority" if path.endswith("authority.policy") else path))
        x = data.get("x509")
        if x is not None:
            xp = f"{path}.x509"
            x = _object(x, ("allow", "deny", "allowWildcardNames"), xp)
            wild = x.get("allowWildcardNames", False)
            if not isinstance(wild, bool):
                raise ConfigError(f"{xp}.allowWildcardNames", "expected true or false")
            rules = _parse_rules(x, _X509_KEYS, xp)
            if rules.total():
                pol.x509 = Engine(rules=rules, allow_wildcards=wild, where="x509")
        s = data.get("ssh")
        if s is not None:
            sp = f"{path}.ssh"
            s = _object(s, ("user", "host"), sp)
            for kind, keys in (("user", _SSH_USER_KEYS), ("host", _SSH_HOST_KEYS)):
                block = s.get(kind)
                if block is None:
                    continue
                kp = f"{sp}.{kind}"
                rules = _parse_rules(_object(block, ("allow", "deny"), kp), keys, kp)
                if rules.total():
                    engine = Engine(rules=rules, allow_wildcards=False, where=f"ssh {kind}")
                    setattr(pol, f"ssh_{kind}", engine)
        return pol

    @property
    def empty(self) -> bool:
        return self.x509 is None and self.ssh_user is None and self.ssh_host is None

    # ---------------------------------------------------------------- checks (kernel calls these)
    def check_x509(self, subject: x509.Name, sans: SANs) -> None:
        """Refuse (403) a certificate whose SANs or subject common name the X.509 policy does not allow."""
        engine = self.x509
        if engine is None:
            return
        try:
            engine.check_sans(sans)
            for attr in subject.get_attributes_for_oid(NameOID.COMMON_NAME):
                v = attr.value
                engine.check_cn(v if isinstance(v, str) else v.decode("utf-8", "replace"))
        except _Refused as e:
            raise Forbidden(f"{e.message} ({self.label} policy)") from None

    def check_ssh(self, cert_type: str, key_id: str, principals: Sequence[str]) -> None:
        """Refuse (403) an SSH certificate whose principals the SSH policy does not allow."""
        if self.ssh_user is None and self.ssh_host is None:
            return
        engine = self.ssh_user if cert_type == "user" else self.ssh_host
        if engine is None:
            other = "user" if cert_type == "host" else "host"
            raise Forbidden(
                f"{self.label} policy restricts only SSH {other} certificates, so it allows no SSH "
                f"{cert_type} certificates"
            )
        try:
            if not principals:
                raise _Refused(
                    f"an SSH {cert_type} certificate valid for every principal cannot satisfy the ssh "
                    f"{cert_type} policy: name the principals"
                )
            _check_principals(engine, cert_type, principals)
        except _Refused as e:
            raise Forbidden(f"{e.message} ({self.label} policy)") from None


def _check_principals(engine: Engine, cert_type: str, principals: Iterable[str]) -> None:
    sans = split_sans(principals)
    if cert_type == "user" and sans.ips:
        raise _Refused(
            f"IP address principals {[str(i) for i in sans.ips]!r} are not allowed in user certificates"
        )
    if sans.uris:
        raise _Refused(f"URI principals {sans.uris!r} are not allowed in {cert_type} certificates")
    for ip in sans.ips:
        engine.check_ip(ip)
    for e in sans.emails:
        engine.check_email(e)
    if cert_type == "user":
        # split_sans sorts what is neither IP, URI nor email as DNS; for a user certificate it is a username.
        for p in sans.dns:
            engine.check_principal(p)
        return
    has_principal_rules = engine.rules.count("principal") > 0
    for name in sans.dns:
        if not has_principal_rules:
            engine.check_dns(name)
            continue
        # step only ever reads host principals as DNS names, which makes its host `principal` rules
        # unusable; here either kind of rule may allow the name, and a deny rule of either kind refuses it.
        if (rule := engine._denied("principal", name, _match_principal)) is not None:
            raise _Refused(f"principal name {name!r} is denied by {rule.source} ({rule.text!r})")
        try:
            engine.check_dns(name)
        except _Refused as dns_refusal:
            labels = _dns_labels(name)
            if labels is not None and engine._denied("dns", labels, _match_domain):
                raise
            allow = engine.rules.allow.get("principal", ())
            if not any(_match_principal(name, r.value) for r in allow):
                raise _Refused(f"{dns_refusal.message}, nor by the principal rules") from None


# -------------------------------------------------------------------------------------------- parsing


def _object(data: Any, keys: Sequence[str], path: str, what: str = "a JSON object") -> dict[str, Any]:
    """`data` if it is a JSON object with none but `keys`; else ConfigError naming the path."""
    if not isinstance(data, dict):
        raise ConfigError(path, f"expected {what}")
    for k in data:
        if k not in keys:
            raise ConfigError(
                f"{path}.{k}",
                f"unknown policy key{did_you_mean(k, list(keys))} (expected one of {', '.join(keys)})",
            )
    return data


def _parse_rules(block: dict[str, Any], keys: Sequence[str], path: str) -> _Rules:
    rules = _Rules()
    for side in ("allow", "deny"):
        names = block.get(side)
        if names is None:
            continue
        sp = f"{path}.{side}"
        names = _object(names, keys, sp)
        out = rules.allow if side == "allow" else rules.deny
        for kind, values in names.items():
            kp = f"{sp}.{kind}"
            if values is None:
                continue
            if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
                raise ConfigError(kp, "expected a list of strings")
            parsed: list[Rule] = []
            seen: set[str] = set()
            for i, text in enumerate(values):
                value = _normalise(kind, text, f"{kp}[{i}]")
                key = str(value)
                if key in seen:
                    continue
                seen.add(key)
                parsed.append(Rule(value=value, source=f"{kp}[{i}]", text=text))
            if parsed:
                out[kind] = parsed
    return rules


def _normalise(kind: str, text: str, path: str) -> Any:
    s = text.strip()
    if not s:
        raise ConfigError(path, "empty constraint")
    if kind in ("dns", "uri"):
        return _domain_constraint(s, path)
    if kind == "ip":
        try:
            if "/" in s:
                return ipaddress.ip_network(s, strict=False)
            return ipaddress.ip_network(ipaddress.ip_address(s))
        except ValueError:
            raise ConfigError(path, f"{text!r} is neither an IP address nor a CIDR range") from None
    if kind == "email":
        if "*" in s:
            raise ConfigError(path, f"email constraint {text!r} cannot contain '*'")
        if s.count("@") > 1:
            raise ConfigError(path, f"email constraint {text!r} has more than one '@'")
        if s.startswith("@"):
            s = s[1:]
        if s.startswith("."):
            raise ConfigError(path, f"email constraint {text!r} cannot start with a period")
        local, sep, domain = s.rpartition("@")
        if sep and not local:
            raise ConfigError(path, f"email constraint {text!r} has an empty local part")
        if _dns_labels(domain.lower()) is None:
            raise ConfigError(path, f"cannot parse the domain of email constraint {text!r}")
        # The local part of a mailbox is case-sensitive (RFC 5321); the domain is not.
        return f"{local}@{domain.lower()}" if sep else domain.lower()
    if kind in ("cn", "principal"):
        return s
    raise ConfigError(path, f"unknown constraint type {kind!r}")


def _domain_constraint(text: str, path: str) -> str:
    s = text.lower()
    if ".." in s:
        raise ConfigError(path, f"domain constraint {text!r} cannot have empty labels")
    if s.startswith("*."):
        s = s[1:]  # `*.example.com` means the same as `.example.com`: one label below
    if "*" in s:
        raise ConfigError(path, f"domain constraint {text!r} can only have a wildcard as its first label")
    if _dns_labels(s[1:] if s.startswith(".") else s) is None:
        raise ConfigError(path, f"cannot parse domain constraint {text!r}")
    return s


# -------------------------------------------------------------------------------------------- matching


def _dns_labels(name: str) -> list[str] | None:
    """Labels in reverse order, lower-cased (["com", "example", "www"]), or None if not a domain name.
    A leading `*` label is kept as "*" (the caller decides whether wildcards are allowed)."""
    if not name or name.endswith(".") or name.startswith("."):
        return None
    try:
        ascii_name = name.encode("idna").decode("ascii") if not name.isascii() else name
    except UnicodeError:
        return None
    labels = ascii_name.lower().split(".")
    for i, label in enumerate(labels):
        if not label:
            return None
        if "*" in label and not (i == 0 and label == "*"):
            return None
        if any(ord(c) < 33 or ord(c) > 126 for c in label):
            return None
    return labels[::-1]


def _match_domain(labels: list[str], constraint: str) -> bool:
    """step's matchDomainConstraint: exact name, or exactly one more label for a `.example.com` rule."""
    want = constraint
    extra = 0
    if want.startswith("."):
        want, extra = want[1:], 1
    clabels = want.split(".")[::-1]
    if len(labels) != len(clabels) + extra:
        return False
    return labels[: len(clabels)] == clabels


def _match_ip(ip: IPAddress, network: IPNetwork) -> bool:
    if ip.version != network.version:
        mapped = getattr(ip, "ipv4_mapped", None)
        return mapped is not None and mapped in network
    return ip in network


def _match_email(parsed: tuple[str, list[str]], constraint: str) -> bool:
    local, labels = parsed
    if "@" in constraint:
        clocal, _, cdomain = constraint.rpartition("@")
        return local == clocal and labels == cdomain.split(".")[::-1]
    return _match_domain(labels, constraint)


def _match_principal(principal: str, constraint: str) -> bool:
    return constraint == "*" or principal.lower() == constraint.lower()


def _match_cn(cn: str, constraint: str) -> bool:
    return constraint != "*" and cn.lower() == constraint.lower()
