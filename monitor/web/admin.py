"""The admin pages under /admin: incidents (acknowledge, resolve, escalate), probes, silences.

Server-rendered HTML with plain forms: every page works without JavaScript. The holder of
MONITOR_ADMIN_TOKEN logs in once and carries a session cookie (monitor/web/auth.py); a page
asked for without a valid session redirects to the login form, and every POST form carries a
CSRF token derived from the session: one without the right token gets 403 and changes nothing.
After a change the browser is redirected (303) back to the page, with a notice named in the
query string: a fixed sentence picked by name, so a link can never put words on the page.
"""

from __future__ import annotations

import hashlib
import hmac
from dataclasses import dataclass
from typing import Annotated, Any, Final
from urllib.parse import urlencode, urlsplit

from fastapi import APIRouter, Depends, Form, HTTPException, Query, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from monitor.storage.incidents import (
    get_incident,
)
from monitor.storage.silences import end_silence, list_silences
from monitor.web import admin_views
from monitor.web.admin_views import SilenceFormError
from monitor.web.auth import (
    SESSION_COOKIE,
    SESSION_SECONDS,
    csrf_token,
    csrf_valid,
    new_session,
    session_valid,
    web_context,
)
from monitor.web.context import WebContext
from monitor.web.incident_actions import DONE, Action, change_incident
from monitor.web.templating import templates

BY: Final = "admin (web)"
LOGIN: Final = "/admin/login"
HOME: Final = "/admin"
CSRF_FIELD: Final = "csrf"

router = APIRouter(prefix="/admin", include_in_schema=False)

PAGE_HEADERS: Final = {
    # Pages with incidents and phone digits are not for shared caches, nor for the back button
    # after a logout.
    "Cache-Control": "no-store",
    # No other site may frame the pages: a transparent frame over a page of theirs would
    # have the admin press "Resolve" unawares (the CSRF token does not stop that).
    "X-Frame-Options": "DENY",
    # No scripts at all; the styles are inline in the templates; forms post to us only.
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; img-src 'self' data:; "
        "form-action 'self'; frame-ancestors 'none'; base-uri 'none'"
    ),
    "Referrer-Policy": "same-origin",
}

# Notices shown after a redirect, by name; `{id}` is the incident's or silence's number.
NOTICES: Final[dict[str, tuple[str, str]]] = {
    "acknowledged": ("ok", "Acknowledged MON-{id}: no more pages until its ack timeout."),
    "not-acknowledged": (
        "warn",
        "MON-{id} was not acknowledged: only a triggered incident can be (someone may have "
        "answered first).",
    ),
    "resolved": ("ok", "Resolved MON-{id}: everyone paged is told."),
    "not-resolved": ("warn", "MON-{id} was not resolved: it is resolved already."),
    "escalated": ("ok", "Escalated MON-{id}: the next level is paged now."),
    "not-escalated": ("warn", "MON-{id} was not escalated: a resolved incident cannot be."),
    "no-incident": ("warn", "There is no incident MON-{id}."),
    "silenced": ("ok", "Silence #{id} added."),
    "ended": ("ok", "Silence #{id} ended."),
    "not-ended": ("warn", "Silence #{id} was already over."),
    "no-silence": ("warn", "There is no silence #{id}."),
    "logged-out": ("ok", "You are logged out."),
}


@dataclass(frozen=True)
class Notice:
    kind: str  # ok | warn | error
    text: str


def notice_of(request: Request) -> Notice | None:
    name = request.query_params.get("notice", "")
    number = request.query_params.get("id", "")
    if name not in NOTICES or (number and not number.isdigit()):
        return None
    kind, text = NOTICES[name]
    return Notice(kind, text.format(id=number or "?"))


def redirect(path: str, *, notice: str | None = None, number: int | None = None) -> Response:
    query = {"notice": notice} if notice else {}
    if number is not None:
        query["id"] = str(number)
    return RedirectResponse(path + (f"?{urlencode(query)}" if query else ""), status_code=303)


# --- sessions ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Admin:
    """A request with a valid session: what every admin page and form needs."""

    web: WebContext
    csrf: str


def _now(web: WebContext) -> float:
    return web.clock.now().timestamp()


def _safe_next(target: str | None) -> str:
    """Where to go after logging in: an admin page of this site, never another site (an open
    redirect would make a phishing link look like ours)."""
    if not target:
        return HOME
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or "\\" in target:
        return HOME
    if parts.path != HOME and not parts.path.startswith(HOME + "/"):
        return HOME
    return target


def _login_redirect(request: Request) -> HTTPException:
    # After a GET the login brings the person back; after a POST (a session that ran out) to
    # the page, since a redirect can only GET and the action must not be replayed unseen.
    back = request.url.path if request.method == "GET" else HOME
    if request.method == "GET" and request.url.query:
        back += f"?{request.url.query}"
    location = LOGIN + (f"?{urlencode({'next': back})}" if back != HOME else "")
    return HTTPException(status_code=303, detail="log in first", headers={"Location": location})


async def admin_session(request: Request) -> Admin:
    """The guard of every admin page: a valid session, else a redirect to the login form."""
    web = web_context(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    if not session_valid(web.admin_token, cookie, now=_now(web)):
        raise _login_redirect(request)
    assert web.admin_token is not None and cookie is not None  # a valid session has both
    return Admin(web, csrf_token(web.admin_token, cookie))


Session = Annotated[Admin, Depends(admin_session)]


async def checked_form(request: Request, admin: Session) -> Admin:
    """The guard of every admin POST: a valid session and the form's CSRF token; 403 without
    the right one (another site's form cannot know it, so it cannot act in our name)."""
    form = await request.form()
    given = form.get(CSRF_FIELD)
    cookie = request.cookies.get(SESSION_COOKIE)
    if not isinstance(given, str) or not csrf_valid(admin.web.admin_token, cookie, given):
        raise HTTPException(status_code=403, detail="missing or wrong CSRF token: reload the page")
    return admin


Posted = Annotated[Admin, Depends(checked_form)]


def token_ok(given: str, expected: str) -> bool:
    """Constant time, also in the length: both sides are hashed to the same size first, and a
    wrong token gets its answer as fast as a right one (no delay to measure, none to wait)."""
    return hmac.compare_digest(
        hashlib.sha256(given.encode()).digest(), hashlib.sha256(expected.encode()).digest()
    )


def _secure(request: Request, web: WebContext) -> bool:
    # Behind a TLS-terminating proxy the request arrives as http; the public URL says https.
    public = web.public_url or ""
    return request.url.scheme == "https" or public.startswith("https://")


def render(
    request: Request,
    name: str,
    context: dict[str, Any],
    *,
    admin: Admin | None,
    status_code: int = 200,
) -> HTMLResponse:
    state = web_context(request).state
    shown = {
        "csrf_field": CSRF_FIELD,
        "csrf": admin.csrf if admin else None,
        "notice": notice_of(request),
        # On every page an admin sees: a refused reload means the YAML in git is not what runs.
        "config_errors": state.config_problems() if state is not None and admin else [],
        "self_troubles": state.self_troubles() if state is not None and admin else [],
        "page": name.removesuffix(".html"),
        **context,
    }
    return templates.TemplateResponse(
        request,
        f"admin/{name}",
        shown,
        status_code=status_code,
        headers=PAGE_HEADERS,
    )


@router.get("/login")
async def login_form(
    request: Request, after: Annotated[str | None, Query(alias="next")] = None
) -> Response:
    web = web_context(request)
    cookie = request.cookies.get(SESSION_COOKIE)
    if web.admin_token is not None and session_valid(web.admin_token, cookie, now=_now(web)):
        return RedirectResponse(_safe_next(after), status_code=303)
    return _login_page(request, web, after=_safe_next(after), error=None, status_code=200)


def _login_page(
    request: Request, web: WebContext, *, after: str, error: str | None, status_code: int
) -> HTMLResponse:
    context = {"off": web.admin_token is None, "next": after, "error": error}
    return render(request, "login.html", context, admin=None, status_code=status_code)


@router.post("/login")
async def login(
    request: Request,
    token: Annotated[str, Form()] = "",
    after: Annotated[str, Form(alias="next")] = HOME,
) -> Response:
    web = web_context(request)
    target = _safe_next(after)
    if web.admin_token is None:
        return _login_page(request, web, after=target, error=None, status_code=401)
    if not token_ok(token.strip(), web.admin_token):
        error = "That is not the admin token (MONITOR_ADMIN_TOKEN)."
        return _login_page(request, web, after=target, error=error, status_code=401)
    response = RedirectResponse(target, status_code=303)
    response.set_cookie(
        SESSION_COOKIE,
        new_session(web.admin_token, now=_now(web)),
        max_age=SESSION_SECONDS,
        path=HOME,
        secure=_secure(request, web),
        httponly=True,
        samesite="strict",
    )
    return response


@router.post("/logout")
async def logout(request: Request, admin: Posted) -> Response:
    # The session is a signed expiry, not a stored row: logging out forgets the cookie here;
    # rotating the token is what ends every session everywhere.
    response = redirect(LOGIN, notice="logged-out")
    response.delete_cookie(
        SESSION_COOKIE,
        path=HOME,
        secure=_secure(request, admin.web),
        httponly=True,
        samesite="strict",
    )
    return response


# --- incidents -----------------------------------------------------------------------------------


@router.get("")
async def incidents_page(request: Request, admin: Session) -> Response:
    board = await admin_views.dashboard(admin.web)
    return render(request, "incidents.html", {"board": board}, admin=admin)


async def _change_incident(web: WebContext, incident_id: int, action: Action) -> Response:
    if await get_incident(web.db, incident_id) is None:
        return redirect(HOME, notice="no-incident", number=incident_id)
    done = DONE[action]
    if not await change_incident(web, action, incident_id, by=BY):
        return redirect(HOME, notice=f"not-{done}", number=incident_id)
    return redirect(HOME, notice=done, number=incident_id)


@router.post("/incidents/{incident_id}/ack")
async def acknowledge(incident_id: int, admin: Posted) -> Response:
    return await _change_incident(admin.web, incident_id, "acknowledge")


@router.post("/incidents/{incident_id}/resolve")
async def resolve(incident_id: int, admin: Posted) -> Response:
    return await _change_incident(admin.web, incident_id, "resolve")


@router.post("/incidents/{incident_id}/escalate")
async def escalate(incident_id: int, admin: Posted) -> Response:
    return await _change_incident(admin.web, incident_id, "escalate")


# --- probes --------------------------------------------------------------------------------------


@router.get("/probes")
async def probes_page(request: Request, admin: Session) -> Response:
    probes = await admin_views.probe_lines(admin.web)
    return render(
        request,
        "probes.html",
        {
            "probes": probes,
            "now": admin.web.clock.now(),
            "per_probe": admin_views.RESULTS_PER_PROBE,
        },
        admin=admin,
    )


# --- silences ------------------------------------------------------------------------------------


def _silences_page(
    request: Request,
    admin: Admin,
    lines: list[admin_views.SilenceLine],
    *,
    form: dict[str, Any] | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> HTMLResponse:
    context = {
        "silences": lines,
        "probe_names": [probe.name for probe in admin.web.config().probes],
        "form": form or {"scope": "all", "probes": [], "duration": "30m", "reason": ""},
        "error": error,
    }
    return render(request, "silences.html", context, admin=admin, status_code=status_code)


@router.get("/silences")
async def silences_page(request: Request, admin: Session) -> Response:
    return _silences_page(request, admin, await admin_views.silence_lines(admin.web))


@router.post("/silences")
async def add_silence(
    request: Request,
    admin: Posted,
    scope: Annotated[str, Form()] = "",
    probe: Annotated[list[str] | None, Form()] = None,
    duration: Annotated[str, Form()] = "",
    reason: Annotated[str, Form()] = "",
) -> Response:
    known = [p.name for p in admin.web.config().probes]
    chosen = probe or []
    try:
        wanted = admin_views.silence_request(
            scope=scope, probes=chosen, duration=duration, reason=reason, known=known
        )
        silence = await admin_views.create_silence(admin.web, wanted, by=BY)
    except SilenceFormError as error:
        # Shown again with what was typed, so one wrong field costs one correction.
        form = {"scope": scope, "probes": chosen, "duration": duration, "reason": reason}
        lines = await admin_views.silence_lines(admin.web)
        return _silences_page(request, admin, lines, form=form, error=str(error), status_code=400)
    return redirect("/admin/silences", notice="silenced", number=silence.id)


@router.post("/silences/{silence_id}/end")
async def end(silence_id: int, admin: Posted) -> Response:
    web = admin.web
    now = web.clock.now()
    # Read first only to say whether this press changed anything; end_silence keeps the first
    # end of two people pressing at once.
    before = {s.id: s for s in await list_silences(web.db, at=now)}
    ended = await end_silence(web.db, silence_id=silence_id, at=now)
    if ended is None:
        return redirect("/admin/silences", notice="no-silence", number=silence_id)
    notice = "ended" if silence_id in before else "not-ended"
    return redirect("/admin/silences", notice=notice, number=silence_id)
