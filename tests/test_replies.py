"""The SMS reply grammar: what a half-asleep engineer types and what the monitor understands."""

from __future__ import annotations

import pytest

from monitor.escalation.replies import Command, Reply, parse_reply


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("ACK", Reply(Command.ACK)),
        ("ack", Reply(Command.ACK)),
        ("  Ack.  ", Reply(Command.ACK)),
        ("A", Reply(Command.ACK)),
        ("a", Reply(Command.ACK)),
        ("ACK 12", Reply(Command.ACK, 12)),
        ("ack12", Reply(Command.ACK, 12)),
        ("ACK   12", Reply(Command.ACK, 12)),
        ("ack #12", Reply(Command.ACK, 12)),
        ("ACK MON-12", Reply(Command.ACK, 12)),
        ("ack: 12", Reply(Command.ACK, 12)),
        ("12A", Reply(Command.ACK, 12)),
        ("12 a", Reply(Command.ACK, 12)),
        ("12ack", Reply(Command.ACK, 12)),
        ("acknowledge 3", Reply(Command.ACK, 3)),
        ("RESOLVE 12", Reply(Command.RESOLVE, 12)),
        ("resolve", Reply(Command.RESOLVE)),
        ("R 12", Reply(Command.RESOLVE, 12)),
        ("12R", Reply(Command.RESOLVE, 12)),
        ("12 r", Reply(Command.RESOLVE, 12)),
        ("ESC 4", Reply(Command.ESCALATE, 4)),
        ("4e", Reply(Command.ESCALATE, 4)),
        ("escalate", Reply(Command.ESCALATE)),
        ("HELP", Reply(Command.HELP)),
        ("help", Reply(Command.HELP)),
        ("?", Reply(Command.HELP)),
        ("STOP", Reply(Command.STOP)),
        ("stop", Reply(Command.STOP)),
        ("Unsubscribe", Reply(Command.STOP)),
        ("START", Reply(Command.START)),
        ("unstop", Reply(Command.START)),
    ],
)
def test_understood(body: str, expected: Reply) -> None:
    assert parse_reply(body) == expected


@pytest.mark.parametrize(
    "body",
    ["", "hello", "on it", "ACK twelve", "ACK 12 13", "12", "ACKK", "12X", "stop it", "A 1 2"],
)
def test_anything_else_is_unknown(body: str) -> None:
    assert parse_reply(body) == Reply(Command.UNKNOWN)
