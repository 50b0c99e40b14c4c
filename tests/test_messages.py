"""What pages say: the default texts, one SMS of 160 GSM-7 characters, overrides and their checks."""

from __future__ import annotations

import dataclasses
import logging
from datetime import UTC, datetime, timedelta

import pytest

from monitor.config.oncall import MessagesConfig
from monitor.escalation.messages import (
    SMS_LIMIT,
    IncidentFacts,
    Messages,
    MessageTemplateError,
    gsm7_length,
    human_duration,
    short_cause,
    spoken,
    template_problems,
    to_gsm7,
    truncate_gsm7,
)

OPENED = datetime(2026, 11, 28, 10, 42, 18, tzinfo=UTC)
LONGEST_PROBE = "checkout-eu-west-1-with-three-step-login-and-a-very-long-name63"
assert len(LONGEST_PROBE) == 63  # the longest name the config accepts


def facts(**changes: object) -> IncidentFacts:
    incident = IncidentFacts(
        id=12,
        probe="login",
        group="accounts",
        severity="partial",
        state="triggered",
        rule="failure_ratio above 20% over 5m",
        figures="35% of 20 runs failed in 5m",
        cause="sign in: [STATUS] (503) == 200",
        opened_at=OPENED,
        resolved_at=None,
        acknowledged_by=None,
    )
    return dataclasses.replace(incident, **changes)  # type: ignore[arg-type]


MESSAGES = Messages()


# --- the defaults ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("incident", "sms"),
    [
        (
            facts(),
            "[MON-12] PARTIAL OUTAGE login: 35% of 20 runs failed in 5m (HTTP 503). Reply ACK 12",
        ),
        (
            facts(
                id=7,
                severity="major",
                figures="the last 3 runs failed",
                cause="sign in: connection refused by api.example.com:443",
            ),
            "[MON-7] MAJOR OUTAGE login: the last 3 runs failed (connection refused). Reply ACK 7",
        ),
        (
            facts(
                id=3,
                severity="degraded",
                figures="p95 1s200ms over 20 runs in 5m",
                cause="sign in: [RESPONSE_TIME] (1312) < 800",
            ),
            "[MON-3] DEGRADED login: p95 1s200ms over 20 runs in 5m (took 1312ms). Reply ACK 3",
        ),
        (
            facts(cause=None),
            "[MON-12] PARTIAL OUTAGE login: 35% of 20 runs failed in 5m. Reply ACK 12",
        ),
    ],
)
def test_default_sms(incident: IncidentFacts, sms: str) -> None:
    assert MESSAGES.sms(incident) == sms


@pytest.mark.parametrize(
    ("incident", "voice"),
    [
        (
            facts(),
            "Monitor alert. Incident 12. Partial outage of login. 35 percent of 20 runs failed in "
            "5 minutes. Press 1 to acknowledge, 2 to resolve, 3 to escalate.",
        ),
        (
            facts(id=7, severity="major", probe="sign-up_v2", figures="the last 3 runs failed"),
            "Monitor alert. Incident 7. Major outage of sign up v2. The last 3 runs failed. "
            "Press 1 to acknowledge, 2 to resolve, 3 to escalate.",
        ),
        (
            facts(id=3, severity="degraded", figures="p95 1s200ms over 20 runs in 1h"),
            "Monitor alert. Incident 3. Degraded performance of login. 95th percentile response "
            "time 1 second 200 milliseconds over 20 runs in 1 hour. Press 1 to acknowledge, 2 to "
            "resolve, 3 to escalate.",
        ),
    ],
)
def test_default_voice_is_spelled_for_speech(incident: IncidentFacts, voice: str) -> None:
    assert MESSAGES.voice(incident) == voice


@pytest.mark.parametrize(
    ("lasted", "shown"),
    [
        (timedelta(seconds=45), "45s"),
        (timedelta(minutes=23, seconds=59), "23m"),
        (timedelta(hours=2, minutes=5, seconds=30), "2h05m"),
        (timedelta(days=1, hours=2, minutes=30), "1d02h"),
    ],
)
def test_default_resolved(lasted: timedelta, shown: str) -> None:
    incident = facts(state="resolved", resolved_at=OPENED + lasted)
    assert MESSAGES.resolved(incident) == (
        f"[MON-12] RESOLVED login after {shown}. No action needed."
    )
    assert human_duration(lasted) == shown


@pytest.mark.parametrize(
    ("cause", "short"),
    [
        ("sign in: [STATUS] (503) == 200", "HTTP 503"),
        ("sign in: [STATUS] (404) == 200; [RESPONSE_TIME] (12) < 800", "HTTP 404"),
        ("list shares: [RESPONSE_TIME] (912) < 800", "took 912ms"),
        ("login: [CONNECTED] (false) == true", "no connection"),
        ("login: [CERTIFICATE_EXPIRATION] (36h) > 48h", "certificate expires in 36h"),
        ("sign in: connection refused by api.example.com:443", "connection refused"),
        ("sign in: no response from api.example.com within 10s (read timeout)", "read timeout"),
        ("login: connect_refused to 10.0.0.1", "connect refused to 10.0.0.1"),
        ("sign in: has([BODY].token) (false) == true", "has([BODY].token) (false) == true"),
        ("sign in: DNS: cannot resolve api.example.com (Name or service not known)",
         "DNS: cannot resolve api.example.com..."),
        (None, None),
        ("  ", None),
    ],
)  # fmt: skip
def test_short_cause(cause: str | None, short: str | None) -> None:
    assert short_cause(cause) == short


# --- one SMS ---------------------------------------------------------------------------------


def test_a_long_cause_is_cut_first() -> None:
    incident = facts(
        probe="checkout-flow",
        cause="pay: TLS: handshake with payments-gateway.eu-west-1.example.com:443 failed (bad mac)",
        figures="error rate 35% over 1h and 40% over 5m, 14.4x the 0.1% budget",
    )
    sms = MESSAGES.sms(incident)
    assert gsm7_length(sms) <= SMS_LIMIT
    assert sms.startswith(
        "[MON-12] PARTIAL OUTAGE checkout-flow: error rate 35% over 1h and 40% over 5m, 14.4x the "
        "0.1% budget (TLS: handshake with"
    )
    assert sms.endswith("...). Reply ACK 12")


def test_a_long_probe_name_and_long_figures_cut_the_cause_then_the_figures() -> None:
    incident = facts(
        probe=LONGEST_PROBE,
        figures="error rate 35% over 1h and 40% over 5m, 14.4x the 0.1% budget",
        cause="sign in: DNS: cannot resolve api.example.com (Name or service not known)",
    )
    sms = MESSAGES.sms(incident)
    assert gsm7_length(sms) <= SMS_LIMIT
    assert sms.startswith(f"[MON-12] PARTIAL OUTAGE {LONGEST_PROBE}: error rate 35% over 1h")
    assert "DNS" not in sms, "the cause goes before the figures are cut"
    assert sms.endswith("... Reply ACK 12")


def test_the_incident_number_and_reply_code_survive_any_length() -> None:
    incident = facts(
        id=987654321,
        severity="major",
        probe=LONGEST_PROBE,
        figures="x" * 300,
        cause="step: " + "y" * 300,
    )
    sms = MESSAGES.sms(incident)
    assert gsm7_length(sms) <= SMS_LIMIT
    assert sms.startswith(f"[MON-987654321] MAJOR OUTAGE {LONGEST_PROBE}")
    assert sms.endswith("Reply ACK 987654321")


def test_extension_characters_count_twice_toward_the_limit() -> None:
    # 40 characters of which 14 are [ ] { } | ^ ~ \ €: 54 septets, more than len() says.
    cause = "step: [BODY].items[0].tags[1] {a|b} ^~\\ €€ (INVALID) == x"
    incident = facts(cause=cause, figures="f" * 60, probe="p" * 20)
    sms = MESSAGES.sms(incident)
    assert gsm7_length(sms) <= SMS_LIMIT
    assert gsm7_length(sms) > len(sms)


@pytest.mark.parametrize(
    ("text", "septets"),
    [
        ("", 0),
        ("Reply ACK 12", 12),
        ("[MON-12]", 10),
        ("{}|^~\\€", 14),
        ("Größe: 5€ @ £1 ¿ñ?", 19),
        ("line\nbreak", 10),
    ],
)
def test_gsm7_length(text: str, septets: int) -> None:
    assert gsm7_length(text) == septets


def test_gsm7_length_rejects_what_gsm7_cannot_carry() -> None:
    with pytest.raises(ValueError, match="U\\+1F525"):
        gsm7_length("fire \U0001f525")


@pytest.mark.parametrize(
    ("text", "gsm"),
    [
        ("\u201cquoted\u201d \u2018x\u2019 `code`", "\"quoted\" 'x' 'code'"),
        ("a \u2013 b \u2014 c \u2212 d", "a - b - c - d"),
        ("wait…", "wait..."),
        ("café naïve façade", "café naive facade"),  # é is GSM-7, ï and ç are not
        ("Größe Ñandú ÆØÅ", "Größe Ñandu ÆØÅ"),
        ("fire 🔥 ok ✅", "fire ? ok ?"),
        ("zero\u200bwidth no\u00a0break\ttab", "zerowidth no break tab"),
        ("heart ❤️ here", "heart ? here"),  # the variation selector goes, not a second `?`
        ("\u2022 3\u00d75 \u00b5s", "* 3x5 us"),
        ("{braces} [and] €", "{braces} [and] €"),
    ],
)
def test_to_gsm7(text: str, gsm: str) -> None:
    assert to_gsm7(text) == gsm
    gsm7_length(to_gsm7(text))  # never raises


def test_an_emoji_in_a_probe_error_keeps_the_sms_gsm7() -> None:
    sms = MESSAGES.sms(facts(cause="sign in: upstream said “no” 🔥"))
    assert sms == (
        '[MON-12] PARTIAL OUTAGE login: 35% of 20 runs failed in 5m (upstream said "no" ?). '
        "Reply ACK 12"
    )


@pytest.mark.parametrize(
    ("limit", "cut"),
    [
        (100, "error rate 35% over 1h"),
        (15, "error rate..."),
        (13, "error rate..."),
        (12, "error..."),
        (8, "error..."),
        (7, "erro..."),
    ],
)
def test_truncate_gsm7_prefers_whole_words(limit: int, cut: str) -> None:
    assert truncate_gsm7("error rate 35% over 1h", limit) == cut


def test_truncate_gsm7_counts_extension_characters() -> None:
    assert truncate_gsm7("ab[cd]efgh", 8) == "ab[c..."
    # `[` would take the 6th and 7th septet: cut before it.
    assert truncate_gsm7("abc[def]gh", 7) == "abc..."
    assert gsm7_length(truncate_gsm7("[[[[[[[[", 9)) <= 9


def test_spoken() -> None:
    assert spoken("error rate 0.5% over 1h30m and 2% over 5m, 14.4x the 0.1% budget") == (
        "error rate 0.5 percent over 1 hour 30 minutes and 2 percent over 5 minutes, "
        "14.4 times the 0.1 percent budget"
    )
    assert spoken("p99 800ms over 6 runs in 1m") == (
        "99th percentile response time 800 milliseconds over 6 runs in 1 minute"
    )
    assert spoken("HTTP 503") == "HTTP 503"


# --- overrides -------------------------------------------------------------------------------


def test_overrides_use_the_template_variables() -> None:
    messages = Messages(
        MessagesConfig(
            sms="{{ severity_word }} {{ incident.group }}/{{ incident.probe }} "
            "({{ short_cause }}) - ACK {{ reply_code }}",
            voice="Alert {{ reply_code }}: {{ severity_phrase }}, {{ incident.figures | spoken }}.",
            resolved="#{{ reply_code }} {{ incident.probe }} ok after {{ duration }}",
        )
    )
    assert messages.sms(facts()) == "PARTIAL OUTAGE accounts/login (HTTP 503) - ACK 12"
    assert messages.voice(facts()) == (
        "Alert 12: Partial outage, 35 percent of 20 runs failed in 5 minutes."
    )
    resolved = facts(resolved_at=OPENED + timedelta(minutes=23))
    assert messages.resolved(resolved) == "#12 login ok after 23m"


def test_an_override_left_out_keeps_the_default() -> None:
    messages = Messages(MessagesConfig(voice="Incident {{ reply_code }}."))
    assert messages.sms(facts()) == MESSAGES.sms(facts())
    assert messages.voice(facts()) == "Incident 12."


def test_an_sms_override_is_made_gsm7_and_fitted_through_its_variables() -> None:
    messages = Messages(
        MessagesConfig(
            sms="🚨 {{ incident.probe }} — {{ incident.figures }} — {{ short_cause }} "
            "— ACK {{ reply_code }}"
        )
    )
    sms = messages.sms(facts(probe=LONGEST_PROBE, figures="f" * 80, cause="step: " + "c" * 80))
    assert gsm7_length(sms) <= SMS_LIMIT
    assert sms.startswith(f"? {LONGEST_PROBE} - ")
    assert sms.endswith("- ACK 12")


def test_an_override_failing_for_one_incident_falls_back_to_the_default(
    caplog: pytest.LogCaptureFixture,
) -> None:
    # Passes the sample incidents of the check; divides by zero for incident 13.
    messages = Messages(MessagesConfig(sms="{{ 100 // (reply_code - 13) }} ACK {{ reply_code }}"))
    assert messages.sms(facts()) == "-100 ACK 12"
    with caplog.at_level(logging.WARNING, logger="monitor.escalation.messages"):
        assert messages.sms(facts(id=13)) == MESSAGES.sms(facts(id=13))
    assert "messages.sms failed for incident 13" in caplog.text
    assert "ZeroDivisionError" in caplog.text


@pytest.mark.parametrize(
    ("config", "field", "fragment"),
    [
        (MessagesConfig(sms="{{ incident.probe "), "sms", "template syntax"),
        (MessagesConfig(voice="{% if %}x{% endif %}"), "voice", "template syntax"),
        (MessagesConfig(sms="{{ incident.probe | shout }}"), "sms", "No filter named 'shout'"),
        (MessagesConfig(resolved="{{ probe }} ok"), "resolved", "unknown variable `probe`"),
        (MessagesConfig(sms="{{ incident.name }}"), "sms", "`incident` has no field `name`"),
        (
            MessagesConfig(sms="{{ incident.cause.upper() }}"),
            "sms",
            "when rendered for an incident with no cause",
        ),
        (MessagesConfig(voice="{{ '' }}  "), "voice", "renders an empty message"),
        (MessagesConfig(sms="{{ incident.__class__ }}"), "sms", "unsafe"),
    ],
)
def test_a_bad_template_names_its_field(config: MessagesConfig, field: str, fragment: str) -> None:
    with pytest.raises(MessageTemplateError) as caught:
        Messages(config)
    assert isinstance(caught.value, ValueError)
    assert caught.value.field == field
    assert str(caught.value).startswith(f"messages.{field}: ")
    assert fragment in str(caught.value)


def test_template_problems_lists_every_bad_field() -> None:
    problems = template_problems(
        MessagesConfig(
            sms="{{ nope }} {{ also_nope }}", voice="fine {{ reply_code }}", resolved="{%"
        )
    )
    assert [field for field, _ in problems] == ["sms", "resolved"]
    assert problems[0][1].startswith("unknown variable `also_nope`, `nope`: a template may use ")
    assert "incident, severity_word" in problems[0][1]


def test_template_problems_of_good_or_no_overrides() -> None:
    assert template_problems(MessagesConfig()) == []
    good = MessagesConfig(
        sms="[{{ reply_code }}] {{ incident.probe }}{% if short_cause %} {{ short_cause }}{% endif %}",
        voice="{{ incident.figures | spoken | sentence }}.",
        resolved="{{ incident.probe }} {{ duration }}{% if incident.acknowledged_by %} "
        "({{ incident.acknowledged_by }}){% endif %}",
    )
    assert template_problems(good) == []
