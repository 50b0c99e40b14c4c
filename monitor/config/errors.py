"""Config errors as engineers read them: `file:line:column: field.path: message`."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from monitor.config.yaml_source import Location, PathKey


def format_path(path: PathKey) -> str:
    """`("probes", 2, "steps", 0, "url")` -> `probes[2].steps[0].url`."""
    text = ""
    for part in path:
        if isinstance(part, int):
            text += f"[{part}]"
        else:
            text += f".{part}" if text else str(part)
    return text


@dataclass(frozen=True)
class ConfigProblem:
    location: Location
    path: str
    message: str

    def __str__(self) -> str:
        return (
            f"{self.location}: {self.path}: {self.message}"
            if self.path
            else f"{self.location}: {self.message}"
        )


class ConfigError(Exception):
    """Every problem found in a config, not only the first, in file and line order."""

    def __init__(self, problems: Sequence[ConfigProblem]) -> None:
        ordered = sorted(
            problems, key=lambda p: (p.location.file, p.location.line, p.location.column)
        )
        self.problems: tuple[ConfigProblem, ...] = tuple(ordered)
        count = len(self.problems)
        super().__init__(f"{count} config error{'s' if count != 1 else ''}")

    def __str__(self) -> str:
        return "\n".join(str(problem) for problem in self.problems)
