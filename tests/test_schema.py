"""`monitor schema` agrees with the loader: what the loader accepts, editors must not flag."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml

from monitor.config import config_schema

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def validator() -> jsonschema.protocols.Validator:
    schema = config_schema()
    cls = jsonschema.validators.validator_for(schema)
    cls.check_schema(schema)
    return cls(schema)


def errors(validator: jsonschema.protocols.Validator, document: Any) -> list[str]:
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(document)]


def test_examples_validate_against_the_schema(validator: jsonschema.protocols.Validator) -> None:
    document = yaml.safe_load((ROOT / "examples" / "probes.yaml").read_text())
    assert errors(validator, document) == []


def test_readme_config_validates_against_the_schema(
    validator: jsonschema.protocols.Validator,
) -> None:
    readme = (ROOT / "README.md").read_text()
    blocks = [
        b
        for b in re.findall(r"```yaml\n(.*?)```", readme, re.DOTALL)
        if b.startswith(("defaults:", "probes:"))
    ]
    assert blocks
    for block in blocks:
        assert errors(validator, yaml.safe_load(block)) == []


def test_the_schema_rejects_what_the_loader_rejects(
    validator: jsonschema.protocols.Validator,
) -> None:
    bad = {"probes": [{"name": "x", "intervall": "30s", "request": {"url": "http://h/"}}]}
    assert any("intervall" in error for error in errors(validator, bad))
    assert errors(validator, {"defaults": {"interval": "30"}})


def test_duration_defaults_read_as_yaml_would() -> None:
    defaults = config_schema()["$defs"]["Defaults"]["properties"]
    assert defaults["interval"]["default"] == "30s"
    assert defaults["timeout"]["default"] == "10s"
