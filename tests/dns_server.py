"""A real DNS server on loopback (dnslib) standing in for the internet's: this machine's own
resolver answers "does not exist" for every name.

Names are answered by what their first label says, so a test can ask for any behaviour:
`nxdomain.test` does not exist, `nomail.test` has only an A record, `nullmx.test` publishes a
null MX, `slow.test` never answers in time, `servfail.test` fails; anything else has an MX."""

import threading
import time

from dnslib import AAAA, MX, QTYPE, RCODE, RR, A
from dnslib.server import BaseResolver, DNSLogger, DNSServer

SLOW_SECONDS = 3


class LoopbackZone(BaseResolver):
    def __init__(self):
        self.questions: list[str] = []
        self._lock = threading.Lock()

    def resolve(self, request, handler):
        reply = request.reply()
        name = str(request.q.qname).rstrip(".").lower()
        qtype = QTYPE[request.q.qtype]
        with self._lock:
            self.questions.append(f"{name} {qtype}")
        behaviour = name.split(".")[0]
        if behaviour == "nxdomain" or name.endswith(".invalid"):
            reply.header.rcode = RCODE.NXDOMAIN
        elif behaviour == "servfail":
            reply.header.rcode = RCODE.SERVFAIL
        elif behaviour == "slow":
            time.sleep(SLOW_SECONDS)
        elif behaviour == "nullmx" and qtype == "MX":
            reply.add_answer(RR(name, QTYPE.MX, rdata=MX("."), ttl=60))
        elif behaviour == "nomail" and qtype == "A":
            reply.add_answer(RR(name, QTYPE.A, rdata=A("192.0.2.10"), ttl=60))
        elif behaviour not in {"nomail", "nullmx"} and qtype == "MX":
            reply.add_answer(RR(name, QTYPE.MX, rdata=MX(f"mx.{name}"), ttl=60))
        elif behaviour not in {"nomail", "nullmx"} and qtype == "AAAA":
            reply.add_answer(RR(name, QTYPE.AAAA, rdata=AAAA("2001:db8::1"), ttl=60))
        return reply


def start(zone: BaseResolver | None = None) -> tuple[DNSServer, BaseResolver, str]:
    """The server (UDP, a free port on 127.0.0.1) answering from `zone` (a LoopbackZone unless
    given), the zone, and the server's "host:port"."""
    zone = zone or LoopbackZone()
    quiet = DNSLogger(logf=lambda line: None)
    server = DNSServer(zone, address="127.0.0.1", port=0, logger=quiet)
    server.start_thread()
    host, port = server.server.server_address
    return server, zone, f"{host}:{port}"
