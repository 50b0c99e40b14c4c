"""Per-app state and the authentication dependency shared by the routers.

Async so they run on the event loop: sync dependencies would hop to a thread pool for nothing.
"""

from dataclasses import dataclass
from typing import Annotated

from fastapi import Depends, HTTPException, Request

from demo_api.faults import FaultInjector
from demo_api.store import Store, User

SESSION_COOKIE = "session"


@dataclass(frozen=True)
class DemoState:
    """Everything one app instance owns; kept on `app.state` so apps never share data."""

    store: Store
    injector: FaultInjector


async def get_demo(request: Request) -> DemoState:
    demo = request.app.state.demo
    assert isinstance(demo, DemoState), "create_app() sets app.state.demo"
    return demo


Demo = Annotated[DemoState, Depends(get_demo)]


@dataclass(frozen=True)
class Session:
    token: str
    user: User


def presented_token(request: Request) -> str | None:
    """The bearer token if an Authorization header is sent, else the session cookie.

    An Authorization header wins even when wrong: silently falling back to a cookie would hide
    a broken header from a probe that meant to test it.
    """
    header = request.headers.get("authorization")
    if header is not None:
        scheme, _, token = header.partition(" ")
        return token.strip() or None if scheme.lower() == "bearer" else None
    return request.cookies.get(SESSION_COOKIE) or None


async def current_session(request: Request, demo: Demo) -> Session:
    token = presented_token(request)
    user = demo.store.user_for_token(token) if token else None
    if token is None or user is None:
        raise HTTPException(
            status_code=401,
            detail="not authenticated",
            headers={"WWW-Authenticate": "Bearer"},
        )
    return Session(token=token, user=user)


CurrentSession = Annotated[Session, Depends(current_session)]
