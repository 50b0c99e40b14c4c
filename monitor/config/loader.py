"""Load a config file or directory: merge files, substitute `${VAR}`, validate, and report every
problem at its `file:line:column`."""

from __future__ import annotations

import difflib
import os
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ValidationError

from monitor.config.env import Substitution, substitute
from monitor.config.errors import ConfigError, ConfigProblem, format_path
from monitor.config.models import Defaults, MonitorConfig, ProbeConfig
from monitor.config.oncall_checks import check_oncall
from monitor.config.template_check import template_problems
from monitor.config.yaml_source import Location, PathKey, SourceMap, YamlSyntaxError, read_yaml_file
from monitor.probing.redaction import Redactor

YAML_SUFFIXES = (".yaml", ".yml")
_DEFAULTED_PROBE_FIELDS = ("interval", "timeout", "locations")
_VALIDATOR_TAGS = ("function-before[", "function-after[", "function-wrap[", "function-plain[")


@dataclass(frozen=True)
class LoadedConfig:
    config: MonitorConfig
    files: tuple[Path, ...]
    # Values taken from the environment, by variable name: output replaces them with `${NAME}`.
    env_values: Mapping[str, str]

    @property
    def probes(self) -> list[ProbeConfig]:
        return self.config.probes

    def probe(self, name: str) -> ProbeConfig:
        for probe in self.config.probes:
            if probe.name == name:
                return probe
        known = ", ".join(p.name for p in self.config.probes)
        raise KeyError(f"no probe named {name!r} (known: {known})")


@dataclass
class _Merged:
    """All files as one document, remembering where each part came from."""

    data: dict[str, Any]
    source_map: SourceMap
    # For probes[j] of the merged list: the index it has in its own file (for error paths).
    probe_local_index: list[int]
    # Values whose `${VAR}` could not be substituted: already reported, so their validation
    # errors (a URL that starts with `${`) would only repeat the same problem.
    unsubstituted: set[PathKey] = field(default_factory=set)


def config_files(path: Path) -> list[Path]:
    if path.is_dir():
        return sorted(
            p
            for p in path.rglob("*")
            if p.suffix in YAML_SUFFIXES
            and p.is_file()
            and not any(part.startswith(".") for part in p.relative_to(path).parts)
        )
    return [path]


def load_config(path: Path | str, environ: Mapping[str, str] | None = None) -> LoadedConfig:
    """Load and validate; raises `ConfigError` listing every problem found."""
    root = Path(path)
    env = os.environ if environ is None else environ
    problems: list[ConfigProblem] = []
    if not root.exists():
        raise ConfigError(
            [ConfigProblem(Location(str(root), 1, 1), "", "no such file or directory")]
        )
    files = config_files(root)
    if not files:
        raise ConfigError(
            [
                ConfigProblem(
                    Location(str(root), 1, 1), "", "no .yaml or .yml files in this directory"
                )
            ]
        )

    substitution = Substitution()
    merged = _Merged(data={}, source_map=SourceMap(), probe_local_index=[])
    for file in files:
        _merge_file(file, merged, env, substitution, problems)

    display = _display_path_factory(merged)
    defaults = _validate_defaults(merged, display, problems)
    for raw_probe in merged.data.get("probes", []):
        if isinstance(raw_probe, dict) and defaults is not None:
            for field in _DEFAULTED_PROBE_FIELDS:
                raw_probe.setdefault(field, getattr(defaults, field))

    config: MonitorConfig | None = None
    try:
        config = MonitorConfig.model_validate(merged.data)
    except ValidationError as error:
        problems.extend(
            _from_validation_error(error, merged.source_map, display, skip=merged.unsubstituted)
        )
    problems.extend(_check_probes(merged.data.get("probes"), merged.source_map, display))
    problems.extend(
        _check_maintenance(
            merged.data.get("maintenance"), merged.data.get("probes"), merged.source_map, display
        )
    )
    if config is not None:
        problems.extend(check_oncall(config, merged.source_map, display))
    if problems:
        # Messages quote values, and values may come from the environment: show `${NAME}` instead.
        redact = Redactor(substitution.used)
        raise ConfigError([replace(p, message=redact(p.message)) for p in problems])
    assert config is not None
    return LoadedConfig(config=config, files=tuple(files), env_values=dict(substitution.used))


def _merge_file(
    file: Path,
    merged: _Merged,
    environ: Mapping[str, str],
    substitution: Substitution,
    problems: list[ConfigProblem],
) -> None:
    try:
        document = read_yaml_file(file)
    except YamlSyntaxError as error:
        problems.append(ConfigProblem(error.location, "", error.message))
        return
    except OSError as error:
        problems.append(
            ConfigProblem(Location(str(file), 1, 1), "", f"cannot read: {error.strerror}")
        )
        return
    except UnicodeDecodeError as error:
        problems.append(
            ConfigProblem(
                Location(str(file), 1, 1),
                "",
                f"not UTF-8 text (byte 0x{error.object[error.start]:02x} at offset {error.start}); "
                "save the file as UTF-8",
            )
        )
        return
    data, source_map = document.data, document.source_map
    if data is None:
        return  # an empty file merges as nothing
    if not isinstance(data, dict):
        location = source_map.value_at(()) or Location(str(file), 1, 1)
        problems.append(
            ConfigProblem(location, "", "the top level must be a mapping (probes:, defaults:, ...)")
        )
        return

    local = Substitution()
    data = substitute(data, environ, local)
    substitution.used.update(local.used)
    for env_problem in local.problems:
        location = source_map.value_at(env_problem.path) or Location(str(file), 1, 1)
        problems.append(ConfigProblem(location, format_path(env_problem.path), env_problem.message))

    probe_offset = len(merged.data.get("probes", []))
    merged.unsubstituted.update(_shift(p.path, probe_offset) for p in local.problems)
    for key, value in data.items():
        if key == "probes":
            if value is None:
                continue  # `probes:` left empty: nothing to add
            if not isinstance(value, list):
                location = source_map.best_at((key,)) or Location(str(file), 1, 1)
                message = "must be a list of probes (each item starts with `- name: ...`)"
                problems.append(ConfigProblem(location, key, message))
                continue
            merged.data.setdefault("probes", []).extend(value)
            merged.probe_local_index.extend(range(len(value)))
        elif key in merged.data:
            first = merged.source_map.key_at((key,))
            where = f" (first in {first})" if first else ""
            location = source_map.key_at((key,)) or Location(str(file), 1, 1)
            problems.append(
                ConfigProblem(
                    location, key, f"`{key}` is already set in another file{where}; keep one"
                )
            )
            continue
        else:
            merged.data[key] = value
    for path, location in source_map.values.items():
        merged.source_map.values.setdefault(_shift(path, probe_offset), location)
    for path, location in source_map.keys.items():
        merged.source_map.keys.setdefault(_shift(path, probe_offset), location)
    merged.source_map.containers.update(
        _shift(path, probe_offset) for path in source_map.containers
    )


def _shift(path: PathKey, probe_offset: int) -> PathKey:
    if len(path) >= 2 and path[0] == "probes" and isinstance(path[1], int):
        return ("probes", path[1] + probe_offset, *path[2:])
    return path


def _display_path_factory(merged: _Merged) -> typing.Callable[[PathKey], str]:
    def display(path: PathKey) -> str:
        if len(path) >= 2 and path[0] == "probes" and isinstance(path[1], int):
            index = path[1]
            if 0 <= index < len(merged.probe_local_index):
                path = ("probes", merged.probe_local_index[index], *path[2:])
        return format_path(path)

    return display


def _validate_defaults(
    merged: _Merged, display: typing.Callable[[PathKey], str], problems: list[ConfigProblem]
) -> Defaults | None:
    raw = merged.data.get("defaults")
    if raw is None:
        return Defaults()
    try:
        return Defaults.model_validate(raw)
    except ValidationError as error:
        # Reported once here; the probes then fall back to the built-in defaults.
        shifted = SourceMap(
            values={
                p[1:]: loc for p, loc in merged.source_map.values.items() if p[:1] == ("defaults",)
            },
            keys={
                p[1:]: loc for p, loc in merged.source_map.keys.items() if p[:1] == ("defaults",)
            },
            containers={p[1:] for p in merged.source_map.containers if p[:1] == ("defaults",)},
        )
        for problem in _from_validation_error(
            error, shifted, lambda p: display(("defaults", *p)), Defaults
        ):
            problems.append(problem)
        del merged.data["defaults"]
        return None


def _from_validation_error(
    error: ValidationError,
    source_map: SourceMap,
    display: typing.Callable[[PathKey], str],
    root: type[BaseModel] = MonitorConfig,
    skip: set[PathKey] | None = None,
) -> list[ConfigProblem]:
    problems: list[ConfigProblem] = []
    seen: set[tuple[PathKey, str]] = set()
    for item in error.errors(include_url=False):
        loc, model = _clean_loc(root, tuple(item["loc"]))
        if skip and loc in skip:
            continue
        kind = item["type"]
        if kind == "extra_forbidden":
            key = str(loc[-1])
            message = f"unknown field `{key}`{_suggestion(key, model)}"
            location = source_map.key_at(loc)
        elif kind == "missing":
            message = f"missing required field `{loc[-1]}`"
            location = source_map.best_at(loc[:-1])
        else:
            message = str(item["msg"]).removeprefix("Value error, ")
            location = source_map.best_at(loc)
        if (loc, message) in seen:
            continue
        seen.add((loc, message))
        problems.append(
            ConfigProblem(location or Location("<config>", 1, 1), display(loc), message)
        )
    return problems


def _field_names(model: type[BaseModel]) -> dict[str, str]:
    """YAML key -> attribute name (keys are the aliases where one is set)."""
    return {(info.alias or name): name for name, info in model.model_fields.items()}


def _unwrap(annotation: Any) -> Any:
    while typing.get_origin(annotation) is typing.Annotated:
        annotation = typing.get_args(annotation)[0]
    return annotation


def _clean_loc(root: type[BaseModel], loc: PathKey) -> tuple[PathKey, type[BaseModel] | None]:
    """Drop pydantic's union-member tags from an error location; also return the model that owns
    the last key (to suggest field names)."""
    annotation: Any = root
    owner: type[BaseModel] | None = root
    clean: list[str | int] = []
    for part in loc:
        if isinstance(part, str) and part.startswith(_VALIDATOR_TAGS):
            continue  # pydantic names a validator step, not a key the engineer wrote
        annotation = _unwrap(annotation)
        while typing.get_origin(annotation) in (typing.Union, types.UnionType):
            members = [m for m in typing.get_args(annotation) if m is not type(None)]
            models = [m for m in members if isinstance(m, type) and issubclass(m, BaseModel)]
            tagged = [
                m for m in members if getattr(m, "__name__", repr(m)) == part or repr(m) == part
            ]
            if tagged:
                annotation = _unwrap(tagged[0])
                break
            annotation = _unwrap(models[0] if models else members[0])
        else:
            tagged = []
        if tagged:
            continue  # the part was a union tag, not a key
        if isinstance(annotation, type) and issubclass(annotation, BaseModel):
            owner = annotation
            names = _field_names(annotation)
            clean.append(part)
            annotation = annotation.model_fields[names[part]].annotation if part in names else Any
            continue
        origin = typing.get_origin(annotation)
        clean.append(part)
        if origin is list:
            annotation = typing.get_args(annotation)[0]
        elif origin is dict:
            annotation = typing.get_args(annotation)[1]
        else:
            annotation = Any
    return tuple(clean), owner


def _suggestion(key: str, model: type[BaseModel] | None) -> str:
    if model is None:
        return ""
    names = list(_field_names(model))
    close = difflib.get_close_matches(key, names, n=1, cutoff=0.6)
    if close:
        return f" (did you mean `{close[0]}`?)"
    return f" (expected one of: {', '.join(names)})"


def _check_probes(
    raw_probes: object, source_map: SourceMap, display: typing.Callable[[PathKey], str]
) -> list[ConfigProblem]:
    """Checks across fields and probes, run on every probe that is itself valid, so one broken
    probe does not hide the problems of the others."""
    problems: list[ConfigProblem] = []
    if not isinstance(raw_probes, list):
        return problems
    first_seen: dict[str, Location] = {}
    for index, raw in enumerate(raw_probes):
        name = raw.get("name") if isinstance(raw, dict) else None
        name_path: PathKey = ("probes", index, "name")
        location = source_map.value_at(name_path) or Location("<config>", 1, 1)
        if isinstance(name, str) and name in first_seen:
            message = (
                f"probe name `{name}` is already used at {first_seen[name]}; names must be unique"
            )
            problems.append(ConfigProblem(location, display(name_path), message))
        elif isinstance(name, str):
            first_seen[name] = location
        for inner, message in template_problems(raw):
            path = ("probes", index, *inner)
            problems.append(
                ConfigProblem(source_map.best_at(path) or location, display(path), message)
            )
    return problems


def _check_maintenance(
    raw_windows: object,
    raw_probes: object,
    source_map: SourceMap,
    display: typing.Callable[[PathKey], str],
) -> list[ConfigProblem]:
    """Every probe a maintenance window names must exist: a typo would otherwise leave the probe
    paging through the maintenance it was meant to be quiet for."""
    problems: list[ConfigProblem] = []
    if not isinstance(raw_windows, list) or not isinstance(raw_probes, list | None):
        return problems  # reported by validation; every name would look unknown
    # Names of invalid probes count too: their own errors are reported, not a second one here.
    known = [
        p["name"]
        for p in raw_probes or []
        if isinstance(p, dict) and isinstance(p.get("name"), str)
    ]
    known_set = set(known)
    for index, raw in enumerate(raw_windows):
        names = raw.get("probes") if isinstance(raw, dict) else None
        if not isinstance(names, list):
            continue
        for position, name in enumerate(names):
            if not isinstance(name, str) or name in known_set:
                continue
            path: PathKey = ("maintenance", index, "probes", position)
            close = difflib.get_close_matches(name, known, n=1, cutoff=0.6)
            hint = f" (did you mean `{close[0]}`?)" if close else ""
            problems.append(
                ConfigProblem(
                    source_map.value_at(path) or Location("<config>", 1, 1),
                    display(path),
                    f"no probe named `{name}`{hint}",
                )
            )
    return problems
