"""A tiny authoritative DNS server for tests (UDP on 127.0.0.1, dnslib for the wire format).

Zone `plica.test`: every name in it has an A record 127.0.0.1 (unless listed in `missing`); TXT records come
from `txt` or from files in `records_dir` (file name = DNS name, one value per line — what the certbot and
lego hook scripts write); `cname` maps a name to its alias target. A CNAME answer holds only the alias (the
target must be asked for separately), the way an authoritative server for another zone answers, so a
validator that does not follow CNAMEs fails.
"""

from __future__ import annotations

import socket
import threading
from pathlib import Path

from dnslib import AAAA, CNAME, QTYPE, RCODE, RR, SOA, TXT, A, DNSRecord

ZONE = "plica.test"


class TestDNS:
    __test__ = False  # not a pytest test class

    def __init__(self, records_dir: Path | None = None, zone: str = ZONE) -> None:
        self.zone = zone
        self.records_dir = records_dir
        self.txt: dict[str, list[str]] = {}
        self.cname: dict[str, str] = {}
        self.a: dict[str, str] = {}
        self.aaaa: dict[str, str] = {}
        self.missing: set[str] = set()
        self.queries: list[tuple[str, str]] = []
        self._sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.settimeout(0.1)  # so stop() is noticed promptly
        self.port = self._sock.getsockname()[1]
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._stopped = False

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stopped = True
        if self._thread.is_alive():  # stop() of a server never started only closes its socket
            self._thread.join(timeout=2)
        self._sock.close()

    def _serve(self) -> None:
        while not self._stopped:
            try:
                data, addr = self._sock.recvfrom(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            try:
                reply = self.udp_answer(data)
            except Exception:
                continue
            try:
                self._sock.sendto(reply, addr)
            except OSError:
                return

    def udp_answer(self, data: bytes) -> bytes:
        """The answer over UDP (a subclass may make it differ from TCP's, e.g. truncated)."""
        return self.answer(data)

    def _in_zone(self, name: str) -> bool:
        return name == self.zone or name.endswith("." + self.zone)

    def _txt_values(self, name: str) -> list[str]:
        values = list(self.txt.get(name, []))
        if self.records_dir is not None:
            f = self.records_dir / name
            if f.exists():
                values += [v.strip() for v in f.read_text().splitlines() if v.strip()]
        return values

    def answer(self, data: bytes) -> bytes:
        req = DNSRecord.parse(data)
        reply = req.reply()  # sets QR, AA (authoritative) and RD as asked
        q = req.q
        name = str(q.qname).rstrip(".").lower()
        qtype = QTYPE[q.qtype]
        self.queries.append((name, qtype))
        if name in self.cname:
            reply.add_answer(RR(q.qname, QTYPE.CNAME, rdata=CNAME(self.cname[name] + "."), ttl=1))
            return reply.pack()
        known = self._in_zone(name) and name not in self.missing
        if not known and not self._txt_values(name) and name not in self.a:
            reply.header.rcode = RCODE.NXDOMAIN
            return reply.pack()
        if qtype == "A" and name not in self.missing:
            reply.add_answer(RR(q.qname, QTYPE.A, rdata=A(self.a.get(name, "127.0.0.1")), ttl=1))
        elif qtype == "AAAA" and name in self.aaaa:
            reply.add_answer(RR(q.qname, QTYPE.AAAA, rdata=AAAA(self.aaaa[name]), ttl=1))
        elif qtype == "TXT":
            for v in self._txt_values(name):
                reply.add_answer(RR(q.qname, QTYPE.TXT, rdata=TXT(v), ttl=1))
        elif qtype == "SOA" and name == self.zone:
            reply.add_answer(RR(q.qname, QTYPE.SOA, rdata=self._soa(), ttl=1))
        if not reply.rr and self._in_zone(name):
            reply.add_auth(RR(self.zone + ".", QTYPE.SOA, rdata=self._soa(), ttl=1))
        return reply.pack()

    def _soa(self) -> SOA:
        return SOA(f"ns.{self.zone}.", f"hostmaster.{self.zone}.", (1, 60, 60, 60, 1))
