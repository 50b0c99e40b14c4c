"""Signup, login, logout and account deletion: the flows the outage broke."""

from contextlib import suppress

from fastapi import APIRouter, HTTPException, Request, Response, status

from demo_api.dependencies import SESSION_COOKIE, CurrentSession, Demo, presented_token
from demo_api.schemas import LoginRequest, SignupOut, SignupRequest, TokenOut
from demo_api.store import NotFoundError

router = APIRouter(prefix="/api/v1", tags=["accounts"])


@router.post("/auth/signup", status_code=status.HTTP_201_CREATED)
async def signup(body: SignupRequest, response: Response, demo: Demo) -> SignupOut:
    user = demo.store.create_user(body.email, body.password)
    # Signed in at once, as most sign-up flows do: whoever created the account can also delete
    # it, even if a later sign-in fails (a probe's cleanup depends on this).
    token = demo.store.start_session(user.id)
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", path="/")
    return SignupOut(id=user.id, email=user.email, token=token)


@router.post("/auth/login")
async def login(body: LoginRequest, response: Response, demo: Demo) -> TokenOut:
    token = demo.store.login(body.email, body.password)
    if token is None:
        raise HTTPException(status_code=401, detail="wrong email or password")
    # Same token in the body (for `Authorization: Bearer`) and in a cookie (for browsers and
    # probes that keep a cookie jar). Not `secure`: the demo is served over plain http.
    response.set_cookie(SESSION_COOKIE, token, httponly=True, samesite="lax", path="/")
    return TokenOut(token=token)


@router.post("/auth/logout", status_code=status.HTTP_204_NO_CONTENT)
async def logout(request: Request, demo: Demo) -> Response:
    # Idempotent: logging out without (or with an expired) session is still 204, so a probe's
    # always-run cleanup step does not fail because an earlier step did.
    token = presented_token(request)
    if token:
        demo.store.logout(token)
    return _no_content_clearing_cookie()


@router.delete("/account", status_code=status.HTTP_204_NO_CONTENT)
async def delete_account(session: CurrentSession, demo: Demo) -> Response:
    # NotFound: deleted concurrently by another request, which is the outcome wanted anyway.
    with suppress(NotFoundError):
        demo.store.delete_user(session.user.id)
    return _no_content_clearing_cookie()


def _no_content_clearing_cookie() -> Response:
    response = Response(status_code=status.HTTP_204_NO_CONTENT)
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response
