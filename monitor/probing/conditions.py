"""Gatus-compatible conditions: `[STATUS] == 200`, `len([BODY].items) > 0`, `[RESPONSE_TIME] < 1s`.

A condition is `LEFT OPERATOR RIGHT`, with exactly one operator (`==`, `!=`, `<=`, `>=`, `<`,
`>`) and a space on each side of it. Conditions are parsed once, at config load, so a typo fails
`monitor validate` instead of paging someone at night; `Condition.evaluate` then checks one
`Observation` and returns a `ConditionResult` whose `resolved` text follows Gatus's display:
`[STATUS] (503) == 200`, `[BODY].data.name (INVALID) == john`.

Sides
-----
Placeholders (names are case-insensitive, paths are not):
    [STATUS] [RESPONSE_TIME] (ms) [CONNECTED] (true/false) [IP] [CERTIFICATE_EXPIRATION] (ms left,
    so `> 48h` works; 0 without TLS) [BODY] (the body, UTF-8 with replacement, whitespace-trimmed)
    [BODY].a.b[0].c and [BODY][0].x (JSON path: `.key` and `[index]`), and our extension
    [HEADERS].Name (a response header, name case-insensitive; a missing header is INVALID).
JSON values resolve to text: strings unquoted, numbers exactly as written in the body, `true`,
`false`, `null`, objects and arrays as compact JSON (object keys sorted, as Go's json.Marshal
does). A path that does not exist, or a body that is not JSON, resolves to INVALID.
Functions: `len(placeholder)` (characters of a string, elements of an array, keys of an object;
on `[BODY]` itself too), `has(placeholder)` (`true` when the path exists and is not null, as in
Gatus), `pat(glob)` (Go's filepath.Match once every `/` is removed from both sides, as Gatus
does, so `*` spans slashes: `*` any run, `?` one character, `[a-z]`, `[^a-z]`, a backslash
escapes) and `any(a, b, c)` (equal to one of the comma-separated, trimmed options). pat() and
any() hold literal text and work with `==` and `!=` only.
Anything else is a literal, compared as written (no quotes needed, none are stripped).

Comparison
----------
`==`/`!=`: pat()/any() first; then, if both sides are integers (decimal, `0x1F`, `0o17`,
`0b101`, with `_` separators, as Go's strconv.ParseInt base 0), as integers; else, if both are
numbers (an integer as above or a decimal float: `2.0`, `1e3`, `.5`), by exact value, so
`2.0 == 2`, `1e3 == 1000` and `1.50 == 1.5` hold; else as strings. This holds for JSON strings
too: `"1.10"` equals `1.1`; to compare text exactly, use pat() without wildcards: `pat(1.10)`.
`< <= > >=`: each side is a Go duration (`48h`, `1h30m`, `500ms`, `1.5h`) in milliseconds, else
an integer as above, else a decimal float (`1.5`, `2e3`).

Deliberate deviations from Gatus (a pager must not pass on nonsense, nor page on it)
-------------------------------------------------------------------------------------
1. Floats are compared as floats; Gatus truncates them to integers (`0.5 > 0` is false there).
   `==`/`!=` compare numbers by exact decimal value; Gatus compares text, after turning JSON
   numbers into float64 (so there `0.1 == 0.10000000000000001` holds for a JSON number and
   the literal `1e3` equals no JSON number, and the strings `"2.0"` and `2` differ).
2. A side that is INVALID, or not a number/duration, makes `< <= > >=` FAIL; Gatus reads it as
   0, so `[BODY].missing < 5` passes there.
3. An INVALID side also fails `==`, `!=`, pat() and any(); Gatus compares the text
   `[BODY].x (INVALID)`, so `[BODY].missing != 5` and `[BODY].missing == pat(*)` pass there.
   Test absence with `has([BODY].x) == false`.
4. A leading zero does not mean octal: `010` is ten (Go's ParseInt base 0 reads 8). APIs
   zero-pad decimal codes (`007`) far more often than they speak octal; write `0o10` for octal.
5. Load-time errors where Gatus silently evaluates to false or 0 forever: unknown placeholders
   (Gatus compares `[STATSU]` as literal text) and functions, unbalanced brackets, a literal
   that is not a number or duration beside `< <= > >=`, a condition without any placeholder
   (`STATUS == 200`), pat()/any() beside `< <= > >=`, a malformed pat() glob,
   and a [CONNECTED] or has() side compared with anything but `true`/`false`.
   Gatus's [DNS_RCODE], [DOMAIN_EXPIRATION], [CONTEXT] and the `[*]` wildcard are not supported.
6. JSON numbers show as written (Gatus goes through float64: `100000000` becomes `1e+08`, `1.0`
   becomes `1`); arrays show as compact JSON like objects (Gatus prints Go's `[a b]`); `null`
   resolves to `null` (Gatus: INVALID; has() is false for null in both); a path that goes on
   past a string, number, boolean or array is INVALID (Gatus sometimes returns that value).
7. len() counts characters, not UTF-8 bytes; on an object it counts keys and on `[BODY]` holding
   an object it counts keys too (Gatus: the length of the minified JSON / of the raw body).
8. Durations keep fractions of a millisecond (`1500us` is 1.5); Gatus truncates to whole ms.
   Integers are not limited to 64 bits; `inf`, `nan` and hex floats are not numbers.
9. Display: `resolved` is computed for passing conditions too and a placeholder side always
   shows its value; literal sides always show as written (Gatus shows conversions such as
   `potato (0)` beside `<`); a placeholder's value shows as resolved (`0x1`, `1.5`), not as
   Gatus's truncated integer; `has()` sides show their value, as in Gatus: `has([BODY].x) (false)`.
   As in Gatus, [CERTIFICATE_EXPIRATION] shows as a duration (`(336h)`) beside `< <= > >=`, and
   a value compared with pat() is cut to 25 characters plus `...(truncated)`. `evaluate`'s
   `redact` sees each resolved value whole, before any of this, so a cut never splits a secret.
10. Brackets and parentheses must balance in the whole condition, literals included, and a
   whitespace-separated token made only of `= ! < > ? ~` counts as an operator.
"""

from __future__ import annotations

import difflib
import json
import math
import operator
import re
import weakref
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from enum import Enum
from fractions import Fraction
from functools import lru_cache
from typing import Literal, TypeAlias

from monitor.probing.observation import Observation

__all__ = [
    "INVALID",
    "Condition",
    "ConditionResult",
    "ConditionSyntaxError",
    "is_placeholder",
    "parse_condition",
    "resolve",
]

INVALID: str = "(INVALID)"
"""Shown after a side whose value could not be resolved, as Gatus does."""


class ConditionSyntaxError(ValueError):
    """A condition that cannot be parsed; `reason` is one line and says how to fix it."""

    def __init__(self, condition: str, reason: str) -> None:
        super().__init__(f"invalid condition {condition!r}: {reason}")
        self.condition = condition
        self.reason = reason

    def __reduce__(self) -> tuple[type[ConditionSyntaxError], tuple[str, str]]:
        # Rebuild from both fields: the default would call __init__ with the message only.
        return (type(self), (self.condition, self.reason))


@dataclass(frozen=True, slots=True)
class ConditionResult:
    """The outcome of one condition; `resolved` shows the values it saw, Gatus-style."""

    condition: str
    ok: bool
    resolved: str


# --------------------------------------------------------------------------------------------
# Vocabulary
# --------------------------------------------------------------------------------------------

_Operator: TypeAlias = Literal["==", "!=", "<=", ">=", "<", ">"]
_OPERATORS: tuple[_Operator, ...] = ("==", "!=", "<=", ">=", "<", ">")
_NUMERIC_OPERATORS: dict[str, Callable[[int | float, int | float], bool]] = {
    "<": operator.lt,
    "<=": operator.le,
    ">": operator.gt,
    ">=": operator.ge,
}
# A whitespace-separated token made only of these is an operator, known or not: this is how
# `[STATUS] ? 200` and `[STATUS] = 200` get a precise message instead of "no operator".
_OPERATOR_LIKE = frozenset("=!<>?~")
_OPERATOR_FIXES = {
    "=": "==",
    "===": "==",
    "=>": ">=",
    "=<": "<=",
    "<>": "!=",
    "!==": "!=",
    "=!": "!=",
}
_GLUED_OPERATOR = re.compile(r"==|!=|<=|>=|<|>|=")

_PLACEHOLDERS = (
    "STATUS",
    "RESPONSE_TIME",
    "BODY",
    "HEADERS",
    "CONNECTED",
    "CERTIFICATE_EXPIRATION",
    "IP",
)
_GATUS_ONLY = ("DNS_RCODE", "DOMAIN_EXPIRATION", "CONTEXT")
_FUNCTIONS = ("len", "has", "pat", "any")
# What a bare placeholder is usually compared with: used to suggest a complete condition.
_EXAMPLES = {
    "STATUS": "== 200",
    "RESPONSE_TIME": "< 500",
    "CONNECTED": "== true",
    "CERTIFICATE_EXPIRATION": "> 48h",
    "IP": "== 127.0.0.1",
}

_PLACEHOLDER_START = re.compile(r"\[([A-Za-z_]+)\]")
_CALL = re.compile(r"([A-Za-z_][A-Za-z0-9_]*)\((.*)\)", re.DOTALL)
_HEADER_NAME = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")

_INTEGER = re.compile(
    r"[+-]?(?:0[xX]_?[0-9a-fA-F]+(?:_[0-9a-fA-F]+)*|0[oO]_?[0-7]+(?:_[0-7]+)*"
    r"|0[bB]_?[01]+(?:_[01]+)*|[0-9]+(?:_[0-9]+)*)"
)
# Written so that a digit run splits one way only: these run on response bodies, and an
# ambiguous `[0-9]+\.?[0-9]*` backtracks quadratically on a long run of digits.
_FLOAT = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_DURATION = re.compile(r"[+-]?(?:(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:ns|us|µs|μs|ms|s|m|h))+")
_DURATION_PART = re.compile(r"([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)")
_NANOSECONDS = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "μs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_MAX_GO_DURATION_NS = 2**63 - 1
# Gatus cuts the value compared with a pattern to this many characters in its display.
_PATTERN_DISPLAY_LIMIT = 25


class _Missing(Enum):
    """A JSON path that does not exist, or a body that is not JSON."""

    MISSING = "missing"


_MISSING = _Missing.MISSING


class _Number(str):
    """A JSON number kept as the text the server wrote, so `1.50` is not shown as `1.5`."""

    __slots__ = ()


_Json: TypeAlias = "bool | str | list[_Json] | dict[str, _Json] | None"


# --------------------------------------------------------------------------------------------
# Parsed form
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Placeholder:
    text: str
    name: str
    path: tuple[str | int, ...] = ()
    header: str = ""


@dataclass(frozen=True, slots=True)
class _Value:
    """A placeholder, bare or inside len()/has(): the sides that resolve against an observation."""

    text: str
    placeholder: _Placeholder
    function: Literal["", "len", "has"] = ""


@dataclass(frozen=True, slots=True)
class _Literal:
    text: str
    number: int | float | None


@dataclass(frozen=True, slots=True)
class _Glob:
    """Go's filepath.Match, split into chunks like Go does: (preceded by `*`, fixed-width regex)."""

    chunks: tuple[tuple[bool, re.Pattern[str] | None], ...]

    def matches(self, value: str) -> bool:
        # Gatus removes every `/` from the value (and the pattern) so that `*` spans them:
        # `[BODY] == pat(*<div>ok</div>*)` must match an HTML page full of slashes.
        name = value.replace("/", "")
        position = 0
        for index, (star, chunk) in enumerate(self.chunks):
            last = index == len(self.chunks) - 1
            if chunk is None:  # a trailing `*` takes the rest (Go: unless it holds a `/`)
                return "/" not in name[position:]
            found = _match_chunk(chunk, name, position, star, last)
            if found is None:
                return False
            position = found
        return position == len(name)


def _match_chunk(
    chunk: re.Pattern[str], name: str, position: int, star: bool, last: bool
) -> int | None:
    """Where `chunk` ends when matched leftmost at or (after a `*`) past `position`, as Go does."""
    candidates = [position]
    if star:
        # A `*` may skip characters, but never a `/`; leftmost is enough because chunks have a
        # fixed width and the next `*` absorbs whatever this one left.
        end = name.find("/", position)
        candidates += range(position + 1, (len(name) if end == -1 else end) + 1)
    for start in candidates:
        match = chunk.match(name, start)
        if match and (not last or match.end() == len(name)):
            return match.end()
    return None


@dataclass(frozen=True, slots=True)
class _Pattern:
    text: str
    glob: _Glob


@dataclass(frozen=True, slots=True)
class _AnyOf:
    text: str
    options: tuple[str, ...]


_Operand: TypeAlias = _Value | _Literal | _Pattern | _AnyOf


# --------------------------------------------------------------------------------------------
# Condition
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Condition:
    """One parsed condition; build it with `Condition.parse` (or `Condition(text)`)."""

    text: str
    _operator: _Operator = field(init=False, repr=False, compare=False)
    _left: _Operand = field(init=False, repr=False, compare=False)
    _right: _Operand = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        operator_, left, right = _parse(self.text)
        object.__setattr__(self, "_operator", operator_)
        object.__setattr__(self, "_left", left)
        object.__setattr__(self, "_right", right)

    @classmethod
    def parse(cls, text: str) -> Condition:
        """Parse `text`; raises ConditionSyntaxError with a reason that says how to fix it."""
        return cls(text)

    def evaluate(
        self, observation: Observation, *, redact: Callable[[str], str] | None = None
    ) -> ConditionResult:
        """Check the condition against what one HTTP step saw.

        `redact`, when given, is applied to each resolved value shown in `resolved`, whole and
        before any display change (a pat() side's cut to 25 characters would otherwise leave
        a prefix of a secret that no later redaction recognises). The comparison itself uses
        the real values; literal sides, written in the config, are shown as written.
        """
        left = _operand_value(self._left, observation)
        right = _operand_value(self._right, observation)
        ok = _compare(self._operator, self._left, left, self._right, right)
        resolved = " ".join(
            (
                _display(self._left, left, self._operator, self._right, redact),
                self._operator,
                _display(self._right, right, self._operator, self._left, redact),
            )
        )
        return ConditionResult(condition=self.text, ok=ok, resolved=resolved)


def parse_condition(text: str) -> Condition:
    """Parse one condition; raises ConditionSyntaxError."""
    return Condition.parse(text)


def resolve(expression: str, observation: Observation) -> str | None:
    """The value of one placeholder expression (`[BODY].token`, `len([BODY].items)`), as text.

    Returns None when the value does not exist (missing path or header, body not JSON), so that
    callers such as `extract` can say so. Raises ConditionSyntaxError when `expression` is not a
    placeholder expression (see `is_placeholder`).
    """
    return _resolve_value(_parse_value_expression(expression.strip()), observation)


def is_placeholder(expression: str) -> bool:
    """Whether `expression` is a placeholder, bare or inside len()/has(), that `resolve` accepts."""
    try:
        _parse_value_expression(expression.strip())
    except ConditionSyntaxError:
        return False
    return True


@lru_cache(maxsize=512)
def _parse_value_expression(expression: str) -> _Value:
    # Cached because `extract` resolves the same few expressions on every run.
    operand = _parse_operand(expression, expression)
    if not isinstance(operand, _Value):
        raise ConditionSyntaxError(
            expression, "expected a placeholder such as [BODY].token or len([BODY].items)"
        )
    return operand


# --------------------------------------------------------------------------------------------
# Parsing
# --------------------------------------------------------------------------------------------


def _parse(text: str) -> tuple[_Operator, _Operand, _Operand]:
    condition = text.strip()
    if not condition:
        raise ConditionSyntaxError(text, "the condition is empty: write e.g. `[STATUS] == 200`")
    _check_brackets(text, condition)
    start, end, operator_ = _find_operator(text, condition)
    left_text, right_text = condition[:start].strip(), condition[end:].strip()
    if not left_text or not right_text:
        raise ConditionSyntaxError(text, _empty_side_reason(text, operator_, left_text, right_text))
    left = _parse_operand(left_text, text)
    right = _parse_operand(right_text, text)
    _check_combination(text, operator_, left, right)
    return operator_, left, right


def _check_brackets(text: str, condition: str) -> None:
    """Reject unbalanced `()`/`[]` up front: a missing `)` would otherwise hide the operator."""
    closing = {")": "(", "]": "["}
    stack: list[tuple[str, int]] = []
    for position, char in _unescaped(condition):
        if char in "([":
            stack.append((char, position))
        elif char in closing:
            if not stack:
                raise ConditionSyntaxError(
                    text,
                    f"`{char}` at column {position + 1} has no matching `{closing[char]}`: "
                    "remove it or add the opening bracket",
                )
            opened, opened_at = stack.pop()
            if opened != closing[char]:
                expected = ")" if opened == "(" else "]"
                raise ConditionSyntaxError(
                    text,
                    f"`{char}` at column {position + 1} closes `{opened}` from column "
                    f"{opened_at + 1}: close it with `{expected}` first",
                )
    if stack:
        opened, opened_at = stack[-1]
        expected = ")" if opened == "(" else "]"
        raise ConditionSyntaxError(
            text,
            f"`{opened}` at column {opened_at + 1} is never closed: add `{expected}`",
        )


def _unescaped(text: str) -> list[tuple[int, str]]:
    """Characters with their positions, minus those escaped by `\\` (as in pat() globs)."""
    result: list[tuple[int, str]] = []
    escaped = False
    for position, char in enumerate(text):
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        else:
            result.append((position, char))
    return result


def _top_level_tokens(condition: str) -> list[tuple[int, int, str]]:
    """Whitespace-separated (start, end, text) tokens; spaces inside `()`/`[]` do not split."""
    tokens: list[tuple[int, int, str]] = []
    depth = 0
    start: int | None = None
    escaped = False
    for position, char in enumerate(condition):
        if char.isspace() and depth == 0 and not escaped:
            if start is not None:
                tokens.append((start, position, condition[start:position]))
                start = None
            continue
        if start is None:
            start = position
        if escaped:
            escaped = False
        elif char == "\\":
            escaped = True
        elif char in "([":
            depth += 1
        elif char in ")]" and depth:
            depth -= 1
    if start is not None:
        tokens.append((start, len(condition), condition[start:]))
    return tokens


def _find_operator(text: str, condition: str) -> tuple[int, int, _Operator]:
    tokens = _top_level_tokens(condition)
    operators = [token for token in tokens if set(token[2]) <= _OPERATOR_LIKE]
    unknown = [token for token in operators if token[2] not in _OPERATORS]
    if unknown:
        raise ConditionSyntaxError(
            text, _unknown_operator_reason(condition, unknown[0], len(operators))
        )
    if len(operators) > 1:
        found = " and ".join(f"`{token[2]}`" for token in operators)
        raise ConditionSyntaxError(
            text,
            f"more than one operator ({found}): a condition compares two sides, "
            "so split it into one condition per comparison",
        )
    if not operators:
        raise ConditionSyntaxError(text, _no_operator_reason(text, condition))
    start, end, found_operator = operators[0]
    return start, end, _as_operator(found_operator)


def _as_operator(text: str) -> _Operator:
    for candidate in _OPERATORS:
        if candidate == text:
            return candidate
    raise AssertionError(f"not an operator: {text}")  # pragma: no cover - guarded by callers


def _unknown_operator_reason(condition: str, token: tuple[int, int, str], count: int) -> str:
    start, end, found = token
    known = "use one of ==, !=, <, <=, >, >="
    fix = _OPERATOR_FIXES.get(found)
    if fix is None:
        hint = " (or pat() to match a glob)" if found in ("=~", "~=", "~") else ""
        return f"unknown operator `{found}`: {known}{hint}, e.g. `[STATUS] == 200`"
    if count == 1:
        return (
            f"unknown operator `{found}`: did you mean `{condition[:start]}{fix}{condition[end:]}`?"
        )
    return f"unknown operator `{found}`: did you mean `{fix}`? ({known})"


def _no_operator_reason(text: str, condition: str) -> str:
    glued = _glued_operator(condition)
    if glued is not None:
        start, end, found = glued
        fixed_operator = "==" if found == "=" else found
        left, right = condition[:start].strip(), condition[end:].strip()
        return f"put a space on each side of the operator: write `{left} {fixed_operator} {right}`"
    tokens = _top_level_tokens(condition)
    if len(tokens) == 1 and _looks_like_operand(condition):
        operand = _parse_operand(condition, text)  # raises for an unknown placeholder first
        return (
            f"`{condition}` alone is not a condition: compare it, "
            f"e.g. `{condition} {_example_comparison(operand)}`"
        )
    if len(tokens) > 1:
        first, rest = tokens[0][2], condition[tokens[1][0] :]
        return (
            f"no operator between `{first}` and `{rest}`: put one of ==, !=, <, <=, >, >= "
            f"between them, e.g. `{first} == {rest}`"
        )
    return (
        "no operator: a condition compares two sides with ==, !=, <, <=, > or >=, "
        "e.g. `[STATUS] == 200`"
    )


def _glued_operator(condition: str) -> tuple[int, int, str] | None:
    """The first operator written without spaces (`[STATUS]==200`), outside brackets."""
    depth = 0
    positions = dict(_unescaped(condition))
    position = 0
    while position < len(condition):
        char = positions.get(position)
        if char in ("(", "["):
            depth += 1
        elif char in (")", "]") and depth:
            depth -= 1
        elif depth == 0 and char is not None:
            match = _GLUED_OPERATOR.match(condition, position)
            if match:
                return match.start(), match.end(), match.group()
        position += 1
    return None


def _looks_like_operand(side: str) -> bool:
    return bool(_PLACEHOLDER_START.match(side) or _CALL.fullmatch(side))


def _example_comparison(operand: _Operand) -> str:
    if isinstance(operand, _Value):
        if operand.function == "has":
            return "== true"
        if operand.function == "len":
            return "> 0"
        return _EXAMPLES.get(operand.placeholder.name, "== expected-value")
    return "== 200"


def _empty_side_reason(text: str, operator_: str, left: str, right: str) -> str:
    if left:
        # Parsing the side first reports a misspelt placeholder before the missing value.
        example = _example_comparison(_parse_operand(left, text)).split(" ", 1)[1]
        return f"nothing on the right of `{operator_}`: write e.g. `{left} {operator_} {example}`"
    if right:
        return f"nothing on the left of `{operator_}`: write e.g. `[STATUS] {operator_} {right}`"
    return f"`{operator_}` alone is not a condition: write e.g. `[STATUS] == 200`"


def _parse_operand(side: str, text: str) -> _Operand:
    call = _CALL.fullmatch(side)
    if call and _closes_at_end(side, call.end(1)):
        return _parse_call(call.group(1), call.group(2).strip(), side, text)
    if _PLACEHOLDER_START.match(side):
        return _Value(text=side, placeholder=_parse_placeholder(side, text))
    return _Literal(text=side, number=_to_number(side))


def _closes_at_end(side: str, open_at: int) -> bool:
    """Whether the `(` at `open_at` is closed by the last character (not `f(a)(b)`)."""
    depth = 0
    for position, char in _unescaped(side):
        if position < open_at:
            continue
        if char == "(":
            depth += 1
        elif char == ")":
            depth -= 1
            if depth == 0:
                return position == len(side) - 1
    return False


def _parse_call(name: str, argument: str, side: str, text: str) -> _Operand:
    if name in ("len", "has"):
        if not _PLACEHOLDER_START.match(argument):
            raise ConditionSyntaxError(
                text, f"`{name}()` takes a placeholder, e.g. `{name}([BODY].items)`"
            )
        placeholder = _parse_placeholder(argument, text)
        return _Value(
            text=side, placeholder=placeholder, function="len" if name == "len" else "has"
        )
    if name == "pat":
        start = _PLACEHOLDER_START.match(argument)
        if start and start.group(1).upper() in _PLACEHOLDERS:
            raise ConditionSyntaxError(
                text,
                f"`pat()` takes a literal glob, not a placeholder: write `{argument} == pat(...)`",
            )
        try:
            glob = _compile_glob(argument)
        except ValueError as error:
            raise ConditionSyntaxError(
                text,
                f"bad pattern in `{side}`: {error}; pat() uses Go globs: * ? [a-z] [^a-z] \\x",
            ) from None
        return _Pattern(text=side, glob=glob)
    if name == "any":
        return _AnyOf(text=side, options=tuple(option.strip() for option in argument.split(",")))
    close = difflib.get_close_matches(name.lower(), _FUNCTIONS, n=1, cutoff=0.5)
    hint = f"did you mean `{close[0]}()`? " if close else ""
    raise ConditionSyntaxError(
        text, f"unknown function `{name}()`: {hint}functions are len(), has(), pat() and any()"
    )


def _parse_placeholder(side: str, text: str) -> _Placeholder:
    start = _PLACEHOLDER_START.match(side)
    if start is None:  # pragma: no cover - callers check first
        raise ConditionSyntaxError(text, f"`{side}` is not a placeholder")
    name = start.group(1).upper()
    rest = side[start.end() :]
    if name not in _PLACEHOLDERS:
        raise ConditionSyntaxError(text, _unknown_placeholder_reason(start.group(0), name))
    if name == "BODY":
        return _Placeholder(text=side, name=name, path=_parse_json_path(rest, side, text))
    if name == "HEADERS":
        header = rest[1:] if rest.startswith(".") else ""
        if not _HEADER_NAME.fullmatch(header):
            raise ConditionSyntaxError(
                text,
                f"`{side}` needs a header name after a dot, e.g. `[HEADERS].Content-Type`",
            )
        return _Placeholder(text=side, name=name, header=header)
    if rest:
        raise ConditionSyntaxError(
            text,
            f"unexpected `{rest}` after `{start.group(0)}`: only [BODY] and [HEADERS] take a path, "
            "e.g. `[BODY].data.id` or `[HEADERS].Content-Type`",
        )
    return _Placeholder(text=side, name=name)


def _unknown_placeholder_reason(written: str, name: str) -> str:
    if name in _GATUS_ONLY:
        return (
            f"`{written}` is a Gatus placeholder this monitor does not support (HTTP probes only)"
        )
    known = ", ".join(f"[{known}]" for known in _PLACEHOLDERS)
    close = difflib.get_close_matches(name, _PLACEHOLDERS, n=1, cutoff=0.6)
    if close:
        return f"unknown placeholder `{written}`: did you mean `[{close[0]}]`?"
    return f"unknown placeholder `{written}`: use one of {known}"


def _parse_json_path(rest: str, side: str, text: str) -> tuple[str | int, ...]:
    """`.a.b[0]` or `[0].x` into ("a", "b", 0) / (0, "x"), the grammar of Gatus's jsonpath."""
    steps: list[str | int] = []
    position = 0
    while position < len(rest):
        char = rest[position]
        if char == ".":
            end = position + 1
            while end < len(rest) and rest[end] not in ".[]":
                end += 1
            key = rest[position + 1 : end]
            if not key:
                raise ConditionSyntaxError(
                    text, f"empty key in `{side}`: write keys between dots, e.g. `[BODY].data.id`"
                )
            steps.append(key)
            position = end
        elif char == "[":
            end = rest.find("]", position)
            index = rest[position + 1 : end] if end != -1 else rest[position + 1 :]
            if index == "*":
                raise ConditionSyntaxError(
                    text,
                    f"the `[*]` wildcard in `{side}` is not supported: use an index such as "
                    "`[0]`, or `len(...)`",
                )
            if end == -1 or not (index.isascii() and index.isdigit()):
                raise ConditionSyntaxError(
                    text, f"`[{index}]` in `{side}` is not an index: use a number, e.g. `[0]`"
                )
            steps.append(int(index))
            position = end + 1
        else:
            raise ConditionSyntaxError(
                text,
                f"unexpected `{rest[position:]}` in `{side}`: continue a [BODY] path with "
                "`.key` or `[index]`, e.g. `[BODY].items[0].id`",
            )
    return tuple(steps)


def _check_combination(text: str, operator_: _Operator, left: _Operand, right: _Operand) -> None:
    """Reject conditions that parse but can only ever give the same answer."""
    sides = (left, right)
    if not any(isinstance(side, _Value) for side in sides):
        raise ConditionSyntaxError(text, _constant_reason(sides))
    # With a placeholder on one side, at most one side can be pat() or any().
    matchers = [side for side in sides if isinstance(side, _Pattern | _AnyOf)]
    numeric = operator_ in _NUMERIC_OPERATORS
    if matchers and numeric:
        name = matchers[0].text.split("(", 1)[0]
        raise ConditionSyntaxError(
            text, f"`{name}()` only works with `==` and `!=`: write e.g. `[STATUS] == {name}(...)`"
        )
    for side, other in ((left, right), (right, left)):
        if isinstance(side, _Value) and _is_boolean(side):
            _check_boolean_comparison(text, operator_, side, other)
        if numeric and isinstance(side, _Literal) and side.number is None:
            raise ConditionSyntaxError(text, _not_a_number_reason(operator_, side, other, left))


def _not_a_number_reason(
    operator_: _Operator, side: _Literal, other: _Operand, left: _Operand
) -> str:
    certificate = isinstance(other, _Value) and other.placeholder.name == "CERTIFICATE_EXPIRATION"
    value = "48h" if certificate else "500"
    example = (
        f"{other.text} {operator_} {value}"
        if side is not left
        else f"{value} {operator_} {other.text}"
    )
    return (
        f"`{side.text}` is not a number or a duration, and `{operator_}` compares numbers: "
        f"write e.g. `{example}` (durations: 500ms, 30s, 1h30m)"
    )


def _is_boolean(value: _Value) -> bool:
    return value.function == "has" or (not value.function and value.placeholder.name == "CONNECTED")


def _check_boolean_comparison(
    text: str, operator_: _Operator, side: _Value, other: _Operand
) -> None:
    if operator_ in _NUMERIC_OPERATORS:
        raise ConditionSyntaxError(
            text,
            f"`{side.text}` is true or false, so `{operator_}` cannot compare it: "
            f"write `{side.text} == true` or `{side.text} == false`",
        )
    if isinstance(other, _Literal) and other.text not in ("true", "false"):
        raise ConditionSyntaxError(
            text,
            f"`{side.text}` is `true` or `false`, never `{other.text}`: "
            f"write `{side.text} {operator_} true` or `... {operator_} false` (lowercase)",
        )


def _constant_reason(sides: tuple[_Operand, _Operand]) -> str:
    for side in sides:
        word = re.match(r"([A-Za-z_]+)(.*)", side.text, re.DOTALL)
        if isinstance(side, _Literal) and word:
            close = difflib.get_close_matches(word.group(1).upper(), _PLACEHOLDERS, n=1, cutoff=0.6)
            if close:
                return (
                    f"neither side is a placeholder, so the result never changes: "
                    f"did you mean `[{close[0]}]{word.group(2)}`?"
                )
    return (
        "neither side is a placeholder, so the result never changes: compare a placeholder "
        "such as `[STATUS]` or `[BODY].status`"
    )


# --------------------------------------------------------------------------------------------
# Go's filepath.Match (Unix), compiled once at parse time
# --------------------------------------------------------------------------------------------


def _compile_glob(pattern: str) -> _Glob:
    """Split a glob into Go's chunks; raises ValueError where Go returns ErrBadPattern."""
    pattern = pattern.replace("/", "")  # as Gatus does, see _Glob.matches
    chunks: list[tuple[bool, re.Pattern[str] | None]] = []
    position = 0
    while position < len(pattern):
        star = False
        while position < len(pattern) and pattern[position] == "*":
            star = True
            position += 1
        if position == len(pattern):
            chunks.append((True, None))
            break
        regex, position = _compile_chunk(pattern, position)
        chunks.append((star, re.compile(regex, re.DOTALL)))
    return _Glob(chunks=tuple(chunks))


def _compile_chunk(pattern: str, position: int) -> tuple[str, int]:
    """A fixed-width regex for the glob up to the next `*` outside a class."""
    parts: list[str] = []
    while position < len(pattern) and pattern[position] != "*":
        char = pattern[position]
        if char == "?":
            parts.append("[^/]")
            position += 1
        elif char == "\\":
            if position + 1 >= len(pattern):
                raise ValueError("a `\\` at the end escapes nothing")
            parts.append(re.escape(pattern[position + 1]))
            position += 2
        elif char == "[":
            regex, position = _compile_class(pattern, position + 1)
            parts.append(regex)
        else:
            parts.append(re.escape(char))
            position += 1
    return "".join(parts), position


def _compile_class(pattern: str, position: int) -> tuple[str, int]:
    negated = position < len(pattern) and pattern[position] == "^"
    if negated:
        position += 1
    ranges: list[str] = []
    count = 0
    while True:
        if position < len(pattern) and pattern[position] == "]" and count:
            position += 1
            break
        low, position = _class_char(pattern, position)
        high = low
        if pattern[position] == "-":
            high, position = _class_char(pattern, position + 1)
        count += 1
        if low <= high:  # Go accepts `[z-a]`, which matches nothing; Python's re would reject it
            ranges.append(re.escape(low) if low == high else f"{re.escape(low)}-{re.escape(high)}")
    if not ranges:
        return ("(?s:.)" if negated else "(?!)"), position
    return f"[{'^' if negated else ''}{''.join(ranges)}]", position


def _class_char(pattern: str, position: int) -> tuple[str, int]:
    """Go's getEsc: one (possibly escaped) character of a class, which must not end the glob."""
    if position >= len(pattern) or pattern[position] in "-]":
        raise ValueError("a character class `[...]` needs characters and a closing `]`")
    if pattern[position] == "\\":
        position += 1
        if position >= len(pattern):
            raise ValueError("a `\\` at the end escapes nothing")
    if position + 1 >= len(pattern):
        raise ValueError("a character class `[...]` is never closed")
    return pattern[position], position + 1


# --------------------------------------------------------------------------------------------
# Numbers
# --------------------------------------------------------------------------------------------


def _to_integer(text: str) -> int | None:
    """Go's strconv.ParseInt(text, 0, 64) syntax, except that a leading 0 is decimal."""
    if not (text.isascii() and _INTEGER.fullmatch(text)):
        return None
    digits = text.lstrip("+-").replace("_", "")
    sign = -1 if text.startswith("-") else 1
    prefix = digits[:2].lower()
    base = {"0x": 16, "0o": 8, "0b": 2}.get(prefix)
    try:
        return sign * (int(digits[2:], base) if base else int(digits, 10))
    except ValueError:  # beyond Python's int/str conversion limit (4300 digits): not a number
        return None


def _to_float(text: str) -> float | None:
    if not (text.isascii() and _FLOAT.fullmatch(text)):
        return None
    number = float(text)
    return number if math.isfinite(number) else None


def _duration_ms(text: str) -> int | float | None:
    """Go's time.ParseDuration, in milliseconds (fractions kept); None if not a duration."""
    if not _DURATION.fullmatch(text):
        return None
    try:
        nanoseconds = sum(
            (
                Fraction(number) * _NANOSECONDS[unit]
                for number, unit in _DURATION_PART.findall(text)
            ),
            Fraction(0),
        )
    except ValueError:  # beyond Python's int/str conversion limit: no sane duration
        return None
    if nanoseconds > _MAX_GO_DURATION_NS:
        return None
    milliseconds = nanoseconds / 1_000_000 * (-1 if text.startswith("-") else 1)
    return int(milliseconds) if milliseconds.denominator == 1 else float(milliseconds)


def _to_number(text: str) -> int | float | None:
    """A side of `< <= > >=`: a duration in ms, else an integer, else a float, else None."""
    duration = _duration_ms(text)
    if duration is not None:
        return duration
    integer = _to_integer(text)
    return integer if integer is not None else _to_float(text)


def _format_duration(milliseconds: int) -> str:
    """Go's Duration.String() truncated to seconds, without trailing zero units, as Gatus shows
    [CERTIFICATE_EXPIRATION]: 336h, 1h30m, 1h0m15s, 20s (Gatus's own trimming turns 20s into 2)."""
    sign = "-" if milliseconds < 0 else ""
    seconds = abs(milliseconds) // 1000
    hours, remainder = divmod(seconds, 3600)
    minutes, seconds = divmod(remainder, 60)
    if hours:
        tail = f"{minutes}m{seconds}s" if seconds else (f"{minutes}m" if minutes else "")
        return f"{sign}{hours}h{tail}"
    if minutes:
        return f"{sign}{minutes}m{seconds}s" if seconds else f"{sign}{minutes}m"
    return f"{sign}{seconds}s" if seconds else "0s"


# --------------------------------------------------------------------------------------------
# Resolving placeholders
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Body:
    text: str
    json: _Json | _Missing


class _BodyCache:
    """Decode and parse each observation's body once, however many conditions look at it.

    Keyed by id() because an Observation holding a dict is not hashable; the weak reference
    both proves the id still belongs to the same object and drops the entry with it.
    """

    def __init__(self) -> None:
        self._entries: dict[int, tuple[weakref.ref[Observation], _Body]] = {}

    def get(self, observation: Observation) -> _Body:
        key = id(observation)
        entry = self._entries.get(key)
        if entry is not None and entry[0]() is observation:
            return entry[1]
        body = _parse_body(observation.body)
        reference = weakref.ref(observation, self._forget(key))
        self._entries[key] = (reference, body)
        return body

    def _forget(self, key: int) -> Callable[[weakref.ref[Observation]], None]:
        def forget(reference: weakref.ref[Observation]) -> None:
            entry = self._entries.get(key)
            if entry is not None and entry[0] is reference:
                del self._entries[key]

        return forget


_BODIES = _BodyCache()


def _reject_constant(name: str) -> None:
    # Python's json accepts NaN and Infinity; Go's (and JSON) does not.
    raise ValueError(f"{name} is not JSON")


def _parse_body(raw: bytes) -> _Body:
    text = raw.decode("utf-8", errors="replace").strip()
    try:
        parsed: _Json = json.loads(
            text, parse_int=_Number, parse_float=_Number, parse_constant=_reject_constant
        )
    except (ValueError, RecursionError):
        return _Body(text=text, json=_MISSING)
    return _Body(text=text, json=parsed)


def _walk(value: _Json | _Missing, path: tuple[str | int, ...]) -> _Json | _Missing:
    for step in path:
        if isinstance(step, int):
            if not isinstance(value, list) or step >= len(value):
                return _MISSING
            value = value[step]
        else:
            if not isinstance(value, dict) or step not in value:
                return _MISSING
            value = value[step]
    return value


def _header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    if value is not None:
        return value
    # Observation asks for a case-insensitive mapping; a plain dict still gets a fair lookup.
    lowered = name.lower()
    return next((found for key, found in headers.items() if key.lower() == lowered), None)


def _lookup(placeholder: _Placeholder, observation: Observation) -> _Json | _Missing:
    match placeholder.name:
        case "STATUS":
            return str(observation.status)
        case "RESPONSE_TIME":
            return str(observation.response_time_ms)
        case "CONNECTED":
            return observation.connected
        case "CERTIFICATE_EXPIRATION":
            return str(observation.certificate_expiration_ms)
        case "IP":
            return observation.ip
        case "HEADERS":
            header = _header(observation.headers, placeholder.header)
            return _MISSING if header is None else header
    body = _BODIES.get(observation)
    if not placeholder.path:
        return body.text
    return _walk(body.json, placeholder.path)


def _resolve_value(value: _Value, observation: Observation) -> str | None:
    placeholder = value.placeholder
    found = _lookup(placeholder, observation)
    if value.function == "has":
        return "true" if _exists(placeholder, found) else "false"
    if value.function == "len":
        length = _length(placeholder, found, observation)
        return None if length is None else str(length)
    return None if found is _MISSING else _as_text(found)


def _exists(placeholder: _Placeholder, found: _Json | _Missing) -> bool:
    if found is _MISSING or found is None:  # Gatus: has() is false for a JSON null
        return False
    if placeholder.name == "HEADERS" or placeholder.path:
        return True
    return found != ""  # Gatus: has([BODY]) and has([IP]) are false when empty


def _length(
    placeholder: _Placeholder, found: _Json | _Missing, observation: Observation
) -> int | None:
    if placeholder.name == "BODY" and not placeholder.path:
        # len([BODY]) counts the elements or keys of a JSON body, else its characters.
        parsed = _BODIES.get(observation).json
        if isinstance(parsed, list | dict):
            return len(parsed)
    if found is _MISSING or found is None:
        return None
    if isinstance(found, list | dict):
        return len(found)
    return len(_as_text(found))


def _as_text(value: _Json) -> str:
    """A JSON value as a condition sees it: strings bare, everything else as compact JSON."""
    if isinstance(value, str):
        return str(value)
    return _compact_json(value)


def _compact_json(value: _Json) -> str:
    if isinstance(value, _Number):
        return str(value)
    if isinstance(value, str):
        return json.dumps(value, ensure_ascii=False)
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return "null"
    if isinstance(value, list):
        return "[" + ",".join(_compact_json(item) for item in value) + "]"
    # Sorted like Go's json.Marshal, so a Gatus condition comparing an object keeps matching.
    items = (
        f"{json.dumps(key, ensure_ascii=False)}:{_compact_json(item)}"
        for key, item in sorted(value.items())
    )
    return "{" + ",".join(items) + "}"


# --------------------------------------------------------------------------------------------
# Evaluating and displaying
# --------------------------------------------------------------------------------------------


def _operand_value(operand: _Operand, observation: Observation) -> str | None:
    """The text a side stands for; None when a placeholder side is INVALID."""
    if isinstance(operand, _Value):
        return _resolve_value(operand, observation)
    return operand.text


def _compare(
    operator_: _Operator,
    left: _Operand,
    left_value: str | None,
    right: _Operand,
    right_value: str | None,
) -> bool:
    if left_value is None or right_value is None:
        return False  # deviation 3: nothing compares true against a value that is not there
    if operator_ == "==":
        return _equal(left, left_value, right, right_value)
    if operator_ == "!=":
        return not _equal(left, left_value, right, right_value)
    left_number = left.number if isinstance(left, _Literal) else _to_number(left_value)
    right_number = right.number if isinstance(right, _Literal) else _to_number(right_value)
    if left_number is None or right_number is None:
        return False  # deviation 2: Gatus would read the non-number as 0
    return _NUMERIC_OPERATORS[operator_](left_number, right_number)


def _equal(left: _Operand, left_value: str, right: _Operand, right_value: str) -> bool:
    if isinstance(left, _Pattern):
        return left.glob.matches(right_value)
    if isinstance(right, _Pattern):
        return right.glob.matches(left_value)
    if isinstance(left, _AnyOf):
        return right_value in left.options
    if isinstance(right, _AnyOf):
        return left_value in right.options
    left_integer, right_integer = _to_integer(left_value), _to_integer(right_value)
    if left_integer is not None and right_integer is not None:
        return left_integer == right_integer
    left_number = _exact_number(left_value, left_integer)
    right_number = _exact_number(right_value, right_integer)
    if left_number is not None and right_number is not None:
        return left_number == right_number  # `2.0 == 2`, `1e3 == 1000`, `1.50 == 1.5`
    return left_value == right_value


def _exact_number(text: str, integer: int | None) -> int | Decimal | None:
    """An `==` side as a number, exactly (no float rounding): None if not a number."""
    if integer is not None:
        return integer
    # _to_float also rejects what overflows a float (`1e999`), as `< <= > >=` do.
    if _to_float(text) is None:
        return None
    try:
        return Decimal(text)
    except InvalidOperation:  # an exponent beyond Decimal's (`1e-99999999999999999999`)
        return None


def _display(
    operand: _Operand,
    value: str | None,
    operator_: _Operator,
    other: _Operand,
    redact: Callable[[str], str] | None = None,
) -> str:
    """One side as Gatus's prettify shows it: `[STATUS] (503)`, `[BODY].x (INVALID)`, `200`.

    A resolved value goes through `redact` first, whole, so that no display change can cut a
    secret into a piece that the redaction would not recognise."""
    if not isinstance(operand, _Value):
        return operand.text
    if value is None:
        return f"{operand.text} {INVALID}"
    shown = value if redact is None else redact(value)
    if (
        operator_ in _NUMERIC_OPERATORS
        and not operand.function
        and operand.placeholder.name == "CERTIFICATE_EXPIRATION"
        and shown == value  # a redacted value is shown as redact made it
    ):
        shown = _format_duration(int(value))
    if isinstance(other, _Pattern) and len(shown.encode()) > _PATTERN_DISPLAY_LIMIT:
        shown = f"{shown[:_PATTERN_DISPLAY_LIMIT]}...(truncated)"
    return f"{operand.text} ({shown})"
