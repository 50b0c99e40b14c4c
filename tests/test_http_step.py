"""One HTTP step against real servers on 127.0.0.1: pytest-httpserver, small asyncio servers
written here (to control every byte and count TCP connections) and TLS with trustme certs."""

from __future__ import annotations

import asyncio
import json
import re
import socket
import ssl
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import certifi
import httpx
import pytest
import trustme
from cryptography import x509
from cryptography.hazmat.primitives import serialization
from pytest_httpserver import HTTPServer
from tls_helpers import client_context_trusting, leaf, self_signed_server_context, server_context
from werkzeug import Response

from monitor.clock import ManualClock
from monitor.probing.errors import ErrorKind
from monitor.probing.http import (
    ProbeSession,
    RequestSpec,
    StepOutcome,
    certificate_not_after,
    shared_ssl_context,
)

# --- a raw HTTP/1.1 server ------------------------------------------------------------------


@dataclass
class Request:
    method: str
    path: str
    headers: dict[str, str]
    body: bytes


Handler = Callable[[asyncio.StreamReader, asyncio.StreamWriter, "RawServer"], Awaitable[None]]


class RawServer:
    """Counts TCP connections, records requests, and leaves each byte to its handler."""

    def __init__(self, handler: Handler) -> None:
        self.handler = handler
        self.connections = 0
        self.open_connections = 0
        self.requests: list[Request] = []
        self.all_closed = asyncio.Event()
        self._writers: set[asyncio.StreamWriter] = set()

    async def start(self, ssl_context: ssl.SSLContext | None) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0, ssl=ssl_context)
        self.port: int = self._server.sockets[0].getsockname()[1]

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        self.open_connections += 1
        self.all_closed.clear()
        self._writers.add(writer)
        try:
            await self.handler(reader, writer, self)
        except (ConnectionError, ssl.SSLError, asyncio.IncompleteReadError):
            pass  # the client hung up, as a probe does at its deadline
        finally:
            self._writers.discard(writer)
            writer.close()
            self.open_connections -= 1
            if not self.open_connections:
                self.all_closed.set()

    async def stop(self) -> None:
        self._server.close()
        for writer in list(self._writers):
            writer.close()
        await self._server.wait_closed()


async def read_request(reader: asyncio.StreamReader) -> Request | None:
    try:
        head = await reader.readuntil(b"\r\n\r\n")
    except asyncio.IncompleteReadError:
        return None  # the client closed a kept-alive connection
    request_line, *lines = head.decode("latin-1").split("\r\n")
    method, path, _ = request_line.split(" ", 2)
    headers = {}
    for line in filter(None, lines):
        name, value = line.split(":", 1)
        headers[name.strip().lower()] = value.strip()
    body = await reader.readexactly(int(headers.get("content-length", "0")))
    return Request(method=method, path=path, headers=headers, body=body)


Reply = tuple[int, dict[str, str], bytes]


def answering(respond: Callable[[Request], Reply]) -> Handler:
    """Answers every request of a kept-alive connection."""

    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: RawServer
    ) -> None:
        while (request := await read_request(reader)) is not None:
            server.requests.append(request)
            status, headers, body = respond(request)
            head = f"HTTP/1.1 {status} X\r\nContent-Length: {len(body)}\r\n"
            head += "".join(f"{name}: {value}\r\n" for name, value in headers.items())
            writer.write(head.encode() + b"\r\n" + body)
            await writer.drain()

    return handler


def ok(request: Request) -> Reply:
    return 200, {}, b"ok"


async def silent(
    reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: RawServer
) -> None:
    """Reads the request and never answers; returns when the client hangs up."""
    await read_request(reader)
    await reader.read()


def dripping(first: bytes, drop: bytes) -> Handler:
    """Sends `first`, then `drop` every 50 ms: never idle long enough for a read timeout."""

    async def handler(
        reader: asyncio.StreamReader, writer: asyncio.StreamWriter, server: RawServer
    ) -> None:
        await read_request(reader)
        writer.write(first)
        while True:
            await writer.drain()
            await asyncio.sleep(0.05)
            writer.write(drop)

    return handler


@pytest.fixture
async def serve() -> AsyncIterator[Callable[..., Awaitable[RawServer]]]:
    servers: list[RawServer] = []

    async def start(handler: Handler, *, ssl_context: ssl.SSLContext | None = None) -> RawServer:
        server = RawServer(handler)
        await server.start(ssl_context)
        servers.append(server)
        return server

    yield start
    for server in servers:
        await server.stop()


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(datetime(2026, 1, 5, 9, 0, tzinfo=UTC))


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def unused_port() -> Iterator[int]:
    """A port that refuses connections: bound (so nobody else takes it) but not listening."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        yield sock.getsockname()[1]


@pytest.fixture
def full_backlog() -> Iterator[int]:
    """A port whose accept queue is full: Linux drops new SYNs, so connecting hangs."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(0)
        port = listener.getsockname()[1]
        fillers = [socket.socket() for _ in range(3)]
        for filler in fillers:
            filler.setblocking(False)
            filler.connect_ex(("127.0.0.1", port))
        yield port
        for filler in fillers:
            filler.close()


async def send_one(
    spec: RequestSpec, clock: ManualClock, *, ssl_context: ssl.SSLContext | None = None
) -> StepOutcome:
    async with ProbeSession(clock=clock, ssl_context=ssl_context) as probe:
        return await probe.send(spec)


# --- what the step sends and sees ------------------------------------------------------------


async def test_status_headers_and_json_body(httpserver: HTTPServer, clock: ManualClock) -> None:
    httpserver.expect_request("/health").respond_with_json(
        {"status": "up", "checks": [1, 2]}, status=207, headers={"X-Version": "4.2"}
    )

    outcome = await send_one(RequestSpec(url=httpserver.url_for("/health")), clock)

    assert outcome.error is None
    seen = outcome.observation
    assert seen.status == 207
    assert seen.headers["x-version"] == "4.2"
    assert seen.headers["Content-Type"] == "application/json"
    assert json.loads(seen.body) == {"status": "up", "checks": [1, 2]}
    assert seen.connected
    assert seen.ip == "127.0.0.1"
    assert seen.certificate_expiration_ms == 0
    assert seen.certificate_not_after is None
    assert outcome.final_url == httpserver.url_for("/health")


async def test_method_query_headers_and_json_reach_the_server(
    httpserver: HTTPServer, clock: ManualClock
) -> None:
    httpserver.expect_request("/login", method="POST").respond_with_data("ok")
    spec = RequestSpec(
        method="POST",
        url=httpserver.url_for("/login") + "?lang=de",
        query={"tag": ["a", "b"], "page": "2"},
        headers={"X-Request-Id": "r-17"},
        json={"email": "probe@example.com", "remember": True},
    )

    outcome = await send_one(spec, clock)

    assert outcome.error is None
    assert outcome.observation.status == 200
    (received, _), *_ = httpserver.log
    assert received.method == "POST"
    assert received.args.getlist("tag") == ["a", "b"]
    assert received.args["page"] == "2"
    assert received.args["lang"] == "de", "a query string in the URL is kept"
    assert received.headers["X-Request-Id"] == "r-17"
    assert received.get_json() == {"email": "probe@example.com", "remember": True}


async def test_form_and_raw_body_reach_the_server(
    httpserver: HTTPServer, clock: ManualClock
) -> None:
    httpserver.expect_request("/form", method="PUT").respond_with_data("ok")
    httpserver.expect_request("/raw", method="PATCH").respond_with_data("ok")

    async with ProbeSession(clock=clock) as probe:
        form = RequestSpec(method="PUT", url=httpserver.url_for("/form"), form={"name": "Ada"})
        raw = RequestSpec(
            method="PATCH",
            url=httpserver.url_for("/raw"),
            headers={"Content-Type": "text/plain"},
            body="plain text",
        )
        assert (await probe.send(form)).observation.status == 200
        assert (await probe.send(raw)).observation.status == 200

    (form_request, _), (raw_request, _) = httpserver.log
    assert form_request.form["name"] == "Ada"
    assert raw_request.get_data() == b"plain text"
    assert raw_request.headers["Content-Type"] == "text/plain"


async def test_timings_are_present_and_ordered(httpserver: HTTPServer, clock: ManualClock) -> None:
    httpserver.expect_request("/").respond_with_data("x" * 10_000)

    timings = (await send_one(RequestSpec(url=httpserver.url_for("/")), clock)).timings

    assert timings.connect_ms is not None
    assert timings.ttfb_ms is not None
    assert 0 < timings.connect_ms <= timings.ttfb_ms <= timings.total_ms
    assert timings.tls_ms is None, "plain HTTP has no TLS handshake"


async def test_redirects_are_followed_only_when_asked(
    httpserver: HTTPServer, clock: ManualClock
) -> None:
    httpserver.expect_request("/old").respond_with_response(
        Response(status=302, headers={"Location": "/new?session=abc"})
    )
    httpserver.expect_request("/new").respond_with_data("moved here")

    stay = await send_one(RequestSpec(url=httpserver.url_for("/old")), clock)
    follow = await send_one(
        RequestSpec(url=httpserver.url_for("/old"), follow_redirects=True), clock
    )

    assert stay.observation.status == 302
    assert follow.observation.status == 200
    assert follow.observation.body == b"moved here"
    assert follow.final_url == httpserver.url_for("/new"), "without the query string"


# --- connection failures ---------------------------------------------------------------------


async def test_connection_refused(unused_port: int, clock: ManualClock) -> None:
    outcome = await send_one(RequestSpec(url=f"http://127.0.0.1:{unused_port}/"), clock)

    assert outcome.error is not None
    assert outcome.error.kind is ErrorKind.CONNECT_REFUSED
    assert outcome.error.message == f"connection refused by 127.0.0.1:{unused_port}"
    assert outcome.observation.status == 0
    assert not outcome.observation.connected


async def test_connect_timeout_ends_at_the_timeout(full_backlog: int, clock: ManualClock) -> None:
    spec = RequestSpec(url=f"http://127.0.0.1:{full_backlog}/", timeout=0.5)

    started = time.perf_counter()
    outcome = await send_one(spec, clock)
    elapsed = time.perf_counter() - started

    assert outcome.error is not None
    assert outcome.error.kind is ErrorKind.CONNECT_TIMEOUT
    assert outcome.error.message == (
        f"no connection to 127.0.0.1:{full_backlog} within 0.5s (connect timeout)"
    )
    assert not outcome.observation.connected
    assert 0.45 <= elapsed < 2.5


async def test_read_timeout_ends_near_the_timeout(
    serve: Callable[..., Awaitable[RawServer]], clock: ManualClock
) -> None:
    server = await serve(silent)
    spec = RequestSpec(url=f"http://127.0.0.1:{server.port}/", timeout=0.5)

    started = time.perf_counter()
    outcome = await send_one(spec, clock)
    elapsed = time.perf_counter() - started

    assert outcome.error is not None
    assert outcome.error.kind is ErrorKind.READ_TIMEOUT
    assert outcome.error.message == (
        f"no response from 127.0.0.1:{server.port} within 0.5s (read timeout)"
    )
    assert outcome.observation.connected
    assert outcome.observation.ip == "127.0.0.1"
    assert outcome.observation.status == 0
    assert outcome.timings.connect_ms is not None
    assert outcome.timings.ttfb_ms is None
    assert 0.45 <= elapsed < 2.5


async def test_slow_drip_body_is_cut_at_the_deadline(
    serve: Callable[..., Awaitable[RawServer]], clock: ManualClock
) -> None:
    head = b"HTTP/1.1 200 OK\r\nContent-Length: 1000000\r\n\r\n"
    server = await serve(dripping(head + b".", b"."))
    spec = RequestSpec(url=f"http://127.0.0.1:{server.port}/", timeout=0.6)

    started = time.perf_counter()
    outcome = await send_one(spec, clock)
    elapsed = time.perf_counter() - started

    assert outcome.error is not None
    assert outcome.error.kind is ErrorKind.READ_TIMEOUT
    assert "not complete within 0.6s (deadline)" in outcome.error.message
    assert outcome.observation.status == 200, "what arrived before the deadline is kept"
    assert outcome.observation.body.startswith(b".")
    assert 0.55 <= elapsed < 1.6


async def test_slow_drip_headers_are_cut_at_the_deadline(
    serve: Callable[..., Awaitable[RawServer]], clock: ManualClock
) -> None:
    server = await serve(dripping(b"HTTP/1.1 200 OK\r\n", b"X-Drip: 1\r\n"))
    spec = RequestSpec(url=f"http://127.0.0.1:{server.port}/", timeout=0.6)

    started = time.perf_counter()
    outcome = await send_one(spec, clock)
    elapsed = time.perf_counter() - started

    assert outcome.error is not None
    assert outcome.error.kind is ErrorKind.READ_TIMEOUT
    assert outcome.observation.status == 0
    assert 0.55 <= elapsed < 1.6


async def test_dns_failure(clock: ManualClock) -> None:
    outcome = await send_one(RequestSpec(url="https://api.example.invalid/health"), clock)

    assert outcome.error is not None
    assert outcome.error.kind is ErrorKind.DNS
    assert outcome.error.message.startswith("DNS: cannot resolve api.example.invalid")
    assert not outcome.observation.connected


@pytest.mark.parametrize(
    "url", ["ftp://127.0.0.1/file", "127.0.0.1/health", "http://127.0.0.1:port/"]
)
async def test_invalid_url(url: str, clock: ManualClock) -> None:
    outcome = await send_one(RequestSpec(url=url), clock)

    assert outcome.error is not None
    assert outcome.error.kind is ErrorKind.INVALID_URL


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:99999/",
        "http://[::1]:99999/",
        "http://127.0.0.1:65536/",
        "http://127.0.0.1:99999999999999999999/",
        "http://127.0.0.1:-1/",
        "https://127.0.0.1:0/",
    ],
)
async def test_a_port_out_of_range_is_an_invalid_url(url: str, clock: ManualClock) -> None:
    """httpx accepts these ports; connect() raised OverflowError out of the step."""
    outcome = await send_one(RequestSpec(url=url), clock)

    assert outcome.error is not None
    assert outcome.error.kind is ErrorKind.INVALID_URL
    assert outcome.error.message == "invalid URL: the port must be 1-65535"
    assert not outcome.observation.connected


async def test_a_redirect_to_a_port_out_of_range_is_an_invalid_url(
    serve: Callable[..., Awaitable[RawServer]], clock: ManualClock
) -> None:
    # A raw server: werkzeug refuses to send this Location.
    server = await serve(answering(lambda _: (302, {"Location": "http://127.0.0.1:99999/x"}, b"")))

    outcome = await send_one(
        RequestSpec(url=f"http://127.0.0.1:{server.port}/go", follow_redirects=True), clock
    )

    assert outcome.error is not None
    assert outcome.error.kind is ErrorKind.INVALID_URL
    assert outcome.error.message == "invalid URL: redirected to a port outside 1-65535"
    assert len(server.requests) == 1


@pytest.mark.parametrize(
    "url",
    [
        "http://xn--/",  # not punycode: idna raises when the host is decoded
        "http://xn--zz/",
        "http://a/\ud800",  # a lone surrogate cannot be encoded
        "http://[::1]]/",
        "http://127.0.0.1:80:80/",
        "http://ab\x00c/",
    ],
)
async def test_a_malformed_url_is_an_invalid_url(url: str, clock: ManualClock) -> None:
    spec = RequestSpec(url=url)

    outcome = await send_one(spec, clock)

    assert outcome.error is not None
    assert outcome.error.kind is ErrorKind.INVALID_URL
    assert "\n" not in outcome.error.message
    assert repr(spec) == "RequestSpec(GET (invalid URL))"


# --- TLS -------------------------------------------------------------------------------------


async def test_self_signed_certificate_fails_verification(
    serve: Callable[..., Awaitable[RawServer]], ca: trustme.CA, clock: ManualClock
) -> None:
    server = await serve(answering(ok), ssl_context=self_signed_server_context(ca))

    outcome = await send_one(RequestSpec(url=f"https://127.0.0.1:{server.port}/"), clock)

    assert outcome.error is not None
    assert outcome.error.kind is ErrorKind.TLS
    # OpenSSL 3 says "self-signed", 1.1 said "self signed".
    assert re.fullmatch(
        r"TLS: certificate verify failed \(self.signed certificate\)", outcome.error.message
    )
    assert outcome.observation.connected, "TCP worked; TLS did not"
    assert outcome.observation.status == 0
    assert server.requests == []


async def test_self_signed_certificate_passes_without_verification(
    serve: Callable[..., Awaitable[RawServer]], ca: trustme.CA, clock: ManualClock
) -> None:
    server = await serve(answering(ok), ssl_context=self_signed_server_context(ca))
    spec = RequestSpec(url=f"https://127.0.0.1:{server.port}/", verify=False)

    outcome = await send_one(spec, clock)

    assert outcome.error is None
    assert outcome.observation.status == 200
    ca_cert = x509.load_pem_x509_certificate(ca.cert_pem.bytes())
    assert outcome.observation.certificate_not_after == ca_cert.not_valid_after_utc


@pytest.mark.parametrize("verify", [True, False])
async def test_certificate_expiry_is_read(
    serve: Callable[..., Awaitable[RawServer]], ca: trustme.CA, verify: bool
) -> None:
    not_after = datetime(2027, 6, 1, 12, 0, 0, tzinfo=UTC)
    server = await serve(answering(ok), ssl_context=server_context(leaf(ca, not_after=not_after)))
    clock = ManualClock(not_after - timedelta(days=30, milliseconds=250))

    outcome = await send_one(
        RequestSpec(url=f"https://127.0.0.1:{server.port}/", verify=verify),
        clock,
        ssl_context=client_context_trusting(ca),
    )

    assert outcome.error is None
    assert outcome.observation.certificate_not_after == not_after
    assert outcome.observation.certificate_expiration_ms == 30 * 86_400_000 + 250
    assert outcome.timings.tls_ms is not None
    assert outcome.timings.connect_ms is not None
    assert outcome.timings.ttfb_ms is not None
    assert outcome.timings.connect_ms <= outcome.timings.ttfb_ms <= outcome.timings.total_ms


@pytest.mark.filterwarnings("ignore:Parsed a serial number")
def test_certificate_not_after_reads_every_certifi_root() -> None:
    """~150 real certificates, from the DER bytes a TLS handshake hands over."""
    with open(certifi.where(), encoding="ascii") as bundle:
        certificates = x509.load_pem_x509_certificates(bundle.read().encode())
    assert len(certificates) > 100
    for certificate in certificates:
        der = certificate.public_bytes(serialization.Encoding.DER)
        assert certificate_not_after(der) == certificate.not_valid_after_utc


@pytest.mark.parametrize(
    "not_after",
    [
        datetime(2049, 12, 31, 23, 59, 59, tzinfo=UTC),  # UTCTime
        datetime(2050, 1, 1, tzinfo=UTC),  # GeneralizedTime
        datetime(1999, 12, 31, 12, 0, tzinfo=UTC),
    ],
)
def test_certificate_not_after_of_trustme_certificates(ca: trustme.CA, not_after: datetime) -> None:
    certificate = ca.issue_cert(
        "127.0.0.1", not_before=datetime(1990, 1, 1, tzinfo=UTC), not_after=not_after
    )
    pem = certificate.cert_chain_pems[0].bytes()
    der = x509.load_pem_x509_certificate(pem).public_bytes(serialization.Encoding.DER)

    assert certificate_not_after(der) == not_after


def test_certificate_not_after_of_garbage_is_none(ca: trustme.CA) -> None:
    der = x509.load_pem_x509_certificate(ca.cert_pem.bytes()).public_bytes(
        serialization.Encoding.DER
    )
    assert certificate_not_after(der) is not None
    assert certificate_not_after(der[:-20]) is None
    assert certificate_not_after(b"\x30\x82\xff\xff not a certificate") is None
    assert certificate_not_after(b"") is None
    assert certificate_not_after(None) is None


def test_ssl_contexts_are_built_once() -> None:
    assert shared_ssl_context() is shared_ssl_context()
    assert shared_ssl_context(verify=False) is shared_ssl_context(verify=False)
    assert shared_ssl_context().verify_mode is ssl.CERT_REQUIRED
    assert shared_ssl_context(verify=False).verify_mode is ssl.CERT_NONE


# --- body size cap ---------------------------------------------------------------------------


async def test_body_larger_than_the_cap_fails_and_keeps_the_first_bytes(
    httpserver: HTTPServer, clock: ManualClock
) -> None:
    body = bytes(range(256)) * 12  # 3072 bytes
    httpserver.expect_request("/big").respond_with_data(body)
    spec = RequestSpec(url=httpserver.url_for("/big"), max_body_bytes=1024)

    outcome = await send_one(spec, clock)

    assert outcome.error is not None
    assert outcome.error.kind is ErrorKind.TOO_LARGE
    assert outcome.error.message == "response body exceeds 1 KiB"
    assert outcome.observation.status == 200
    assert outcome.observation.body == body[:1024]


async def test_body_at_the_cap_passes(httpserver: HTTPServer, clock: ManualClock) -> None:
    httpserver.expect_request("/exact").respond_with_data(b"x" * 1024)

    outcome = await send_one(
        RequestSpec(url=httpserver.url_for("/exact"), max_body_bytes=1024), clock
    )

    assert outcome.error is None
    assert len(outcome.observation.body) == 1024


async def test_default_cap_is_one_mebibyte(httpserver: HTTPServer, clock: ManualClock) -> None:
    httpserver.expect_request("/huge").respond_with_data(b"x" * (1024 * 1024 + 1))

    outcome = await send_one(RequestSpec(url=httpserver.url_for("/huge")), clock)

    assert outcome.error is not None
    assert outcome.error.message == "response body exceeds 1 MiB"
    assert len(outcome.observation.body) == 1024 * 1024


# --- what a run shares -----------------------------------------------------------------------


async def test_one_cookie_jar_across_steps_and_both_clients(
    serve: Callable[..., Awaitable[RawServer]], ca: trustme.CA, clock: ManualClock
) -> None:
    def login(request: Request) -> Reply:
        return 200, {"Set-Cookie": "sid=abc123; Path=/"}, b"welcome"

    tls = await serve(answering(login), ssl_context=server_context(leaf(ca)))
    plain = await serve(answering(ok))

    async with ProbeSession(clock=clock) as probe:
        signed_in = await probe.send(
            RequestSpec(url=f"https://127.0.0.1:{tls.port}/login", verify=False)
        )
        verified = await probe.send(RequestSpec(url=f"http://127.0.0.1:{plain.port}/me"))
        unverified = await probe.send(
            RequestSpec(url=f"http://127.0.0.1:{plain.port}/again", verify=False)
        )
        strict = await probe.send(RequestSpec(url=f"https://127.0.0.1:{tls.port}/login"))
        assert probe.cookies["sid"] == "abc123"

    assert signed_in.error is None
    assert verified.error is None
    assert unverified.error is None
    assert strict.error is not None, "the verifying client really verifies"
    assert strict.error.kind is ErrorKind.TLS
    assert [r.headers.get("cookie") for r in plain.requests] == ["sid=abc123", "sid=abc123"]


async def test_steps_of_a_run_share_a_connection_and_runs_do_not(
    serve: Callable[..., Awaitable[RawServer]], clock: ManualClock
) -> None:
    server = await serve(answering(ok))
    spec = RequestSpec(url=f"http://127.0.0.1:{server.port}/")

    async with ProbeSession(clock=clock) as run:
        first = await run.send(spec)
        second = await run.send(spec)
    await asyncio.wait_for(server.all_closed.wait(), timeout=5)
    assert server.connections == 1
    assert first.timings.connect_ms is not None
    assert second.timings.connect_ms is None, "a reused connection has no connect phase"
    assert second.timings.ttfb_ms is not None
    assert second.observation.connected
    assert second.observation.ip == "127.0.0.1"

    async with ProbeSession(clock=clock) as next_run:
        third = await next_run.send(spec)
    assert server.connections == 2, "each run opens its own connection"
    assert third.timings.connect_ms is not None


async def test_reused_tls_connection_still_reports_the_certificate(
    serve: Callable[..., Awaitable[RawServer]], ca: trustme.CA, clock: ManualClock
) -> None:
    not_after = datetime(2027, 6, 1, 12, 0, 0, tzinfo=UTC)
    server = await serve(answering(ok), ssl_context=server_context(leaf(ca, not_after=not_after)))
    spec = RequestSpec(url=f"https://127.0.0.1:{server.port}/", verify=False)

    async with ProbeSession(clock=clock) as run:
        await run.send(spec)
        second = await run.send(spec)

    assert server.connections == 1
    assert second.timings.tls_ms is None
    assert second.observation.certificate_not_after == not_after


async def test_a_closed_session_refuses_to_send(clock: ManualClock) -> None:
    async with ProbeSession(clock=clock) as run:
        pass
    with pytest.raises(RuntimeError, match="closed"):
        await run.send(RequestSpec(url="http://127.0.0.1/"))


# --- secrets ---------------------------------------------------------------------------------

SECRET = "hunter2-pass"
TOKEN = "qs-token-77"


@pytest.fixture
async def failing_urls(
    serve: Callable[..., Awaitable[RawServer]], ca: trustme.CA, unused_port: int
) -> dict[str, str]:
    silent_server = await serve(silent)
    self_signed = await serve(answering(ok), ssl_context=self_signed_server_context(ca))
    userinfo, query = f"probe:{SECRET}@", f"?token={TOKEN}&x=1"
    return {
        "refused": f"http://{userinfo}127.0.0.1:{unused_port}/a{query}",
        "dns": f"http://{userinfo}secret-host.invalid/a{query}",
        "read timeout": f"http://{userinfo}127.0.0.1:{silent_server.port}/a{query}",
        "tls": f"https://{userinfo}127.0.0.1:{self_signed.port}/a{query}",
        "invalid url": f"http://{userinfo}127.0.0.1:port/a{query}",
        "bad scheme": f"ftp://{userinfo}127.0.0.1/a{query}",
        "bad port": f"http://{userinfo}127.0.0.1:99999/a{query}",
        "bad host": f"http://{userinfo}xn--/a{query}",
    }


@pytest.mark.parametrize(
    "case",
    ["refused", "dns", "read timeout", "tls", "invalid url", "bad scheme", "bad port", "bad host"],
)
async def test_failures_never_show_userinfo_or_query(
    failing_urls: dict[str, str], case: str, clock: ManualClock
) -> None:
    spec = RequestSpec(
        url=failing_urls[case], headers={"Authorization": f"Bearer {SECRET}"}, timeout=0.5
    )

    outcome = await send_one(spec, clock)

    assert outcome.error is not None
    for secret in (SECRET, TOKEN, "probe:"):
        assert secret not in outcome.error.message
        assert secret not in repr(outcome)


@pytest.mark.parametrize("value", [f"Bearer {SECRET}\u00e9", f"Bearer {SECRET}\r\nX-Evil: 1"])
async def test_an_unsendable_header_is_reported_without_its_value(
    httpserver: HTTPServer, clock: ManualClock, value: str
) -> None:
    httpserver.expect_request("/").respond_with_data("ok")

    outcome = await send_one(
        RequestSpec(url=httpserver.url_for("/"), headers={"Authorization": value}), clock
    )

    assert outcome.error is not None
    assert outcome.error.kind is ErrorKind.INVALID_REQUEST
    assert SECRET not in outcome.error.message
    assert SECRET not in repr(outcome)


async def test_success_carries_no_request_secrets(
    httpserver: HTTPServer, clock: ManualClock
) -> None:
    httpserver.expect_request("/me").respond_with_data("ok")
    spec = RequestSpec(
        method="POST",
        url=httpserver.url_for("/me").replace("://", f"://probe:{SECRET}@") + f"?token={TOKEN}",
        headers={"X-Api-Key": SECRET},
        json={"password": SECRET},
    )

    outcome = await send_one(spec, clock)

    assert outcome.error is None
    (received, _), *_ = httpserver.log
    assert received.authorization is not None, "the userinfo was sent as basic auth"
    assert received.authorization.password == SECRET
    assert SECRET not in repr(outcome)
    assert TOKEN not in repr(outcome)
    assert SECRET not in repr(spec)
    assert TOKEN not in repr(spec)


def test_a_request_takes_one_kind_of_body() -> None:
    with pytest.raises(ValueError, match="at most one"):
        RequestSpec(url="http://127.0.0.1/", json={"a": 1}, body="a=1")


# --- nothing unforeseen escapes a step -------------------------------------------------------


def failing_send(exc: BaseException) -> Callable[..., Awaitable[httpx.Response]]:
    async def send(
        self: httpx.AsyncClient, request: httpx.Request, **kwargs: Any
    ) -> httpx.Response:
        raise exc

    return send


@pytest.mark.parametrize(
    ("exc", "named"),
    [
        (
            RuntimeError(f"boom {SECRET} at http://probe:{SECRET}@host/?token={TOKEN}"),
            "RuntimeError",
        ),
        (ExceptionGroup("in a task group", [KeyError(f"{SECRET}\n{TOKEN}")]), "KeyError"),
        (TimeoutError(f"not the step's deadline {SECRET}"), "TimeoutError"),
    ],
)
async def test_an_unexpected_exception_becomes_an_error(
    monkeypatch: pytest.MonkeyPatch, clock: ManualClock, exc: Exception, named: str
) -> None:
    monkeypatch.setattr(httpx.AsyncClient, "send", failing_send(exc))
    spec = RequestSpec(
        url=f"http://probe:{SECRET}@127.0.0.1:8080/a?token={TOKEN}",
        headers={"Authorization": f"Bearer {SECRET}"},
    )

    outcome = await send_one(spec, clock)

    assert outcome.error is not None
    assert outcome.error.kind is ErrorKind.OTHER
    assert outcome.error.message == f"unexpected {named} with 127.0.0.1:8080"
    assert SECRET not in repr(outcome)
    assert TOKEN not in repr(outcome)


async def test_an_unexpected_exception_building_the_request_becomes_an_error(
    monkeypatch: pytest.MonkeyPatch, clock: ManualClock
) -> None:
    def build_request(self: httpx.AsyncClient, *args: Any, **kwargs: Any) -> httpx.Request:
        raise LookupError(SECRET)

    monkeypatch.setattr(httpx.AsyncClient, "build_request", build_request)

    outcome = await send_one(RequestSpec(url="http://127.0.0.1:8080/"), clock)

    assert outcome.error is not None
    assert outcome.error.kind is ErrorKind.OTHER
    assert outcome.error.message == "unexpected LookupError while building the request"


async def test_cancellation_still_propagates(
    monkeypatch: pytest.MonkeyPatch, clock: ManualClock
) -> None:
    monkeypatch.setattr(httpx.AsyncClient, "send", failing_send(asyncio.CancelledError()))

    with pytest.raises(asyncio.CancelledError):
        await send_one(RequestSpec(url="http://127.0.0.1:8080/"), clock)
