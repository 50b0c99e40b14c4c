"""The dead man's switch: a GET to `self.heartbeat_url` every `self.heartbeat_every`, sent only
while the vital parts work. An external service (a cron monitor) pages when the pings stop: it
covers what no check inside the process can, a monitor that is dead, hung, or cut off.

The URL usually carries its secret (a UUID in the path): logs show its host only.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from datetime import timedelta
from urllib.parse import urlsplit

import httpx

from monitor.selfwatch.checks import Trouble

log = logging.getLogger(__name__)

PING_TIMEOUT_SECONDS = 10.0


def _host(url: str) -> str:
    return urlsplit(url).hostname or "<the heartbeat URL>"


class Heartbeat:
    def __init__(
        self,
        *,
        url: Callable[[], str | None],
        every: Callable[[], timedelta],
        troubles: Callable[[], list[Trouble]],
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self._url = url
        self._every = every
        self._troubles = troubles
        self._client = client
        self.sent = 0
        self.failed = 0
        self.withheld = 0

    async def beat(self) -> bool:
        """Ping once if all is well; True when the ping went through."""
        url = self._url()
        if url is None:
            return False
        troubles = self._troubles()
        if troubles:
            self.withheld += 1
            log.warning(
                "heartbeat withheld (%s): %s", _host(url), "; ".join(t.summary for t in troubles)
            )
            return False
        client = self._client or httpx.AsyncClient(timeout=PING_TIMEOUT_SECONDS)
        try:
            response = await client.get(url, timeout=PING_TIMEOUT_SECONDS)
            response.raise_for_status()
        except httpx.HTTPError as error:
            self.failed += 1
            status = getattr(getattr(error, "response", None), "status_code", None)
            log.warning(
                "heartbeat to %s failed: %s",
                _host(url),
                f"HTTP {status}" if status else type(error).__name__,
            )
            return False
        finally:
            if self._client is None:
                await client.aclose()
        self.sent += 1
        return True

    async def run(self, *, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                await self.beat()
            except Exception:
                log.exception("heartbeat failed")
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), self._every().total_seconds())
