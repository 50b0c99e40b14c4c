"""The YAML config: models, loader and errors.

Public names: `load_config`, `LoadedConfig`, `ConfigError`, `ConfigProblem`, `MonitorConfig`,
`ProbeConfig`, `StepConfig`, `RequestConfig`, `MaintenanceConfig`, `parse_duration`,
`format_duration`, `config_schema`.
"""

from datetime import timedelta
from typing import Any

from pydantic.json_schema import GenerateJsonSchema

from monitor.config.durations import format_duration, parse_duration
from monitor.config.errors import ConfigError, ConfigProblem
from monitor.config.loader import LoadedConfig, load_config
from monitor.config.models import (
    MaintenanceConfig,
    MonitorConfig,
    ProbeConfig,
    RequestConfig,
    StepConfig,
)


class _ConfigSchema(GenerateJsonSchema):
    def encode_default(self, dft: Any) -> Any:
        # Defaults show as YAML would write them (`30s`), not as ISO 8601 (`PT30S`).
        if isinstance(dft, timedelta):
            return format_duration(dft)
        return super().encode_default(dft)


def config_schema() -> dict[str, Any]:
    """JSON Schema of the config, for editors (`# yaml-language-server: $schema=...`)."""
    schema = MonitorConfig.model_json_schema(by_alias=True, schema_generator=_ConfigSchema)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "monitor config"
    return schema


__all__ = [
    "ConfigError",
    "ConfigProblem",
    "LoadedConfig",
    "MaintenanceConfig",
    "MonitorConfig",
    "ProbeConfig",
    "RequestConfig",
    "StepConfig",
    "config_schema",
    "format_duration",
    "load_config",
    "parse_duration",
]
