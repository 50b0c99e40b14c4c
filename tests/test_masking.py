"""Phone numbers are masked except their last 4 digits; times, dates and ids are left alone."""

from __future__ import annotations

import pytest

from monitor.masking import mask_phone, mask_phones


@pytest.mark.parametrize(
    ("number", "masked"),
    [
        ("+4915110000001", "+*********0001"),
        ("+14155550100", "+*******0100"),
        ("+49 151 1000-0001", "+** *** ****-0001"),
        ("0001", "0001"),  # nothing left to hide
        ("", ""),
    ],
)
def test_mask_phone_keeps_the_plus_and_the_last_4_digits(number: str, masked: str) -> None:
    assert mask_phone(number) == masked


@pytest.mark.parametrize(
    ("text", "masked"),
    [
        ("+4915110000001", "+*********0001"),
        ("sent to +4915110000001.", "sent to +*********0001."),
        ("to +4915110000001: queue full", "to +*********0001: queue full"),
        ("call +49 151 1000-0001 now", "call +** *** ****-0001 now"),
        ("+1 (555) 123-4567", "+* (***) ***-4567"),
        ("+49 (0)151 10000001", "+** (*)*** ****0001"),
        ("tel:+4915110000001", "tel:+*********0001"),
        ("To=%2B4915110000001&Body=hi", "To=%2B*********0001&Body=hi"),
        ('{"to": "+4915110000001"}', '{"to": "+*********0001"}'),
        ("0151 10000001", "**** ****0001"),
        ("(030) 1234-5678", "(***) ****-5678"),
        ("004915110000001", "***********0001"),
        ("555-123-4567", "***-***-4567"),
        ("555 123 4567", "*** *** 4567"),
        ("+4915110000001,+4915110000002", "+*********0001,+*********0002"),
        # The number ends where its own digits end; what follows stays readable.
        ("+4915110000001 3 times", "+*********0001 3 times"),
        (
            "The 'To' number +4915110000001 is not valid",
            "The 'To' number +*********0001 is not valid",
        ),
    ],
)
def test_phone_numbers_in_text_are_masked(text: str, masked: str) -> None:
    assert mask_phones(text) == masked


@pytest.mark.parametrize(
    "text",
    [
        "2026-11-28T10:42:18Z",
        "opened 2026-11-28 10:42:18 (UTC)",
        "28-11-2026",
        "[MON-12] PARTIAL OUTAGE login: 35% of 20 runs failed in 5m (HTTP 503). Reply ACK 12",
        "35% of 20 runs",
        "HTTP 503",
        "status 503 500 502 504",
        "response body exceeds 10485760 bytes",
        "epoch 1764326538",
        "page #12345678",
        "peer 192.168.100.200:8443",
        "message SM0a1234567890abcdef1234567890abcd",
        "uuid 123e4567-e89b-12d3-a456-426614174000",
        "version 1.2.12345678",
        "+20% in 5m",
        "p95 1s200ms over 20 runs in 5m",
    ],
)
def test_times_dates_ids_and_figures_are_left_alone(text: str) -> None:
    assert mask_phones(text) == text


def test_only_the_phone_number_in_a_mixed_line_changes() -> None:
    line = "2026-11-28T10:42:18Z page 7 to alice (+4915110000001) for MON-12 failed: HTTP 503"
    assert mask_phones(line) == (
        "2026-11-28T10:42:18Z page 7 to alice (+*********0001) for MON-12 failed: HTTP 503"
    )


def test_masking_twice_changes_nothing_more() -> None:
    once = mask_phones("call +4915110000001 or 0151 10000001")
    assert mask_phones(once) == once
