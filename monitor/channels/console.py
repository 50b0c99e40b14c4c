"""The channel of a monitor with no provider configured: each page is one line on a stream.

A monitor started on a laptop (or in `monitor demo`) shows who would have been paged, and with
what, instead of failing the pages. The line goes to a terminal or a log collector, so phone
numbers in it are masked (the recipient's and any quoted in the text).
"""

from __future__ import annotations

import sys
from typing import TextIO

from monitor.channels.base import Page
from monitor.masking import mask_phone, mask_phones


class ConsoleChannel:
    def __init__(self, *, name: str = "console", stream: TextIO | None = None) -> None:
        self.name = name
        # None: whatever sys.stdout is when a page is printed (a test's captured stdout too).
        self._stream = stream

    async def send(self, page: Page) -> str | None:
        stream = self._stream or sys.stdout
        stream.write(format_page(page) + "\n")
        stream.flush()
        return None  # nothing downstream to give an id


def format_page(page: Page) -> str:
    """`PAGE #7 to Alice Meyer (+*********0001) via sms: [MON-12] PARTIAL OUTAGE login: ...`"""
    what = "RESOLVED" if page.kind == "resolved" else "PAGE"
    reached = mask_phone(page.phone) if page.phone else page.person_id
    # One page, one line: a multi-line text would split it for anyone grepping the output.
    text = " ".join(page.text.split())
    line = f"{what} #{page.id} to {page.person_name} ({reached}) via {page.channel}: {text}"
    return mask_phones(line)
