"""Fixtures shared by the whole test suite. Keep each one small and documented."""

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
from demo_api import DemoSettings, create_app

from monitor.testing import serve_asgi

DemoApiFactory = Callable[[DemoSettings], str]


@pytest.fixture
def demo_api_factory() -> Iterator[DemoApiFactory]:
    """Start demo APIs with given settings on real servers: `url = demo_api_factory(settings)`.

    Each call serves a new, independent app; all are stopped when the test ends. Settings are
    explicit (never read from DEMO_* env vars) so a developer's shell cannot change a test.
    """
    with ExitStack() as servers:

        def start(settings: DemoSettings) -> str:
            return servers.enter_context(serve_asgi(create_app(settings)))

        yield start


@pytest.fixture
def demo_api_url(demo_api_factory: DemoApiFactory) -> str:
    """Base URL of a fresh, healthy demo API (no faults, the default probe account)."""
    return demo_api_factory(DemoSettings())
