"""One HTTP step of a probe: send a rendered request, time it, and observe the answer.

A `ProbeSession` is one probe run. Its httpx clients are made for the run and closed at its end,
so every run opens a fresh TCP/TLS connection (a half-dead load balancer shows up at connect
time), while the steps of one run may reuse it. Problems with the request, its URL or the
network never raise: they come back as `StepOutcome.error`, a `ProbeError` whose message is safe
to show (no userinfo, query string, header value or request body); anything unforeseen becomes
`ErrorKind.OTHER`, naming only the exception's type.
"""

from __future__ import annotations

import asyncio
import functools
import socket
import ssl
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import TracebackType
from typing import Any, Protocol, Self

import httpx
from cryptography import x509

from monitor.clock import Clock
from monitor.probing.errors import ErrorKind, ProbeError
from monitor.probing.observation import Observation

MiB = 1024 * 1024
_MAX_PORT = 65535


@dataclass(frozen=True, kw_only=True, repr=False)
class RequestSpec:
    """A fully rendered request (templating is the caller's job).

    `timeout` (seconds) bounds each phase (connect, write, read, pool) and the whole step,
    body included. At most one of `json`, `body` and `form` is given.
    """

    method: str = "GET"
    url: str
    query: Mapping[str, str | list[str]] = field(default_factory=dict)
    headers: Mapping[str, str] = field(default_factory=dict)
    json: Any = None
    body: str | bytes | None = None
    form: Mapping[str, str] | None = None
    timeout: float = 10.0
    follow_redirects: bool = False
    verify: bool = True
    max_body_bytes: int = MiB

    def __post_init__(self) -> None:
        payloads = {"json": self.json, "body": self.body, "form": self.form}
        given = [name for name, value in payloads.items() if value is not None]
        if len(given) > 1:
            raise ValueError(f"a request takes at most one of json, body, form; got {given}")
        if self.timeout <= 0:
            raise ValueError("timeout must be positive")
        if self.max_body_bytes < 0:
            raise ValueError("max_body_bytes must not be negative")

    def __repr__(self) -> str:
        # Headers, body and query may hold secrets: a logged spec shows none of them.
        return f"RequestSpec({self.method} {_safe_url(self.url)})"


@dataclass(frozen=True, kw_only=True)
class Timings:
    """Milliseconds, measured with `time.perf_counter`.

    `connect_ms` (TCP connect, DNS included) and `tls_ms` (TLS handshake) are durations of that
    phase, None when it did not happen (a reused connection, plain HTTP). `ttfb_ms` runs from the
    start of the step until the response headers are in, like curl's `time_starttransfer`, so it
    includes connect and TLS; None without response headers. `total_ms` runs from the start of the
    step to its end, body included. With redirects followed, connect and TLS add up over the hops
    and `ttfb_ms` is for the last response.
    """

    total_ms: float
    connect_ms: float | None = None
    tls_ms: float | None = None
    ttfb_ms: float | None = None


@dataclass(frozen=True, kw_only=True)
class StepOutcome:
    """What one step saw. `final_url` is where it ended (after redirects), without userinfo,
    query or fragment; empty when no response arrived."""

    observation: Observation
    timings: Timings
    error: ProbeError | None = None
    final_url: str = ""


@functools.cache
def shared_ssl_context(*, verify: bool = True) -> ssl.SSLContext:
    """One TLS context per process and mode: building one costs about 30 ms.

    Verifying contexts use certifi's CA bundle (or SSL_CERT_FILE / SSL_CERT_DIR, as httpx does).
    """
    return httpx.create_ssl_context(verify=verify)


def certificate_not_after(der: bytes | None) -> datetime | None:
    """The notAfter (UTC) of a DER X.509 certificate; None without one or if unreadable."""
    if not der:
        return None
    try:
        return x509.load_der_x509_certificate(der).not_valid_after_utc
    except ValueError:  # what cryptography raises for bytes that are no certificate
        return None


class ProbeSession:
    """Everything one probe run shares: connections (fresh per run) and one cookie jar.

    `verify` is a client setting in httpx, so a session holds up to two clients (verifying and
    not), made on first use and closed with the session; both read and write `cookies`.
    """

    def __init__(self, *, clock: Clock, ssl_context: ssl.SSLContext | None = None) -> None:
        self._clock = clock
        self._ssl_context = ssl_context
        self.cookies = httpx.Cookies()
        self._clients: dict[bool, httpx.AsyncClient] = {}
        self._closed = False

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        self._closed = True
        clients, self._clients = list(self._clients.values()), {}
        for client in clients:
            await client.aclose()

    def _client(self, verify: bool) -> httpx.AsyncClient:
        if self._closed:
            raise RuntimeError("this ProbeSession is closed; a new run needs a new session")
        client = self._clients.get(verify)
        if client is None:
            context = self._ssl_context if verify and self._ssl_context else None
            client = httpx.AsyncClient(
                verify=context or shared_ssl_context(verify=verify),
                # Passing the bare CookieJar makes httpx share it instead of copying it.
                cookies=self.cookies.jar,
                # A probe measures the direct path: no proxy or .netrc from the environment.
                trust_env=False,
                # Runs for every hop, redirects included (connect() raises OverflowError).
                event_hooks={"request": [_check_redirect_port]},
            )
            self._clients[verify] = client
        return client

    async def send(self, spec: RequestSpec) -> StepOutcome:
        """Send one request and observe the answer.

        Raises only for a closed session (and lets cancellation through): whatever is wrong with
        the request, its URL or the network comes back as `StepOutcome.error`."""
        client = self._client(spec.verify)
        trace = _Trace()
        started = time.perf_counter()
        try:
            url = _request_url(spec)
        except Exception as exc:  # httpx.InvalidURL, but also idna's and Unicode errors
            return _failed_before_sending(started, _url_error(exc))
        try:
            request = _build_request(client, spec, url, trace)
        except Exception as exc:  # ValueError, TypeError: a body or header that cannot be sent
            return _failed_before_sending(started, _build_error(exc))
        response, body, error = await _exchange(client, request, spec, trace)
        ended = time.perf_counter()

        timings = Timings(
            total_ms=(ended - started) * 1000,
            connect_ms=trace.connect_ms,
            tls_ms=trace.tls_ms,
            ttfb_ms=None if trace.headers_at is None else (trace.headers_at - started) * 1000,
        )
        not_after = certificate_not_after(trace.peer.certificate)
        observation = Observation(
            status=response.status_code if response is not None else 0,
            response_time_ms=round(timings.total_ms),
            body=body,
            headers=response.headers if response is not None else httpx.Headers(),
            connected=trace.connected or response is not None,
            ip=trace.peer.ip,
            certificate_expiration_ms=(
                0 if not_after is None else _ms_between(self._clock.now(), not_after)
            ),
            certificate_not_after=not_after,
        )
        final_url = _safe_url(response.url) if response is not None else ""
        return StepOutcome(
            observation=observation, timings=timings, error=error, final_url=final_url
        )


def _failed_before_sending(started: float, error: ProbeError) -> StepOutcome:
    timings = Timings(total_ms=(time.perf_counter() - started) * 1000)
    return StepOutcome(observation=Observation(), timings=timings, error=error)


class _PortOutOfRange(httpx.InvalidURL):
    """A URL whose port is not 1-65535: httpx accepts it, the socket layer does not."""

    def __init__(self, *, redirect: bool) -> None:
        super().__init__("port out of range")
        self.redirect = redirect


def _check_port(url: httpx.URL, *, redirect: bool = False) -> None:
    if url.port is not None and not 0 < url.port <= _MAX_PORT:
        raise _PortOutOfRange(redirect=redirect)


async def _check_redirect_port(request: httpx.Request) -> None:
    """httpx request hook; the first URL is checked before sending, so this catches redirects."""
    _check_port(request.url, redirect=True)


def _request_url(spec: RequestSpec) -> httpx.URL:
    """The URL to send to, query merged; raises if it cannot be used."""
    url = httpx.URL(spec.url)
    if spec.query:  # `params=` would replace the URL's own query string in httpx 0.28
        url = url.copy_merge_params(dict(spec.query))
    _check_port(url)
    url.host  # noqa: B018 -- decodes an IDNA host (`xn--...`): raises if it is malformed
    return url


def _build_request(
    client: httpx.AsyncClient, spec: RequestSpec, url: httpx.URL, trace: _Trace
) -> httpx.Request:
    return client.build_request(
        spec.method,
        url,
        headers=dict(spec.headers),
        json=spec.json,
        content=spec.body,
        data=spec.form,
        timeout=spec.timeout,  # for each phase: connect, write, read, pool
        extensions={"trace": trace},
    )


async def _exchange(
    client: httpx.AsyncClient, request: httpx.Request, spec: RequestSpec, trace: _Trace
) -> tuple[httpx.Response | None, bytes, ProbeError | None]:
    """Send, then stream at most `max_body_bytes` of body, all within `spec.timeout`.

    The overall deadline matters for a server that drips: each read is quick, so httpx's
    per-read timeout never fires."""
    response: httpx.Response | None = None
    body = bytearray()
    try:
        async with asyncio.timeout(spec.timeout) as deadline:
            response = await client.send(
                request, stream=True, follow_redirects=spec.follow_redirects
            )
            try:
                stream = response.extensions.get("network_stream")
                trace.peer = _Peer.of(stream, ip=trace.peer.ip)
                async for chunk in response.aiter_bytes():
                    body += chunk
                    if len(body) > spec.max_body_bytes:
                        message = f"response body exceeds {_size(spec.max_body_bytes)}"
                        return (
                            response,
                            bytes(body[: spec.max_body_bytes]),
                            ProbeError(ErrorKind.TOO_LARGE, message),
                        )
            finally:
                await response.aclose()
    except TimeoutError as exc:
        if not deadline.expired():  # not our deadline: a layer below timed out on its own
            return response, bytes(body), _unexpected_error(exc, spec)
        error = _deadline_error(trace, spec, got_response=response is not None)
        return response, bytes(body), error
    except (httpx.HTTPError, httpx.InvalidURL) as exc:
        return response, bytes(body), _classify(exc, trace, spec)
    except Exception as exc:  # last resort: a surprise from below must not end the probe run
        return response, bytes(body), _unexpected_error(exc, spec)
    return response, bytes(body), None


class _NetworkStream(Protocol):
    def get_extra_info(self, info: str) -> Any: ...


@dataclass(frozen=True)
class _Peer:
    ip: str = ""
    certificate: bytes | None = None  # DER

    @classmethod
    def of(cls, stream: _NetworkStream | None, *, ip: str = "") -> _Peer:
        """Read the peer's address and certificate while the stream is open; `ip` is the
        address already known, for when the stream cannot tell."""
        if stream is None:
            return cls(ip=ip)
        try:
            address = stream.get_extra_info("server_addr")
            ssl_object = stream.get_extra_info("ssl_object")
            # binary_form: without verification getpeercert() is {}, the DER is still there.
            der = ssl_object.getpeercert(binary_form=True) if ssl_object is not None else None
        except (OSError, ValueError):  # the peer already hung up: nothing more to learn
            return cls(ip=ip)
        return cls(ip=str(address[0]) if address else ip, certificate=der)


class _Trace:
    """Collects httpx's trace events of one step (several requests when redirects are followed)."""

    def __init__(self) -> None:
        self.connect_ms: float | None = None
        self.tls_ms: float | None = None
        self.headers_at: float | None = None
        self.connected = False
        self.tls_started = False
        self.request_sent = False
        self.peer = _Peer()
        self._started: dict[str, float] = {}

    async def __call__(self, event: str, info: Mapping[str, Any]) -> None:
        now = time.perf_counter()
        phase, _, state = event.rpartition(".")
        if state == "started":
            self._started[phase] = now
        if phase == "connection.connect_tcp" and state == "started":
            self.peer = _Peer()  # a new connection (a redirect hop): forget the previous peer
        if phase == "connection.start_tls" and state == "started":
            self.tls_started = True
        if phase == "http11.send_request_headers" and state == "started":
            self.connected = True  # also true of a connection reused from an earlier step
        if state != "complete":
            return
        elapsed = (now - self._started.get(phase, now)) * 1000
        if phase == "connection.connect_tcp":
            self.connected = True
            self.connect_ms = (self.connect_ms or 0.0) + elapsed
            self.peer = _Peer.of(info.get("return_value"))
        elif phase == "connection.start_tls":
            self.tls_ms = (self.tls_ms or 0.0) + elapsed
            self.peer = _Peer.of(info.get("return_value"), ip=self.peer.ip)
        elif phase == "http11.send_request_headers":
            self.request_sent = True
        elif phase == "http11.receive_response_headers":
            self.headers_at = now


def _classify(
    exc: httpx.HTTPError | httpx.InvalidURL, trace: _Trace, spec: RequestSpec
) -> ProbeError:
    """Name what went wrong in one line that carries no secret (hence no `str(exc)`)."""
    url = _failed_url(exc, spec.url)
    where = _host_port(url)
    within = f"{spec.timeout:g}s"
    causes = list(_causes(exc))
    if isinstance(exc, _PortOutOfRange):
        return _port_error(exc)
    if isinstance(exc, httpx.InvalidURL | httpx.UnsupportedProtocol):
        return ProbeError(
            ErrorKind.INVALID_URL, "invalid URL: it needs http:// or https:// and a host"
        )
    if isinstance(exc, httpx.ConnectTimeout):
        phase = "TLS handshake" if trace.tls_started else "connection"
        return ProbeError(
            ErrorKind.CONNECT_TIMEOUT, f"no {phase} to {where} within {within} (connect timeout)"
        )
    if isinstance(exc, httpx.ReadTimeout):
        what = "complete response" if trace.headers_at is not None else "response"
        return ProbeError(
            ErrorKind.READ_TIMEOUT, f"no {what} from {where} within {within} (read timeout)"
        )
    if isinstance(exc, httpx.WriteTimeout):
        return ProbeError(
            ErrorKind.WRITE_TIMEOUT, f"could not send the request to {where} within {within}"
        )
    if isinstance(exc, httpx.PoolTimeout):
        return ProbeError(ErrorKind.POOL_TIMEOUT, f"no free connection within {within}")
    for cause in causes:
        if isinstance(cause, socket.gaierror):
            return ProbeError(ErrorKind.DNS, f"DNS: cannot resolve {url.host} ({cause.strerror})")
        if isinstance(cause, ConnectionRefusedError):
            return ProbeError(ErrorKind.CONNECT_REFUSED, f"connection refused by {where}")
        if isinstance(cause, ssl.SSLCertVerificationError):
            reason = cause.verify_message or cause.reason or "unknown reason"
            return ProbeError(ErrorKind.TLS, f"TLS: certificate verify failed ({reason})")
        if isinstance(cause, ssl.SSLError):
            reason = cause.reason or type(cause).__name__
            return ProbeError(ErrorKind.TLS, f"TLS: handshake with {where} failed ({reason})")
    if isinstance(exc, httpx.ConnectError) and trace.tls_started:
        return ProbeError(ErrorKind.TLS, f"TLS: {where} closed the connection during the handshake")
    if isinstance(exc, httpx.TooManyRedirects):
        return ProbeError(ErrorKind.PROTOCOL, f"too many redirects (last from {where})")
    if isinstance(exc, httpx.DecodingError):
        return ProbeError(ErrorKind.PROTOCOL, f"cannot decode the response body from {where}")
    if isinstance(exc, httpx.LocalProtocolError):
        return ProbeError(ErrorKind.INVALID_REQUEST, "the request is not valid HTTP (headers?)")
    if isinstance(exc, httpx.RemoteProtocolError):
        if not trace.request_sent or trace.headers_at is None:
            detail = "closed the connection or answered with invalid HTTP"
        else:
            detail = "sent an invalid or truncated response"
        return ProbeError(ErrorKind.PROTOCOL, f"{where} {detail}")
    os_reason = next((c.strerror for c in causes if isinstance(c, OSError) and c.strerror), None)
    action = "connect to" if isinstance(exc, httpx.ConnectError) else "talk to"
    suffix = f" ({os_reason})" if os_reason else f" ({type(exc).__name__})"
    return ProbeError(ErrorKind.OTHER, f"cannot {action} {where}{suffix}")


def _url_error(exc: Exception) -> ProbeError:
    # str(exc) may quote the URL: only the type of problem is named.
    if isinstance(exc, _PortOutOfRange):
        return _port_error(exc)
    if isinstance(exc, httpx.InvalidURL | ValueError):  # ValueError: idna's, Unicode errors
        return ProbeError(ErrorKind.INVALID_URL, "invalid URL (check its scheme, host and port)")
    return _build_error(exc)


def _port_error(exc: _PortOutOfRange) -> ProbeError:
    if exc.redirect:
        return ProbeError(
            ErrorKind.INVALID_URL, f"invalid URL: redirected to a port outside 1-{_MAX_PORT}"
        )
    return ProbeError(ErrorKind.INVALID_URL, f"invalid URL: the port must be 1-{_MAX_PORT}")


def _unexpected_error(exc: Exception, spec: RequestSpec) -> ProbeError:
    """What no other branch foresaw: its type is named, never its text (it may quote secrets)."""
    leaf = next((cause for cause in _causes(exc) if not isinstance(cause, BaseExceptionGroup)), exc)
    where = _host_port(_failed_url(exc, spec.url))
    return ProbeError(ErrorKind.OTHER, f"unexpected {type(leaf).__name__} with {where}")


def _build_error(exc: Exception) -> ProbeError:
    # str(exc) may quote the URL or a header value: only the type of problem is named.
    if isinstance(exc, httpx.InvalidURL):
        return _url_error(exc)
    if isinstance(exc, ValueError | TypeError):
        return ProbeError(
            ErrorKind.INVALID_REQUEST,
            f"cannot build the request ({type(exc).__name__}): check its headers and body",
        )
    return ProbeError(
        ErrorKind.OTHER, f"unexpected {type(exc).__name__} while building the request"
    )


def _deadline_error(trace: _Trace, spec: RequestSpec, *, got_response: bool) -> ProbeError:
    """The step's overall deadline passed: say which phase it was stuck in."""
    where = _host_port(httpx.URL(spec.url))
    within = f"{spec.timeout:g}s"
    if not trace.connected:
        return ProbeError(
            ErrorKind.CONNECT_TIMEOUT, f"no connection to {where} within {within} (connect timeout)"
        )
    if trace.tls_started and trace.tls_ms is None:
        return ProbeError(
            ErrorKind.CONNECT_TIMEOUT,
            f"no TLS handshake with {where} within {within} (connect timeout)",
        )
    if not trace.request_sent and not got_response:
        return ProbeError(
            ErrorKind.WRITE_TIMEOUT, f"could not send the request to {where} within {within}"
        )
    if not got_response:
        return ProbeError(
            ErrorKind.READ_TIMEOUT, f"no response from {where} within {within} (read timeout)"
        )
    return ProbeError(
        ErrorKind.READ_TIMEOUT,
        f"response body from {where} not complete within {within} (deadline)",
    )


def _causes(exc: BaseException) -> Iterator[BaseException]:
    """The exception and everything behind it. httpcore re-raises with `from None`, so the
    original error is often only in `__context__`; anyio groups per-address failures."""
    seen: set[int] = set()
    pending: list[BaseException] = [exc]
    while pending:
        current = pending.pop(0)
        if id(current) in seen:
            continue
        seen.add(id(current))
        yield current
        if isinstance(current, BaseExceptionGroup):
            pending.extend(current.exceptions)
        for linked in (current.__cause__, current.__context__):
            if linked is not None:
                pending.append(linked)


def _failed_url(exc: Exception, fallback: str) -> httpx.URL:
    """The URL of the request that failed (after redirects, it is not the spec's)."""
    if isinstance(exc, httpx.RequestError):
        try:
            return exc.request.url
        except RuntimeError:  # raised when the exception carries no request
            pass
    try:
        return httpx.URL(fallback)
    except httpx.InvalidURL:
        return httpx.URL()


def _host_port(url: httpx.URL) -> str:
    host = f"[{url.host}]" if ":" in url.host else url.host
    port = url.port if url.port is not None else {"http": 80, "https": 443}.get(url.scheme)
    return f"{host}:{port}" if port else host or "(no host)"


def _safe_url(url: httpx.URL | str) -> str:
    """scheme://host:port/path: no userinfo, query or fragment."""
    try:
        parsed = httpx.URL(url)
        return f"{parsed.scheme}://{_host_port(parsed)}{parsed.path}"
    except (httpx.InvalidURL, ValueError):  # ValueError: a malformed IDNA host (`xn--`)
        return "(invalid URL)"


def _size(n: int) -> str:
    for unit, factor in (("MiB", MiB), ("KiB", 1024)):
        if n >= factor and n % factor == 0:
            return f"{n // factor} {unit}"
    return f"{n} bytes"


def _ms_between(start: datetime, end: datetime) -> int:
    return int((end - start).total_seconds() * 1000)
