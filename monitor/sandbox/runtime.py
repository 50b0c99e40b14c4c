"""What the routes share: the settings, the state, the webhook sender and the background tasks.

One object on `app.state.runtime` keeps the route modules free of globals, so every
`create_app` call is an independent sandbox (tests run several side by side).
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request

from monitor.sandbox.callbacks import WebhookSender
from monitor.sandbox.state import Sandbox, SandboxPerson, SandboxSettings
from monitor.sandbox.tasks import TaskSet


@dataclass(frozen=True, kw_only=True)
class Runtime:
    settings: SandboxSettings
    sandbox: Sandbox
    sender: WebhookSender
    tasks: TaskSet
    people: tuple[SandboxPerson, ...]

    async def reset(self) -> None:
        """Forget everything; running calls and pending callbacks stop first, so none of them
        writes into the fresh state."""
        await self.tasks.cancel_all()
        self.sandbox.reset()


def get_runtime(request: Request) -> Runtime:
    runtime = request.app.state.runtime
    assert isinstance(runtime, Runtime)
    return runtime
