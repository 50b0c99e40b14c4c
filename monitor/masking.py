"""Phone numbers in logs, errors and console output are masked except their last 4 digits.

The last 4 digits are enough to tell Alice's phone from Bob's when reading a log; the rest would
let anyone who reads the log call them.

`mask_phones` finds numbers in free text. What counts as a phone number (at least 8 digits):
- a `+` (or a URL-encoded `%2B`) and digits, maybe grouped by spaces, dashes or parentheses:
  `+4915110000001`, `+49 151 1000-0001`, `+1 (555) 123-4567`, `tel:+4915110000001`;
- a national number starting with `0` or an area code in parentheses: `0151 10000001`,
  `(030) 1234-5678`, `004915110000001`;
- digits grouped by spaces or dashes with at least one group of 4 or more: `555-123-4567`.

What does not, so that logs stay readable: dates and times (`2026-11-28T10:42:18Z`,
`2026-11-28 10:42`), ids inside words or after `#`, `-`, `.`, `/` or `:` (`MON-12`, `SM0a12...`,
versions, IP addresses, paths), a bare run of digits not starting with `0` (sizes, counts, epoch
timestamps: `10485760 bytes`), and lists of short numbers (`503 500 502 504`). Numbers in this
project's own data are E.164 (`+...`), so the heuristics only matter for text written by people.
"""

from __future__ import annotations

import re

KEEP_DIGITS = 4
MIN_PHONE_DIGITS = 8
# E.164 allows 15 digits; a national number may add a trunk or international prefix (`00`).
MAX_PHONE_DIGITS = 17

_GROUP = r"(?:\(\d+\)|\d+)"
# Atomic: a date such as `2026-11-28T10` must not match by backtracking to a shorter prefix.
_NUMBER = rf"(?>{_GROUP}(?:[ \-]?{_GROUP})*)"
_CANDIDATE = re.compile(
    rf"(?<![\w+])(?P<plus>\+|%2[Bb])(?P<international>{_NUMBER})"
    rf"|(?<![\w+.\-:/#@%,])(?P<national>{_NUMBER})(?!\w|[:.,]\d)"
)
_DATE = re.compile(r"(?<!\d)(?:\d{4}-\d{1,2}-\d{1,2}|\d{1,2}-\d{1,2}-\d{4})(?!\d)")
_DIGIT_RUN = re.compile(r"\d+")


def mask_phone(number: str) -> str:
    """`+4915110000001` -> `+*********0001`: every digit but the last 4 becomes `*`; the `+` and
    any separators stay, so the shape of the number is still recognisable."""
    total = sum(char.isdigit() for char in number)
    to_mask = total - KEEP_DIGITS
    masked: list[str] = []
    for char in number:
        if char.isdigit() and to_mask > 0:
            masked.append("*")
            to_mask -= 1
        else:
            masked.append(char)
    return "".join(masked)


def mask_phones(text: str) -> str:
    """`text` with every phone-number-looking sequence masked (see the module docstring)."""
    return _CANDIDATE.sub(_mask_match, text)


def _mask_match(match: re.Match[str]) -> str:
    if match["plus"] is not None:
        number = match["international"]
        if _digits(number) < MIN_PHONE_DIGITS:
            return match[0]  # `+20%`, `+3 retries`
        head, rest = _split_whole_first_group(number)
        # No upper bound on the digits: after a `+`, masking a digit too many is the safe error.
        return match["plus"] + mask_phone(head) + mask_phones(rest)
    number = match["national"]
    head, rest = _split_whole_first_group(number)
    if rest and _digits(head) >= MIN_PHONE_DIGITS:
        # `015110000001 3 times`: the first group is a whole number; the rest is other text.
        return _mask_national(head) + mask_phones(rest)
    return _mask_national(number)


def _split_whole_first_group(number: str) -> tuple[str, str]:
    """A first group of 8 or more digits is a complete number by itself: `+4915110000001 3`
    is a number and a 3, not a 14-digit number."""
    first = _DIGIT_RUN.search(number)
    if first is None or len(first.group()) < MIN_PHONE_DIGITS:
        return number, ""
    return number[: first.end()], number[first.end() :]


def _mask_national(number: str) -> str:
    return mask_phone(number) if _looks_national(number) else number


def _looks_national(number: str) -> bool:
    digits = _digits(number)
    if not MIN_PHONE_DIGITS <= digits <= MAX_PHONE_DIGITS or _DATE.search(number):
        return False
    if number[0] in "0(":
        return True
    # Starting with 1-9: a bare run is a count, a size or a timestamp; grouped digits are a
    # phone number only with a group as long as a subscriber number's (`555 123 4567`), not a
    # list of status codes (`503 500 502 504`).
    groups = _DIGIT_RUN.findall(number)
    return len(groups) > 1 and max(len(group) for group in groups) >= 4


def _digits(text: str) -> int:
    return sum(char.isdigit() for char in text)
