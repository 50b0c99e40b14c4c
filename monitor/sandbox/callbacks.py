"""Signed outgoing requests: status callbacks, TwiML fetches and inbound SMS webhooks.

Each carries `X-Twilio-Signature` exactly as Twilio computes it, so the monitor's signature
check is exercised for real. Every request is recorded in `Sandbox.webhooks`, including the
ones whose target failed or could not be reached: a broken receiver is something to inspect in
a test, never a reason for the sandbox to fail.
"""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

import httpx
from twilio.request_validator import RequestValidator

from monitor.sandbox.state import Sandbox, WebhookRecord

SIGNATURE_HEADER = "X-Twilio-Signature"
TIMEOUT_SECONDS = 10.0
# Enough of a reply to debug with; a receiver answering megabytes must not bloat the log.
_MAX_RECORDED_BODY = 64 * 1024


class WebhookSender:
    """Sends signed form requests with one shared httpx client, opened and closed by the app's
    lifespan."""

    def __init__(self, sandbox: Sandbox, *, auth_token: str) -> None:
        self._sandbox = sandbox
        self._validator = RequestValidator(auth_token)
        self._client: httpx.AsyncClient | None = None

    async def start(self) -> None:
        self._client = httpx.AsyncClient(
            timeout=TIMEOUT_SECONDS, headers={"User-Agent": "TwilioProxy/1.1"}
        )

    async def aclose(self) -> None:
        if self._client is not None:
            await self._client.aclose()
            self._client = None

    def sign(self, url: str, params: Mapping[str, str]) -> str:
        return str(self._validator.compute_signature(url, dict(params)))

    async def send(
        self,
        url: str,
        params: Mapping[str, str],
        *,
        method: str = "POST",
        signature: str | None = None,
    ) -> WebhookRecord:
        """Send `params` to `url` (form body for POST, query string for GET) and record it.

        `signature` overrides the computed one, to test how a receiver treats forgeries.
        """
        method = method.upper()
        params = dict(params)
        if method == "GET":
            # Twilio signs a GET over the full URL, query included, with no body parameters.
            separator = "&" if "?" in url else "?"
            target = f"{url}{separator}{urlencode(params)}" if params else url
            computed = self.sign(target, {})
        else:
            target = url
            computed = self.sign(url, params)
        record = WebhookRecord(
            method=method,
            url=target,
            params=params,
            # "" sends no signature at all (a request that did not come from Twilio).
            signature=computed if signature is None else signature,
        )
        # Appended before sending, so the log keeps the order in which requests went out.
        self._sandbox.webhooks.append(record)
        try:
            await self._deliver(record, params)
        finally:
            record.done = True
        return record

    async def _deliver(self, record: WebhookRecord, params: dict[str, str]) -> None:
        if self._client is None:
            record.error = "the sandbox is not running (no HTTP client)"
            return
        headers = {SIGNATURE_HEADER: record.signature} if record.signature else {}
        try:
            if record.method == "GET":
                response = await self._client.get(record.url, headers=headers)
            else:
                response = await self._client.post(record.url, data=params, headers=headers)
        except Exception as exc:  # any failure of the target is data for the test, not a crash
            record.error = f"{type(exc).__name__}: {exc}"
            return
        record.status = response.status_code
        record.body = response.text[:_MAX_RECORDED_BODY]
