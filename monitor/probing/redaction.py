"""Keep secrets out of everything a probe run prints or stores.

A secret is any value taken from the environment (shown as `${NAME}`), a credential the run sent
(Authorization, Cookie and API-key headers, password fields) or a credential it extracted (tokens,
session cookies); those show as `[REDACTED]`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from typing import Any

REDACTED = "[REDACTED]"
# Shorter values would mangle ordinary text (`80`, `true`) more than they protect.
MIN_SECRET_LENGTH = 4
_SECRET_NAME = re.compile(
    r"pass(word|wd)?|secret|token|auth|session|cookie|api[-_]?key|credential|jwt|bearer|signature",
    re.IGNORECASE,
)


def looks_secret(name: str) -> bool:
    """Whether a header, field or variable name suggests its value is a credential."""
    return bool(_SECRET_NAME.search(name))


class Redactor:
    def __init__(self, env_values: Mapping[str, str] | None = None) -> None:
        self._replacements: dict[str, str] = {}
        for name, value in (env_values or {}).items():
            self._add(value, f"${{{name}}}")

    def _add(self, value: str, replacement: str) -> None:
        if len(value) < MIN_SECRET_LENGTH:
            return
        # An API that echoes the secret back inside JSON shows it escaped (`pa\"ss`, `w\u00f6rd`),
        # and an echoed request body inside a JSON answer shows it escaped twice.
        forms = {value}
        for _ in range(2):
            forms |= {
                json.dumps(f, ensure_ascii=ascii)[1:-1] for f in forms for ascii in (True, False)
            }
        for form in forms:
            self._replacements.setdefault(form, replacement)

    def add_secret(self, value: str) -> None:
        self._add(value, REDACTED)
        # `Bearer abc`: the token alone is the secret, wherever it appears.
        scheme, _, credential = value.partition(" ")
        if credential and scheme.isalpha():
            self._add(credential, REDACTED)

    def add_secrets(self, values: Iterable[str]) -> None:
        for value in values:
            self.add_secret(value)

    def add_credentials_of(self, data: Any, name: str = "") -> None:
        """Add the values of secret-looking keys found anywhere in a JSON-like structure."""
        if isinstance(data, Mapping):
            for key, value in data.items():
                self.add_credentials_of(value, str(key))
        elif isinstance(data, list):
            for item in data:
                self.add_credentials_of(item, name)
        elif isinstance(data, str) and name and looks_secret(name):
            self.add_secret(data)

    def copy(self) -> Redactor:
        twin = Redactor()
        twin._replacements = dict(self._replacements)
        return twin

    def __call__(self, text: str) -> str:
        # Longest first, so a secret containing another one is replaced whole.
        for value in sorted(self._replacements, key=len, reverse=True):
            if value in text:
                text = text.replace(value, self._replacements[value])
        return text
