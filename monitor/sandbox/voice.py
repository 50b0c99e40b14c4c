"""Voice calls: creating them, and the dialogue of each one in its own task.

A call's task is the only writer of its dialogue: key presses and hang-ups reach it through
`Call.inbox` together with a future that the task resolves once the call has settled again
(waiting for the next digits, or over). So `press` can answer with the transcript that the
digits produced, and a press that races a timeout is refused instead of leaking into the next
`<Gather>`.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time

from starlette.datastructures import FormData

from monitor.sandbox import forms
from monitor.sandbox.errors import TwilioApiError
from monitor.sandbox.resources import API_VERSION, rfc2822
from monitor.sandbox.runtime import Runtime
from monitor.sandbox.state import Call, PendingGather, new_sid, now
from monitor.sandbox.twiml import Gather, Hangup, Redirect, Say, TwimlError, Verb, parse_voice

APPLICATION_ERROR = "We are sorry, an application error has occurred. Goodbye."
_FINAL_STATUS = {"no-answer": "no-answer", "busy": "busy", "fail": "failed"}
# A TwiML redirect loop nobody answers would run forever; Twilio stops at 4 hours, we stop here.
_MAX_DOCUMENTS = 100
# How long `press` and `hangup` wait for the call to settle: an action URL may take up to the
# webhook timeout to answer, and a few callback delays come on top.
_SETTLE_TIMEOUT = 30.0


class CallNotWaiting(Exception):
    """The call is not waiting for digits (ringing, fetching TwiML, or over)."""


def create_call(runtime: Runtime, form: FormData) -> Call:
    """Validate a `Calls.json` request as Twilio does, store the call and start dialling."""
    to = forms.phone_number(
        form, "To", missing_code=21201, missing_message="No 'To' number is specified"
    )
    sender = forms.required(form, "From", code=21213, message="No 'From' number is specified")
    url, twiml = forms.text(form, "Url"), forms.text(form, "Twiml")
    if url is None and twiml is None:
        raise TwilioApiError(400, 21205, "Url parameter is required.")
    # Repeated parameters as the API sends them, or one space-separated value as in TwiML.
    events = {
        event.lower()
        for value in forms.values(form, "StatusCallbackEvent")
        for event in value.split()
    }
    timeout = forms.text(form, "Timeout")
    call = runtime.sandbox.add_call(
        Call(
            sid=new_sid("CA"),
            to=to,
            from_=sender,
            twiml_url=url,
            twiml=twiml if url is None else None,
            method=(forms.text(form, "Method") or "POST").upper(),
            status_callback=forms.text(form, "StatusCallback"),
            status_callback_method=(forms.text(form, "StatusCallbackMethod") or "POST").upper(),
            # Twilio always reports the end of a call, whatever was asked for.
            events=frozenset(events | {"completed"}),
            machine_detection=forms.text(form, "MachineDetection"),
            timeout=int(timeout) if timeout is not None and timeout.isdigit() else 60,
        )
    )
    runtime.tasks.spawn(_CallSession(runtime, call).run(), name=f"sandbox call {call.sid}")
    return call


async def press(call: Call, digits: str) -> None:
    """Press keys on the phone of a call waiting in a `<Gather>`; returns once the call has
    settled. Raises `CallNotWaiting`."""
    await _tell(call, digits)


async def hang_up(call: Call) -> None:
    """The person hangs up a call that waits for digits. Raises `CallNotWaiting`."""
    await _tell(call, None)


async def _tell(call: Call, digits: str | None) -> None:
    if not call.waiting_for_digits:
        raise CallNotWaiting(call.sid)
    settled: asyncio.Future[None] = asyncio.get_running_loop().create_future()
    # Marks a refusal as seen even if we gave up waiting, so asyncio does not log it as lost.
    settled.add_done_callback(lambda future: future.cancelled() or future.exception())
    call.inbox.put_nowait((digits, settled))
    await asyncio.wait({settled}, timeout=_SETTLE_TIMEOUT)
    if settled.done():
        settled.result()


class _HungUp(Exception):
    pass


class _CallSession:
    def __init__(self, runtime: Runtime, call: Call) -> None:
        self.runtime = runtime
        self.call = call
        self.behaviour = runtime.sandbox.behaviour(call.to).voice
        self.sequence = 0
        self.answered_at: float | None = None
        self.documents = 0
        # The future of the event being handled, resolved when the call settles.
        self.settling: asyncio.Future[None] | None = None

    async def run(self) -> None:
        try:
            await self._dial()
        finally:
            # Also on cancellation (reset, shutdown): nobody may wait on this call for ever.
            self._settle()
            self._refuse_queued()

    async def _dial(self) -> None:
        call = self.call
        await self._pause()
        await self._status_callback("initiated", "initiated")
        await self._pause()
        call.set_status("ringing")
        await self._status_callback("ringing", "ringing")
        await self._pause()
        if self.behaviour in _FINAL_STATUS:
            await self._finish(_FINAL_STATUS[self.behaviour])
            return

        if self.behaviour == "machine":
            call.answered_by = "machine_start"
        elif call.machine_detection is not None:
            call.answered_by = "human"
        call.start_time = now()
        call.set_status("in-progress")
        self.answered_at = time.monotonic()
        if call.twiml is not None:
            verbs = self._parse(call.twiml, url=None)
        else:
            assert call.twiml_url is not None
            verbs = await self._fetch(call.twiml_url, call.method, {})
        await self._status_callback("answered", "in-progress")
        if verbs is not None:
            if self.behaviour == "machine":
                # A voicemail listens to the first document and presses nothing.
                self._listen(verbs)
            else:
                with contextlib.suppress(_HungUp):
                    await self._execute(verbs)
        await self._finish("completed")

    def _listen(self, verbs: list[Verb]) -> None:
        for verb in verbs:
            if isinstance(verb, Say):
                self.call.transcript.append(verb.text)
            elif isinstance(verb, Gather):
                self.call.transcript.extend(verb.says)

    async def _execute(self, verbs: list[Verb] | None) -> None:
        """Run documents until one ends the call; each Redirect or answered Gather fetches the
        next."""
        while verbs is not None:
            following: tuple[str, str, dict[str, str]] | None = None
            for verb in verbs:
                if isinstance(verb, Say):
                    self.call.transcript.append(verb.text)
                elif isinstance(verb, Hangup):
                    return
                elif isinstance(verb, Redirect):
                    following = (verb.url, verb.method, {})
                    break
                elif isinstance(verb, Gather):
                    self.call.transcript.extend(verb.says)
                    digits = await self._gather(verb)
                    if digits is None:
                        # No input: like Twilio, go on with the verbs after the <Gather>.
                        continue
                    if verb.action is None:
                        return
                    following = (verb.action, verb.method, {"Digits": digits})
                    break
            if following is None or self.documents >= _MAX_DOCUMENTS:
                return
            await self._pause()
            verbs = await self._fetch(*following)

    async def _gather(self, verb: Gather) -> str | None:
        """Wait for the digits of one `<Gather>`: the input, or None when none came in time.
        Raises `_HungUp`."""
        call = self.call
        call.gather = PendingGather(
            action=verb.action or "",
            method=verb.method,
            num_digits=verb.num_digits,
            finish_on_key=verb.finish_on_key,
        )
        call.pending_digits = ""
        self._settle()
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.runtime.settings.gather_timeout
        try:
            while True:
                try:
                    digits, self.settling = await asyncio.wait_for(
                        call.inbox.get(), max(0.0, deadline - loop.time())
                    )
                except TimeoutError:
                    self._refuse_queued()
                    return None
                if digits is None:
                    raise _HungUp
                call.digits.append(digits)
                call.pending_digits += digits
                entered = _complete_input(call.pending_digits, verb)
                if entered is not None:
                    return entered
                self._settle()
        finally:
            call.gather = None
            call.pending_digits = ""

    async def _fetch(self, url: str, method: str, extra: dict[str, str]) -> list[Verb] | None:
        """Fetch and parse a TwiML document; None (after Twilio's apology) if that fails."""
        self.documents += 1
        params = self._params("in-progress") | extra
        record = await self.runtime.sender.send(url, params, method=method)
        if record.status is None or not 200 <= record.status < 300:
            self.call.transcript.append(APPLICATION_ERROR)
            return None
        return self._parse(record.body or "", url=url)

    def _parse(self, document: str, *, url: str | None) -> list[Verb] | None:
        try:
            return parse_voice(document, url=url)
        except TwimlError:
            self.call.transcript.append(APPLICATION_ERROR)
            return None

    async def _finish(self, status: str) -> None:
        call = self.call
        call.gather = None
        call.end_time = now()
        seconds = 0 if self.answered_at is None else math.ceil(time.monotonic() - self.answered_at)
        call.duration = seconds
        call.set_status(status)
        self._settle()
        self._refuse_queued()
        await self._status_callback(
            "completed",
            status,
            # CallDuration in seconds; Duration is Twilio's billed minutes, rounded up.
            {"CallDuration": str(seconds), "Duration": str(math.ceil(seconds / 60))},
        )

    def _params(self, status: str) -> dict[str, str]:
        call = self.call
        params = {
            "CallSid": call.sid,
            "AccountSid": self.runtime.settings.account_sid,
            "From": call.from_,
            "To": call.to,
            "CallStatus": status,
            "Direction": "outbound-api",
            "ApiVersion": API_VERSION,
        }
        if call.answered_by is not None:
            params["AnsweredBy"] = call.answered_by
        return params

    async def _status_callback(
        self, event: str, status: str, extra: dict[str, str] | None = None
    ) -> None:
        call = self.call
        if call.status_callback is None or event not in call.events:
            return
        params = self._params(status) | (extra or {})
        params |= {
            "CallbackSource": "call-progress-events",
            "SequenceNumber": str(self.sequence),
            "Timestamp": rfc2822(now()) or "",
        }
        self.sequence += 1
        await self.runtime.sender.send(
            call.status_callback, params, method=call.status_callback_method
        )

    async def _pause(self) -> None:
        await asyncio.sleep(self.runtime.settings.callback_delay)

    def _settle(self) -> None:
        if self.settling is not None and not self.settling.done():
            self.settling.set_result(None)
        self.settling = None

    def _refuse_queued(self) -> None:
        """Events that arrived after the call stopped listening."""
        while not self.call.inbox.empty():
            _, settled = self.call.inbox.get_nowait()
            if not settled.done():
                settled.set_exception(CallNotWaiting(self.call.sid))


def _complete_input(entered: str, verb: Gather) -> str | None:
    """The gathered digits once the input is complete, as Twilio decides it: the finish key
    (not included), or `numDigits` keys. Without numDigits every press completes the input:
    the sandbox has no inter-digit timeout to wait for."""
    if verb.finish_on_key and verb.finish_on_key in entered:
        return entered.split(verb.finish_on_key, 1)[0]
    if verb.num_digits is None:
        return entered
    if len(entered) >= verb.num_digits:
        return entered[: verb.num_digits]
    return None
