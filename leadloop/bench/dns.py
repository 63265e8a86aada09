"""A DNS server on loopback for the benchmarks' email domains: this machine's own resolver says
"does not exist" for every name (dnslib: a test extra, imported when needed)."""

import sys


def start_dns() -> tuple[object, list[str], str]:
    """A UDP DNS server on 127.0.0.1: "gone-*" names do not exist, "webonly-*" names have only
    an A record, everything else has an MX. Returns the server, the list of questions it was
    asked, and its "host:port" for LEADLOOP_DNS."""
    try:
        from dnslib import MX, QTYPE, RCODE, RR, A
        from dnslib.server import BaseResolver, DNSLogger, DNSServer
    except ImportError:
        raise SystemExit(
            "The benchmarks run their own DNS server with dnslib, a test extra: "
            "pip install -e .[test]"
        ) from None

    questions: list[str] = []

    class Zone(BaseResolver):
        def resolve(self, request, handler):
            reply = request.reply()
            name = str(request.q.qname).rstrip(".").lower()
            qtype = QTYPE[request.q.qtype]
            questions.append(f"{name} {qtype}")
            if name.startswith("gone-"):
                reply.header.rcode = RCODE.NXDOMAIN
            elif name.startswith("webonly-"):
                if qtype == "A":
                    reply.add_answer(RR(name, QTYPE.A, rdata=A("192.0.2.10"), ttl=3600))
            elif qtype == "MX":
                reply.add_answer(RR(name, QTYPE.MX, rdata=MX(f"mx.{name}"), ttl=3600))
            return reply

    errors_only = DNSLogger("error", prefix=False, logf=lambda line: print(line, file=sys.stderr))
    server = DNSServer(Zone(), address="127.0.0.1", port=0, logger=errors_only)
    server.start_thread()
    host, port = server.server.server_address
    return server, questions, f"{host}:{port}"
