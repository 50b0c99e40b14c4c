"""Unit tests of the Gatus-compatible condition language: parsing, evaluation and display."""

from __future__ import annotations

import dataclasses
import json
from typing import Any

import httpx
import pytest

from monitor.probing import conditions
from monitor.probing.conditions import (
    INVALID,
    Condition,
    ConditionResult,
    ConditionSyntaxError,
    is_placeholder,
    parse_condition,
    resolve,
)
from monitor.probing.observation import Observation

HOUR_MS = 3_600_000


def obs(
    *,
    body: bytes | str | dict[str, Any] | list[Any] = b"",
    headers: dict[str, str] | None = None,
    plain_headers: bool = False,
    **fields: Any,
) -> Observation:
    """An Observation as the HTTP step would build it; JSON bodies may be given as Python data."""
    if isinstance(body, dict | list):
        body = json.dumps(body).encode()
    elif isinstance(body, str):
        body = body.encode()
    given = headers or {}
    return Observation(
        body=body, headers=given if plain_headers else httpx.Headers(given), **fields
    )


USER = obs(
    body=(
        b'{"data": {"id": 1, "name": "john", "city": "z\xc3\xbcrich", "tags": ["a", "b"],'
        b' "meta": {"b": 2, "a": 1}, "empty": "", "nothing": null, "ratio": 0.75,'
        b' "big": 100000000, "price": 1.50, "hex": "0x1F", "active": true},'
        b' "items": [1, 2, 3],'
        b' "users": [{"id": 1, "name": "ann"}, {"id": 2, "name": "bob"}],'
        b' "matrix": [[1, 2], [3, 4]]}'
    ),
    status=200,
)
ARRAY = obs(body=[{"id": 1}, {"id": 2}, {"id": 3}])
TEXT = obs(body=b"  hello world \n")
HTML_OK = obs(
    body=(
        '<!DOCTYPE html><html lang="en"><head><meta http-equiv="Content-Type" '
        'content="text/html; charset=UTF-8" /></head><body><div id="user">john.doe</div>'
        "</body></html>"
    )
)
HTML_KO = obs(body=HTML_OK.body.replace(b"john.doe", b"jane.doe"))
HTML_PATTERN = 'pat(*<div id="user">john.doe</div>*)'
HTML_SHOWN = "<!DOCTYPE html><html lang...(truncated)"
HEADERS = obs(
    headers={
        "Content-Type": "application/json",
        "X-Request-Id": "abcd",
        "Content-Length": "42",
        "Location": "https://example.com/a/login",
    }
)

# (condition, observation, ok, resolved): `resolved` is asserted in full, passing or failing.
EVALUATIONS = [
    # [STATUS] and every operator
    ("[STATUS] == 200", obs(status=200), True, "[STATUS] (200) == 200"),
    ("[STATUS] == 200", obs(status=503), False, "[STATUS] (503) == 200"),
    ("[STATUS] != 200", obs(status=503), True, "[STATUS] (503) != 200"),
    ("[STATUS] != 200", obs(status=200), False, "[STATUS] (200) != 200"),
    ("[STATUS] < 300", obs(status=201), True, "[STATUS] (201) < 300"),
    ("[STATUS] < 300", obs(status=404), False, "[STATUS] (404) < 300"),
    ("[STATUS] <= 299", obs(status=299), True, "[STATUS] (299) <= 299"),
    ("[STATUS] <= 299", obs(status=300), False, "[STATUS] (300) <= 299"),
    ("[STATUS] > 400", obs(status=400), False, "[STATUS] (400) > 400"),
    ("[STATUS] >= 400", obs(status=400), True, "[STATUS] (400) >= 400"),
    ("[status] == 200", obs(status=200), True, "[status] (200) == 200"),
    ("200 == [STATUS]", obs(status=200), True, "200 == [STATUS] (200)"),
    ("  [STATUS]   ==   200  ", obs(status=500), False, "[STATUS] (500) == 200"),
    ("[STATUS] == 0", obs(), True, "[STATUS] (0) == 0"),
    # integers: 0x/0o/0b and `_` like Go's ParseInt base 0; a leading zero is decimal
    ("[STATUS] == 0xC8", obs(status=200), True, "[STATUS] (200) == 0xC8"),
    ("[STATUS] == 0o310", obs(status=200), True, "[STATUS] (200) == 0o310"),
    ("[STATUS] == 0b11001000", obs(status=200), True, "[STATUS] (200) == 0b11001000"),
    ("[STATUS] == 2_00", obs(status=200), True, "[STATUS] (200) == 2_00"),
    ("[STATUS] == 0200", obs(status=200), True, "[STATUS] (200) == 0200"),
    ("[STATUS] == 0200", obs(status=128), False, "[STATUS] (128) == 0200"),
    ("[STATUS] < 0x12D", obs(status=300), True, "[STATUS] (300) < 0x12D"),
    # [RESPONSE_TIME] with numbers and durations
    ("[RESPONSE_TIME] < 500", obs(response_time_ms=50), True, "[RESPONSE_TIME] (50) < 500"),
    ("[RESPONSE_TIME] < 500", obs(response_time_ms=500), False, "[RESPONSE_TIME] (500) < 500"),
    ("[RESPONSE_TIME] < 1s", obs(response_time_ms=999), True, "[RESPONSE_TIME] (999) < 1s"),
    ("[RESPONSE_TIME] < 1s", obs(response_time_ms=1000), False, "[RESPONSE_TIME] (1000) < 1s"),
    ("[RESPONSE_TIME] <= 1.5s", obs(response_time_ms=1500), True, "[RESPONSE_TIME] (1500) <= 1.5s"),
    (
        "[RESPONSE_TIME] >= 1m30s",
        obs(response_time_ms=90_000),
        True,
        "[RESPONSE_TIME] (90000) >= 1m30s",
    ),
    (
        "[RESPONSE_TIME] >= 1m30s",
        obs(response_time_ms=89_999),
        False,
        "[RESPONSE_TIME] (89999) >= 1m30s",
    ),
    ("[RESPONSE_TIME] < 1500us", obs(response_time_ms=1), True, "[RESPONSE_TIME] (1) < 1500us"),
    ("[RESPONSE_TIME] < 2e3", obs(response_time_ms=1999), True, "[RESPONSE_TIME] (1999) < 2e3"),
    ("[RESPONSE_TIME] > 0s", obs(response_time_ms=0), False, "[RESPONSE_TIME] (0) > 0s"),
    ("[RESPONSE_TIME] == 1s", obs(response_time_ms=1000), False, "[RESPONSE_TIME] (1000) == 1s"),
    # [CONNECTED]
    ("[CONNECTED] == true", obs(connected=True), True, "[CONNECTED] (true) == true"),
    ("[CONNECTED] == true", obs(connected=False), False, "[CONNECTED] (false) == true"),
    ("[CONNECTED] != false", obs(connected=True), True, "[CONNECTED] (true) != false"),
    # [IP]
    ("[IP] == 127.0.0.1", obs(ip="127.0.0.1"), True, "[IP] (127.0.0.1) == 127.0.0.1"),
    ("[IP] == 127.0.0.1", obs(ip=""), False, "[IP] () == 127.0.0.1"),
    ("[IP] == pat(10.*)", obs(ip="10.1.2.3"), True, "[IP] (10.1.2.3) == pat(10.*)"),
    ("[IP] == pat(10.*)", obs(ip="192.168.0.1"), False, "[IP] (192.168.0.1) == pat(10.*)"),
    (
        "[IP] == any(1.1.1.1, 1.0.0.1)",
        obs(ip="1.0.0.1"),
        True,
        "[IP] (1.0.0.1) == any(1.1.1.1, 1.0.0.1)",
    ),
    (
        "[IP] != any(1.1.1.1, 1.0.0.1)",
        obs(ip="8.8.8.8"),
        True,
        "[IP] (8.8.8.8) != any(1.1.1.1, 1.0.0.1)",
    ),
    # [CERTIFICATE_EXPIRATION] is in ms, shown as a duration beside < <= > >=
    (
        "[CERTIFICATE_EXPIRATION] > 48h",
        obs(certificate_expiration_ms=24 * HOUR_MS),
        False,
        "[CERTIFICATE_EXPIRATION] (24h) > 48h",
    ),
    (
        "[CERTIFICATE_EXPIRATION] > 48h",
        obs(certificate_expiration_ms=336 * HOUR_MS),
        True,
        "[CERTIFICATE_EXPIRATION] (336h) > 48h",
    ),
    (
        "[CERTIFICATE_EXPIRATION] > 48h",
        obs(certificate_expiration_ms=48 * HOUR_MS),
        False,
        "[CERTIFICATE_EXPIRATION] (48h) > 48h",
    ),
    ("[CERTIFICATE_EXPIRATION] > 48h", obs(), False, "[CERTIFICATE_EXPIRATION] (0s) > 48h"),
    (
        "[CERTIFICATE_EXPIRATION] > 2419200000",
        obs(certificate_expiration_ms=336 * HOUR_MS),
        False,
        "[CERTIFICATE_EXPIRATION] (336h) > 2419200000",
    ),
    (
        "[CERTIFICATE_EXPIRATION] > 1h",
        obs(certificate_expiration_ms=5_415_000),
        True,
        "[CERTIFICATE_EXPIRATION] (1h30m15s) > 1h",
    ),
    (
        "[CERTIFICATE_EXPIRATION] > 1h",
        obs(certificate_expiration_ms=3_615_999),
        True,
        "[CERTIFICATE_EXPIRATION] (1h0m15s) > 1h",
    ),
    (
        "[CERTIFICATE_EXPIRATION] > 1h",
        obs(certificate_expiration_ms=600_000),
        False,
        "[CERTIFICATE_EXPIRATION] (10m) > 1h",
    ),
    (
        "[CERTIFICATE_EXPIRATION] > 1h",
        obs(certificate_expiration_ms=20_000),
        False,
        "[CERTIFICATE_EXPIRATION] (20s) > 1h",
    ),
    (
        "[CERTIFICATE_EXPIRATION] > 0",
        obs(certificate_expiration_ms=-5_000),
        False,
        "[CERTIFICATE_EXPIRATION] (-5s) > 0",
    ),
    ("[CERTIFICATE_EXPIRATION] == 0", obs(), True, "[CERTIFICATE_EXPIRATION] (0) == 0"),
    # [BODY] as text: trimmed, UTF-8 with replacement
    ("[BODY] == hello world", TEXT, True, "[BODY] (hello world) == hello world"),
    ("[BODY] == 1", obs(body=b"1"), True, "[BODY] (1) == 1"),
    ("[BODY] < 124", obs(body=b"123"), True, "[BODY] (123) < 124"),
    ("[BODY] > 123", obs(body=b"100"), False, "[BODY] (100) > 123"),
    ("[BODY] == ok", obs(body=b"ok\xff"), False, "[BODY] (ok\ufffd) == ok"),
    # [BODY] JSON paths
    ("[BODY].data.name == john", USER, True, "[BODY].data.name (john) == john"),
    ("[BODY].data.name == jane", USER, False, "[BODY].data.name (john) == jane"),
    ("[BODY].data.missing == john", USER, False, "[BODY].data.missing (INVALID) == john"),
    ("[BODY].data.id == 1", USER, True, "[BODY].data.id (1) == 1"),
    ("[BODY].data.id > 0", USER, True, "[BODY].data.id (1) > 0"),
    ("[BODY].data.ratio > 0.5", USER, True, "[BODY].data.ratio (0.75) > 0.5"),
    ("[BODY].data.ratio > 0", USER, True, "[BODY].data.ratio (0.75) > 0"),
    ("[BODY].data.ratio >= 0.76", USER, False, "[BODY].data.ratio (0.75) >= 0.76"),
    ("[BODY].data.price == 1.50", USER, True, "[BODY].data.price (1.50) == 1.50"),
    ("[BODY].data.price == 1.5", USER, True, "[BODY].data.price (1.50) == 1.5"),
    ("[BODY].data.price != 1.5", USER, False, "[BODY].data.price (1.50) != 1.5"),
    ("[BODY].data.price == 1.51", USER, False, "[BODY].data.price (1.50) == 1.51"),
    # `==` between numbers that are not both integers: by exact value, as Gatus users expect
    ("[BODY] == 2", obs(body=b"2.0"), True, "[BODY] (2.0) == 2"),
    ("[BODY] != 2", obs(body=b"2.0"), False, "[BODY] (2.0) != 2"),
    ("[BODY] == 2", obs(body=b"2.5"), False, "[BODY] (2.5) == 2"),
    ("[BODY].x == 1000", obs(body=b'{"x": 1e3}'), True, "[BODY].x (1e3) == 1000"),
    ("[BODY].x == 1e3", obs(body={"x": 1000}), True, "[BODY].x (1000) == 1e3"),
    ("[BODY].x == 1.5", obs(body={"x": "1.50"}), True, "[BODY].x (1.50) == 1.5"),
    ("[BODY].x == 0x10", obs(body=b'{"x": 16.0}'), True, "[BODY].x (16.0) == 0x10"),
    ("[BODY].x == .5", obs(body=b'{"x": 0.50}'), True, "[BODY].x (0.50) == .5"),
    ("[BODY].x == -0.0", obs(body=b'{"x": 0}'), True, "[BODY].x (0) == -0.0"),
    # exact, not through float64: these differ beyond float64's 17 significant digits
    (
        "[BODY] == 0.1",
        obs(body=b"0.10000000000000001"),
        False,
        "[BODY] (0.10000000000000001) == 0.1",
    ),
    (
        "[BODY] == 9007199254740993",
        obs(body=b"9007199254740993.0"),
        True,
        "[BODY] (9007199254740993.0) == 9007199254740993",
    ),
    (
        "[BODY] == 9007199254740993",
        obs(body=b"9007199254740992"),
        False,
        "[BODY] (9007199254740992) == 9007199254740993",
    ),
    # not numbers: compared as text
    ("[BODY] == 1e999", obs(body=b"1e999"), True, "[BODY] (1e999) == 1e999"),
    ("[BODY] == 1e9999", obs(body=b"1e999"), False, "[BODY] (1e999) == 1e9999"),
    (
        "[BODY] == 0",
        obs(body=b"1e-99999999999999999999"),
        False,
        "[BODY] (1e-99999999999999999999) == 0",
    ),
    ("[BODY] == 1000", obs(body=b"1s"), False, "[BODY] (1s) == 1000"),
    ("[BODY].v == pat(1.10)", obs(body={"v": "1.1"}), False, "[BODY].v (1.1) == pat(1.10)"),
    ("[BODY].data.big == 100000000", USER, True, "[BODY].data.big (100000000) == 100000000"),
    ("[BODY].data.hex == 31", USER, True, "[BODY].data.hex (0x1F) == 31"),
    ("[BODY].data.hex > 30", USER, True, "[BODY].data.hex (0x1F) > 30"),
    ("[BODY].data.active == true", USER, True, "[BODY].data.active (true) == true"),
    ("[BODY].data.nothing == null", USER, True, "[BODY].data.nothing (null) == null"),
    ("[BODY].data.empty == pat(*)", USER, True, "[BODY].data.empty () == pat(*)"),
    ('[BODY].data.tags == ["a","b"]', USER, True, '[BODY].data.tags (["a","b"]) == ["a","b"]'),
    (
        '[BODY].data.meta == {"a":1,"b":2}',
        USER,
        True,
        '[BODY].data.meta ({"a":1,"b":2}) == {"a":1,"b":2}',
    ),
    ("[BODY].items[1] == 2", USER, True, "[BODY].items[1] (2) == 2"),
    ("[BODY].items[3] == 4", USER, False, "[BODY].items[3] (INVALID) == 4"),
    ("[BODY].users[1].name == bob", USER, True, "[BODY].users[1].name (bob) == bob"),
    ("[BODY].matrix[1][0] == 3", USER, True, "[BODY].matrix[1][0] (3) == 3"),
    ("[BODY][0].id == 1", ARRAY, True, "[BODY][0].id (1) == 1"),
    ("[BODY][0].id == 1", USER, False, "[BODY][0].id (INVALID) == 1"),
    ("[body].Data == 1", obs(body={"Data": 1}), True, "[body].Data (1) == 1"),
    ("[BODY].data == 1", obs(body={"Data": 1}), False, "[BODY].data (INVALID) == 1"),
    ("[BODY].data.name == john", TEXT, False, "[BODY].data.name (INVALID) == john"),
    ("[BODY].data == OK", obs(body=b"null"), False, "[BODY].data (INVALID) == OK"),
    ("[BODY].data.name.first == john", USER, False, "[BODY].data.name.first (INVALID) == john"),
    ("[BODY].data.id.x == 1", USER, False, "[BODY].data.id.x (INVALID) == 1"),
    ("[BODY].x == nan", obs(body=b'{"x": NaN}'), False, "[BODY].x (INVALID) == nan"),
    # INVALID or non-numeric sides fail every operator (deviations 2 and 3)
    ("[BODY].data.missing < 5", USER, False, "[BODY].data.missing (INVALID) < 5"),
    ("[BODY].data.missing != 5", USER, False, "[BODY].data.missing (INVALID) != 5"),
    ("[BODY].data.missing == pat(*)", USER, False, "[BODY].data.missing (INVALID) == pat(*)"),
    ("[BODY].data.missing != any(1, 2)", USER, False, "[BODY].data.missing (INVALID) != any(1, 2)"),
    ("[BODY].data.name < 5", USER, False, "[BODY].data.name (john) < 5"),
    ("[BODY].data.name > -5", USER, False, "[BODY].data.name (john) > -5"),
    # len()
    ("len([BODY].items) > 5", USER, False, "len([BODY].items) (3) > 5"),
    ("len([BODY].items) == 3", USER, True, "len([BODY].items) (3) == 3"),
    ("len([BODY].data.name) == 4", USER, True, "len([BODY].data.name) (4) == 4"),
    ("len([BODY].data.city) == 6", USER, True, "len([BODY].data.city) (6) == 6"),
    ("len([BODY].data.meta) == 2", USER, True, "len([BODY].data.meta) (2) == 2"),
    ("len([BODY].data.id) == 1", USER, True, "len([BODY].data.id) (1) == 1"),
    ("len([BODY].data.active) == 4", USER, True, "len([BODY].data.active) (4) == 4"),
    ("len([BODY].data.missing) == 0", USER, False, "len([BODY].data.missing) (INVALID) == 0"),
    ("len([BODY].data.nothing) == 0", USER, False, "len([BODY].data.nothing) (INVALID) == 0"),
    ("len([BODY]) == 3", ARRAY, True, "len([BODY]) (3) == 3"),
    ("len([BODY]) == 4", USER, True, "len([BODY]) (4) == 4"),
    ("len([BODY]) == 11", TEXT, True, "len([BODY]) (11) == 11"),
    ("len([BODY]) == 0", obs(), True, "len([BODY]) (0) == 0"),
    ("len([STATUS]) == 3", obs(status=200), True, "len([STATUS]) (3) == 3"),
    # has(): shown with its value, as Gatus does
    ("has([BODY].data.name) == true", USER, True, "has([BODY].data.name) (true) == true"),
    ("has([BODY].errors) == false", USER, True, "has([BODY].errors) (false) == false"),
    (
        "has([BODY].errors) == false",
        obs(body={"errors": ["1"]}),
        False,
        "has([BODY].errors) (true) == false",
    ),
    (
        "has([BODY].errors) != true",
        obs(body={"errors": []}),
        False,
        "has([BODY].errors) (true) != true",
    ),
    ("has([BODY].data.nothing) == false", USER, True, "has([BODY].data.nothing) (false) == false"),
    ("has([BODY].data.empty) == true", USER, True, "has([BODY].data.empty) (true) == true"),
    ("has([BODY].users[5]) == false", USER, True, "has([BODY].users[5]) (false) == false"),
    ("has([BODY]) == false", obs(body=b" \n"), True, "has([BODY]) (false) == false"),
    ("has([BODY].data) == false", TEXT, True, "has([BODY].data) (false) == false"),
    (
        "has([HEADERS].X-Request-Id) == true",
        HEADERS,
        True,
        "has([HEADERS].X-Request-Id) (true) == true",
    ),
    (
        "has([HEADERS].X-Missing) == true",
        HEADERS,
        False,
        "has([HEADERS].X-Missing) (false) == true",
    ),
    # pat(): Go globs, `/` removed from both sides as Gatus does, long values cut in display
    ("[BODY].data.name == pat(jo*)", USER, True, "[BODY].data.name (john) == pat(jo*)"),
    ("[BODY].data.name == pat(bob*)", USER, False, "[BODY].data.name (john) == pat(bob*)"),
    ("pat(jo?n) == [BODY].data.name", USER, True, "pat(jo?n) == [BODY].data.name (john)"),
    ("[BODY].data.name != pat(bob*)", USER, True, "[BODY].data.name (john) != pat(bob*)"),
    ("[BODY].data.name == pat(j\\*hn)", USER, False, "[BODY].data.name (john) == pat(j\\*hn)"),
    ("[STATUS] == pat([45]*)", obs(status=503), True, "[STATUS] (503) == pat([45]*)"),
    ("[STATUS] == pat([45]*)", obs(status=200), False, "[STATUS] (200) == pat([45]*)"),
    (f"[BODY] == {HTML_PATTERN}", HTML_OK, True, f"[BODY] ({HTML_SHOWN}) == {HTML_PATTERN}"),
    (f"[BODY] == {HTML_PATTERN}", HTML_KO, False, f"[BODY] ({HTML_SHOWN}) == {HTML_PATTERN}"),
    (f"{HTML_PATTERN} == [BODY]", HTML_KO, False, f"{HTML_PATTERN} == [BODY] ({HTML_SHOWN})"),
    (
        "[HEADERS].Location == pat(https://*/login)",
        HEADERS,
        True,
        "[HEADERS].Location (https://example.com/a/log...(truncated)) == pat(https://*/login)",
    ),
    # any()
    (
        "[BODY].data.name == any(jane, john)",
        USER,
        True,
        "[BODY].data.name (john) == any(jane, john)",
    ),
    ("[BODY].data.name == any(jane,bob)", USER, False, "[BODY].data.name (john) == any(jane,bob)"),
    ("any(200, 429) == [STATUS]", obs(status=429), True, "any(200, 429) == [STATUS] (429)"),
    ("[STATUS] == any(200, 429)", obs(status=404), False, "[STATUS] (404) == any(200, 429)"),
    # [HEADERS] (our extension)
    (
        "[HEADERS].Content-Type == application/json",
        HEADERS,
        True,
        "[HEADERS].Content-Type (application/json) == application/json",
    ),
    (
        "[headers].content-type == application/json",
        HEADERS,
        True,
        "[headers].content-type (application/json) == application/json",
    ),
    (
        "[HEADERS].Content-Type == application/json",
        obs(headers={"content-type": "application/json"}, plain_headers=True),
        True,
        "[HEADERS].Content-Type (application/json) == application/json",
    ),
    ("[HEADERS].X-Missing == 1", HEADERS, False, "[HEADERS].X-Missing (INVALID) == 1"),
    ("[HEADERS].Content-Length > 100", HEADERS, False, "[HEADERS].Content-Length (42) > 100"),
    ("len([HEADERS].X-Request-Id) == 4", HEADERS, True, "len([HEADERS].X-Request-Id) (4) == 4"),
    # placeholder against placeholder: both shown resolved
    (
        "[BODY].users[0].id == [BODY].data.id",
        USER,
        True,
        "[BODY].users[0].id (1) == [BODY].data.id (1)",
    ),
    (
        "[BODY].users[0].name != [BODY].users[1].name",
        USER,
        True,
        "[BODY].users[0].name (ann) != [BODY].users[1].name (bob)",
    ),
    (
        "[BODY].users[0].name == [BODY].users[1].name",
        USER,
        False,
        "[BODY].users[0].name (ann) == [BODY].users[1].name (bob)",
    ),
    (
        "[BODY].data.id < len([BODY].items)",
        USER,
        True,
        "[BODY].data.id (1) < len([BODY].items) (3)",
    ),
    (
        "[BODY].data.missing == [BODY].data.other",
        USER,
        False,
        "[BODY].data.missing (INVALID) == [BODY].data.other (INVALID)",
    ),
]


@pytest.mark.parametrize(("text", "observation", "ok", "resolved"), EVALUATIONS)
def test_evaluate(text: str, observation: Observation, ok: bool, resolved: str) -> None:
    result = Condition.parse(text).evaluate(observation)
    assert result == ConditionResult(condition=text, ok=ok, resolved=resolved)


def test_the_table_is_large_enough() -> None:
    assert len(EVALUATIONS) >= 80


# Go's filepath.Match and Gatus's pattern tests, through a condition: (glob, value, matches).
GLOBS = [
    ("*", "livingroom_123", True),
    ("**", "livingroom_123", True),
    ("living*", "livingroom_123", True),
    ("*living*", "livingroom_123", True),
    ("*_*", "livingroom_123", True),
    ("living*room_*3", "livingroom_123", True),
    ("*vin*om*2*", "livingroom_123", True),
    ("livingroom", "livingroom_123", False),
    ("*what*", "livingroom_123", False),
    ("*.*", "livingroom_123", False),
    ("room*123", "livingroom_123", False),
    ("a*b?c*x", "abxbbxdbxebxczzx", True),
    ("a*b?c*x", "abxbbxdbxebxczzy", False),
    ("ab[b-d]", "abc", True),
    ("ab[e-g]", "abc", False),
    ("ab[^c]", "abc", False),
    ("ab[^e-g]", "abc", True),
    ("a\\*b", "a*b", True),
    ("a\\*b", "axb", False),
    ("a?b", "a☺b", True),
    ("a???b", "a☺b", False),
    ("[a-\u03b6]*", "\u03b1", True),  # a range of Greek letters
    ("[\\]a]", "]", True),
    ("[x\\-]", "-", True),
    ("[x\\-]", "z", False),
    ("*x", "xxx", True),
    ("a*b", "a/b", True),  # Gatus removes `/` before matching
    ("a/b", "ab", True),
    ("[z-a]", "m", False),
]


@pytest.mark.parametrize(("glob", "value", "matches"), GLOBS)
def test_pat_follows_go_globs(glob: str, value: str, matches: bool) -> None:
    result = Condition.parse(f"[BODY] == pat({glob})").evaluate(obs(body=value))
    assert result.ok is matches


# (condition, fragments the reason must contain: what is wrong and how to fix it)
SYNTAX_ERRORS = [
    ("[STATUS]==200", ["space on each side", "`[STATUS] == 200`"]),
    ("[STATUS]<300", ["`[STATUS] < 300`"]),
    ("[STATUS] ==200", ["`[STATUS] == 200`"]),
    ("len([BODY].items)>=1", ["`len([BODY].items) >= 1`"]),
    ("[STATUS] ? 200", ["unknown operator `?`", "==, !=, <, <=, >, >="]),
    ("[STATUS] = 200", ["unknown operator `=`", "`[STATUS] == 200`"]),
    ("[STATUS] => 200", ["`[STATUS] >= 200`"]),
    ("[STATUS] =< 200", ["`[STATUS] <= 200`"]),
    ("[STATUS] <> 200", ["`[STATUS] != 200`"]),
    ("[BODY].name =~ jo.*", ["unknown operator `=~`", "pat()"]),
    ("[STATUS] = = 201", ["unknown operator `=`", "`==`"]),
    ("[STATUS]", ["alone is not a condition", "`[STATUS] == 200`"]),
    ("[CONNECTED]", ["`[CONNECTED] == true`"]),
    ("[CERTIFICATE_EXPIRATION]", ["`[CERTIFICATE_EXPIRATION] > 48h`"]),
    ("has([BODY].errors)", ["`has([BODY].errors) == true`"]),
    ("len([BODY].items)", ["`len([BODY].items) > 0`"]),
    ("[STATUS] 200", ["no operator", "`[STATUS] == 200`"]),
    ("hello", ["no operator", "`[STATUS] == 200`"]),
    ("", ["empty", "`[STATUS] == 200`"]),
    ("   ", ["empty", "`[STATUS] == 200`"]),
    ("[STATUS] ==", ["nothing on the right of `==`", "`[STATUS] == 200`"]),
    ("[RESPONSE_TIME] <", ["nothing on the right of `<`", "`[RESPONSE_TIME] < 500`"]),
    ("== 200", ["nothing on the left of `==`", "`[STATUS] == 200`"]),
    ("==", ["alone is not a condition", "`[STATUS] == 200`"]),
    ("[STATUS] == 200 == 200", ["more than one operator", "split it"]),
    ("[STATUS] > 200 < 300", ["more than one operator (`>` and `<`)", "split it"]),
    ("[STATSU] == 200", ["unknown placeholder `[STATSU]`", "did you mean `[STATUS]`?"]),
    ("[RESPONSE_TIMES] < 500", ["did you mean `[RESPONSE_TIME]`?"]),
    ("[BOYD].name == john", ["did you mean `[BODY]`?"]),
    ("[HEADER].Server == nginx", ["did you mean `[HEADERS]`?"]),
    ("[FOO] == 1", ["unknown placeholder `[FOO]`", "[STATUS], [RESPONSE_TIME], [BODY]"]),
    ("[STATSU]", ["did you mean `[STATUS]`?"]),
    ("[DOMAIN_EXPIRATION] > 720h", ["does not support"]),
    ("len([BODY].users == 100", ["`(` at column 4 is never closed", "add `)`"]),
    ("[BODY].items[0 == 1", ["is never closed", "add `]`"]),
    ("[STATUS]) == 200", ["`)` at column 9 has no matching `(`"]),
    ("len([BODY].items)) > 0", ["no matching `(`"]),
    ("len([BODY].items) == pat(a[)", ["closes `[`", "close it with `]`"]),
    ("lenght([BODY].items) > 0", ["unknown function `lenght()`", "did you mean `len()`?"]),
    ("LEN([BODY].items) > 0", ["did you mean `len()`?"]),
    ("count([BODY].items) > 0", ["unknown function `count()`", "len(), has(), pat() and any()"]),
    ("len(200) == 3", ["`len()` takes a placeholder", "`len([BODY].items)`"]),
    ("has() == true", ["`has()` takes a placeholder"]),
    ("STATUS == 200", ["neither side is a placeholder", "did you mean `[STATUS]`?"]),
    ("BODY.name == john", ["did you mean `[BODY].name`?"]),
    ("1 == 2", ["neither side is a placeholder", "`[STATUS]`"]),
    ("john == pat(jo*)", ["neither side is a placeholder"]),
    (
        "[RESPONSE_TIME] < potato",
        ["`potato` is not a number or a duration", "`[RESPONSE_TIME] < 500`"],
    ),
    (
        "[CERTIFICATE_EXPIRATION] > 48 hours",
        ["`48 hours` is not a number", "`[CERTIFICATE_EXPIRATION] > 48h`"],
    ),
    ("[STATUS] > pat(2*)", ["`pat()` only works with `==` and `!=`", "`[STATUS] == pat(...)`"]),
    ("[STATUS] <= any(200, 201)", ["`any()` only works with `==` and `!=`"]),
    ("[BODY].name == pat([-x])", ["bad pattern", "Go globs"]),
    ("[BODY].name == pat([x-])", ["bad pattern"]),
    ("[BODY].name == pat([a-b-c])", ["bad pattern"]),
    ("[BODY] == pat([BODY].name)", ["literal glob", "`[BODY].name == pat(...)`"]),
    ("[CONNECTED] == True", ["never `True`", "`[CONNECTED] == true`"]),
    ("has([BODY].x) == yes", ["never `yes`", "`has([BODY].x) == true`"]),
    ("has([BODY].x) > 0", ["true or false", "`has([BODY].x) == true`"]),
    ("[CONNECTED] < 1", ["`[CONNECTED] == true`"]),
    ("[BODY].items[*].id == 1", ["`[*]` wildcard", "`[0]`"]),
    ("[BODY].items[x] == 1", ["`[x]`", "not an index", "`[0]`"]),
    ("[BODY].items[-1] == 1", ["not an index", "`[0]`"]),
    ("[BODY]..a == 1", ["empty key", "`[BODY].data.id`"]),
    ("[BODY]. == 1", ["empty key"]),
    ("[BODY]x == 1", ["unexpected `x`", "`[BODY].items[0].id`"]),
    ("[HEADERS] == 1", ["needs a header name", "`[HEADERS].Content-Type`"]),
    ("[HEADERS].Bad Name == 1", ["needs a header name"]),
    ("[STATUS].code == 200", ["only [BODY] and [HEADERS] take a path"]),
]


@pytest.mark.parametrize(("text", "fragments"), SYNTAX_ERRORS)
def test_syntax_errors_explain_the_fix(text: str, fragments: list[str]) -> None:
    with pytest.raises(ConditionSyntaxError) as caught:
        Condition.parse(text)
    error = caught.value
    assert error.condition == text
    assert "\n" not in error.reason
    for fragment in fragments:
        assert fragment in error.reason


def test_syntax_error_is_a_value_error_naming_the_condition() -> None:
    with pytest.raises(ValueError, match=r"^invalid condition '\[STATUS\]==200': put a space"):
        parse_condition("[STATUS]==200")


@pytest.mark.parametrize(
    ("expression", "value"),
    [
        ("[STATUS]", "200"),
        ("[RESPONSE_TIME]", "0"),
        ("[CONNECTED]", "false"),
        ("[CERTIFICATE_EXPIRATION]", "0"),
        ("[IP]", ""),
        ("[BODY].data.name", "john"),
        ("  [BODY].data.id  ", "1"),
        ("[BODY].data.price", "1.50"),
        ("[BODY].data.nothing", "null"),
        ("[BODY].data.meta", '{"a":1,"b":2}'),
        ("[BODY].users[1]", '{"id":2,"name":"bob"}'),
        ("[BODY].data.missing", None),
        ("[BODY][0]", None),
        ("len([BODY].items)", "3"),
        ("len([BODY].data.missing)", None),
        ("has([BODY].data.missing)", "false"),
        ("has([BODY].data.name)", "true"),
    ],
)
def test_resolve(expression: str, value: str | None) -> None:
    assert resolve(expression, USER) == value


def test_resolve_headers_and_whole_body() -> None:
    assert resolve("[HEADERS].x-request-id", HEADERS) == "abcd"
    assert resolve("[HEADERS].X-Missing", HEADERS) is None
    assert resolve("[BODY]", TEXT) == "hello world"
    assert resolve("[BODY].anything", TEXT) is None


@pytest.mark.parametrize(
    "expression", ["pat(a*)", "any(1, 2)", "hello", "[STATSU]", "[STATUS] == 200"]
)
def test_resolve_refuses_what_is_not_a_placeholder(expression: str) -> None:
    with pytest.raises(ConditionSyntaxError):
        resolve(expression, USER)


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("[BODY].token", True),
        ("[BODY]", True),
        ("[BODY][0].id", True),
        ("[HEADERS].Set-Cookie", True),
        ("[status]", True),
        ("len([BODY].items)", True),
        ("has([BODY].token)", True),
        ("[BODY].items[*]", False),
        ("[BODY]..token", False),
        ("[TOKEN]", False),
        ("[HEADERS]", False),
        ("token", False),
        ("pat(a*)", False),
        ("[STATUS] == 200", False),
        ("", False),
    ],
)
def test_is_placeholder(expression: str, expected: bool) -> None:
    assert is_placeholder(expression) is expected


def test_body_is_parsed_once_per_observation(monkeypatch: pytest.MonkeyPatch) -> None:
    calls: list[bytes] = []
    real = conditions._parse_body

    def counting(raw: bytes) -> Any:
        calls.append(raw)
        return real(raw)

    monkeypatch.setattr(conditions, "_parse_body", counting)
    texts = [
        "[BODY].data.id == 1",
        "len([BODY].items) == 3",
        "has([BODY].x) == false",
        "[BODY] == x",
    ]
    checks = [Condition.parse(text) for text in texts]
    first = obs(body={"data": {"id": 1}, "items": [1, 2, 3]})
    assert [check.evaluate(first).ok for check in checks] == [True, True, True, False]
    assert resolve("[BODY].data.id", first) == "1"
    assert len(calls) == 1
    second = obs(body={"data": {"id": 2}})
    assert [check.evaluate(second).ok for check in checks] == [False, False, True, False]
    assert len(calls) == 2


def test_status_conditions_do_not_decode_the_body(monkeypatch: pytest.MonkeyPatch) -> None:
    def fail(raw: bytes) -> Any:
        raise AssertionError("the body was parsed for a [STATUS] condition")

    monkeypatch.setattr(conditions, "_parse_body", fail)
    assert Condition.parse("[STATUS] == 200").evaluate(obs(status=200, body=b"{}")).ok


def test_condition_is_immutable_and_compares_by_text() -> None:
    condition = parse_condition("[STATUS] == 200")
    assert condition == Condition.parse("[STATUS] == 200")
    assert condition != Condition.parse("[STATUS] == 201")
    assert hash(condition) == hash(Condition("[STATUS] == 200"))
    assert condition.text == "[STATUS] == 200"
    with pytest.raises(dataclasses.FrozenInstanceError):
        condition.text = "[STATUS] == 500"  # type: ignore[misc]


def test_result_keeps_the_condition_as_written() -> None:
    text = "  [STATUS]  ==  200 "
    result = Condition.parse(text).evaluate(obs(status=200))
    assert result.condition == text
    assert result.resolved == "[STATUS] (200) == 200"


def test_invalid_marker() -> None:
    assert INVALID == "(INVALID)"
    result = Condition.parse("[BODY].a == 1").evaluate(obs(body=b"{}"))
    assert result.resolved.endswith(f"{INVALID} == 1")


# --- redaction of displayed values ------------------------------------------------------------

TOKEN = "eyJhbGciOiJIUzI1NiJ9.SECRETSECRETSECRET1"


def redact_token(text: str) -> str:
    return text.replace(TOKEN, "[REDACTED]")


def test_redact_sees_the_whole_value_before_pat_truncation() -> None:
    assert len(TOKEN) == 40
    observation = obs(body={"token": TOKEN})

    result = Condition.parse("[BODY].token == pat(x*)").evaluate(observation, redact=redact_token)

    assert result == ConditionResult(
        condition="[BODY].token == pat(x*)",
        ok=False,
        resolved="[BODY].token ([REDACTED]) == pat(x*)",
    )
    assert TOKEN[:8] not in result.resolved


def test_redact_leaves_the_comparison_to_the_real_values() -> None:
    observation = obs(body={"token": TOKEN, "copy": TOKEN})

    matched = Condition.parse("[BODY].token == pat(eyJ*)").evaluate(
        observation, redact=redact_token
    )
    same = Condition.parse("[BODY].token == [BODY].copy").evaluate(observation, redact=redact_token)
    length = Condition.parse("len([BODY].token) == 40").evaluate(observation, redact=redact_token)

    assert matched.ok and matched.resolved == "[BODY].token ([REDACTED]) == pat(eyJ*)"
    assert same.ok and same.resolved == "[BODY].token ([REDACTED]) == [BODY].copy ([REDACTED])"
    assert length.ok and length.resolved == "len([BODY].token) (40) == 40"


def test_redact_gets_resolved_values_only_and_whole() -> None:
    seen: list[str] = []

    def recording(text: str) -> str:
        seen.append(text)
        return text

    body = {"token": TOKEN, "long": "x" * 100}
    for text in ("[BODY].token == pat(x*)", "[BODY].long == pat(x*)", "[BODY].missing == 1"):
        Condition.parse(text).evaluate(obs(body=body), redact=recording)

    assert seen == [TOKEN, "x" * 100], "INVALID sides and literals are not passed"


def test_redact_keeps_certificate_expiration_as_a_duration() -> None:
    observation = obs(certificate_expiration_ms=336 * HOUR_MS)
    condition = Condition.parse("[CERTIFICATE_EXPIRATION] > 48h")

    kept = condition.evaluate(observation, redact=lambda text: text)
    hidden = condition.evaluate(observation, redact=lambda text: "[REDACTED]")

    assert kept.resolved == "[CERTIFICATE_EXPIRATION] (336h) > 48h"
    assert hidden.resolved == "[CERTIFICATE_EXPIRATION] ([REDACTED]) > 48h"
    assert kept.ok and hidden.ok


def test_without_redact_a_pat_side_is_still_cut() -> None:
    result = Condition.parse("[BODY].token == pat(x*)").evaluate(obs(body={"token": TOKEN}))
    assert result.resolved == f"[BODY].token ({TOKEN[:25]}...(truncated)) == pat(x*)"
