"""The webhook channel: POSTs one JSON object per page to a URL (a chat tool, an incident bot).

```json
{"page_id": 7, "incident_id": 12, "kind": "page", "person": {"id": "alice", "name": "Alice Meyer"},
 "channel": "webhook", "probe": "login", "severity": "partial",
 "text": "[MON-12] PARTIAL OUTAGE login: 35% of 20 runs failed in 5m (HTTP 503). Reply ACK 12"}
```

No phone number is sent: a chat tool addresses people by id or name, and a payload kept in a
chat channel's history is no place for a personal number (phone numbers quoted in the text are
masked too). The header `Idempotency-Key: page-<id>` lets the receiver drop the duplicate that
at-least-once delivery sends after a crash (DESIGN.md §4).

Errors never quote header values, the URL's path or query (a Slack-style webhook URL is itself
the secret) or an unmasked phone number: they end up on the page row, in the timeline and logs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

import httpx

from monitor.channels.base import DeliveryError, Page
from monitor.config.oncall import WebhookChannelConfig
from monitor.masking import mask_phones

USER_AGENT = "monitor-webhook/1"
EXCERPT_CHARS = 120
REDACTED = "[REDACTED]"
# Shorter values would mangle ordinary words more than they protect.
_MIN_SECRET_CHARS = 4
_WHITESPACE = re.compile(r"\s+")


class WebhookChannel:
    def __init__(
        self, config: WebhookChannelConfig, client: httpx.AsyncClient | None = None
    ) -> None:
        self.name = "webhook"
        self._config = config
        # None: a client per page. Pages are a handful per incident, so a kept-alive connection
        # saves nothing, and no client outlives the event loop that made it.
        self._client = client
        self._timeout = httpx.Timeout(config.timeout.total_seconds())
        try:
            url = httpx.URL(config.url)
        except httpx.InvalidURL:
            # Reported on every page rather than crashing the monitor, which has other channels.
            url = httpx.URL()
        self._where = f"{url.scheme}://{url.netloc.decode('ascii', 'replace')}"
        self._redact = _redactor(config.headers.values(), url)

    async def send(self, page: Page) -> str | None:
        headers = {
            "User-Agent": USER_AGENT,
            **self._config.headers,
            "Idempotency-Key": f"page-{page.id}",
        }
        try:
            if self._client is not None:
                response = await self._post(self._client, page, headers)
            else:
                async with httpx.AsyncClient() as client:
                    response = await self._post(client, page, headers)
        except (httpx.UnsupportedProtocol, httpx.InvalidURL):
            raise DeliveryError(
                "webhook: the configured URL is not valid (it needs http:// or https:// and a "
                "host)",
                permanent=True,
            ) from None
        except httpx.TimeoutException as error:
            seconds = f"{self._config.timeout.total_seconds():g}s"
            raise DeliveryError(
                f"webhook {self._where}: no answer within {seconds} ({type(error).__name__})",
                permanent=False,
            ) from None
        except httpx.RequestError as error:
            # The exception's text may quote the URL; its type says enough.
            raise DeliveryError(
                f"webhook {self._where}: {_transport_problem(error)} ({type(error).__name__})",
                permanent=False,
            ) from None
        return self._outcome(response)

    async def _post(
        self, client: httpx.AsyncClient, page: Page, headers: dict[str, str]
    ) -> httpx.Response:
        return await client.post(
            self._config.url,
            json=payload(page),
            headers=headers,
            timeout=self._timeout,
            follow_redirects=False,
        )

    def _outcome(self, response: httpx.Response) -> str | None:
        status = response.status_code
        if response.is_success:
            return _provider_id(response)
        excerpt = self._excerpt(response)
        reason = f"webhook {self._where} answered HTTP {status}" + (
            f": {excerpt}" if excerpt else ""
        )
        # 429 and 5xx are about load or an outage at the receiver: later may work. Any other
        # answer (4xx, or a redirect the config should have named directly) will not change.
        transient = status == 429 or status >= 500
        if response.is_redirect:
            reason += " (a redirect: configure the URL it points to)"
        raise DeliveryError(reason, permanent=not transient)

    def _excerpt(self, response: httpx.Response) -> str:
        text = _WHITESPACE.sub(" ", response.text).strip()
        text = mask_phones(self._redact(text))
        if len(text) > EXCERPT_CHARS:
            text = text[: EXCERPT_CHARS - 3].rstrip() + "..."
        return text


def payload(page: Page) -> dict[str, Any]:
    return {
        "page_id": page.id,
        "incident_id": page.incident_id,
        "kind": page.kind,
        "person": {"id": page.person_id, "name": page.person_name},
        "channel": page.channel,
        "probe": page.probe,
        "severity": page.severity,
        "text": mask_phones(page.text),
    }


def _provider_id(response: httpx.Response) -> str | None:
    try:
        body = response.json()
    except ValueError:  # not JSON, or not text at all
        body = None
    if isinstance(body, dict):
        found = body.get("id")
        if isinstance(found, str | int) and not isinstance(found, bool) and str(found):
            return str(found)
    return response.headers.get("X-Request-Id") or None


def _transport_problem(error: httpx.RequestError) -> str:
    if isinstance(error, httpx.ConnectError):
        return "cannot connect"
    if isinstance(error, httpx.RemoteProtocolError):
        return "the connection broke before a complete answer"
    return "the request failed"


def _redactor(header_values: Iterable[str], url: httpx.URL) -> Callable[[str], str]:
    secrets = _secrets(header_values, url)

    def redact(text: str) -> str:
        # Longest first, so a secret containing another one goes whole.
        for secret in secrets:
            text = text.replace(secret, REDACTED)
        return text

    return redact


def _secrets(header_values: Iterable[str], url: httpx.URL) -> list[str]:
    """What a receiver might echo back that must not reach an error: header values (and the
    credential of `Bearer <token>`), the URL, its path and query and user info."""
    found = {
        str(url),
        url.path,
        url.query.decode("ascii", "replace"),
        url.userinfo.decode("ascii", "replace"),
        url.password or "",
    }
    for value in header_values:
        found.add(value)
        scheme, _, credential = value.partition(" ")
        if credential and scheme.isalpha():
            found.add(credential)
    return sorted(
        (secret for secret in found if len(secret) >= _MIN_SECRET_CHARS and secret != "/"),
        key=len,
        reverse=True,
    )
