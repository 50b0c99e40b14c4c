"""The `monitor` command: parses arguments, calls the services, prints. No logic lives here."""

from __future__ import annotations

import asyncio
import json
import logging
import sys
from collections.abc import Mapping
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

from monitor.clock import SystemClock
from monitor.config import ConfigError, LoadedConfig, config_schema, load_config
from monitor.demo import DemoError, demo_environment, find_examples, running_demo_api
from monitor.probing.flow import RunResult, run_probe
from monitor.report import print_run

app = typer.Typer(
    no_args_is_help=True,
    add_completion=False,
    help="Synthetic uptime monitor that pages the on-call engineer until a human answers.",
)

EXIT_OK, EXIT_FAILED, EXIT_CONFIG = 0, 1, 2

ConfigPath = Annotated[Path, typer.Argument(help="A YAML file, or a directory of them (merged).")]


def _load_or_exit(
    path: Path, console: Console, environ: Mapping[str, str] | None = None
) -> LoadedConfig:
    try:
        return load_config(path, environ=environ)
    except ConfigError as error:
        for problem in error.problems:
            console.print(str(problem), markup=False, highlight=False, soft_wrap=True)
        count = len(error.problems)
        console.print(f"{count} error{'s' if count != 1 else ''} in {path}", markup=False)
        raise typer.Exit(EXIT_CONFIG) from None


@app.command()
def validate(path: ConfigPath) -> None:
    """Check a config and print every error as file:line:column: field: message."""
    console = Console(highlight=False)
    loaded = _load_or_exit(path, console)
    probes = loaded.probes
    steps = sum(len(probe.effective_steps()) for probe in probes)
    files = len(loaded.files)
    if not probes:
        Console(stderr=True).print("warning: no probes are defined", markup=False)
    console.print(
        f"ok: {len(probes)} probe{'s' if len(probes) != 1 else ''}, {steps} step{'s' if steps != 1 else ''} "
        f"in {files} file{'s' if files != 1 else ''}",
        markup=False,
    )


@app.command()
def probe(
    path: ConfigPath,
    name: Annotated[
        list[str] | None, typer.Option("--name", "-n", help="Run only this probe (repeatable).")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per probe run.")] = False,
) -> None:
    """Run probes once, now, and print each step; exit 1 if any failed."""
    err = Console(stderr=True, highlight=False)
    loaded = _load_or_exit(path, err)
    try:
        selected = (
            [loaded.probe(n) for n in name] if name else [p for p in loaded.probes if p.enabled]
        )
    except KeyError as error:
        err.print(f"error: {error.args[0]}", markup=False)
        raise typer.Exit(EXIT_CONFIG) from None
    if not selected:
        err.print(f"error: no probes to run in {path}", markup=False)
        raise typer.Exit(EXIT_CONFIG)
    results = asyncio.run(_run_all(loaded, [p.name for p in selected]))
    if as_json:
        for result in results:
            sys.stdout.write(json.dumps(result.to_json()) + "\n")
    else:
        console = Console(highlight=False)
        for result in results:
            print_run(console, result)
    raise typer.Exit(EXIT_OK if all(r.ok for r in results) else EXIT_FAILED)


async def _run_all(loaded: LoadedConfig, names: list[str]) -> list[RunResult]:
    clock = SystemClock()
    return list(
        await asyncio.gather(
            *(run_probe(loaded.probe(n), clock=clock, env_values=loaded.env_values) for n in names)
        )
    )


@app.command()
def demo(
    examples: Annotated[
        Path | None, typer.Option(help="The examples directory (default: ./examples).")
    ] = None,
    error_ratio: Annotated[
        float, typer.Option(min=0, max=1, help="Share of API requests the demo API fails with 503.")
    ] = 0.0,
    disk_full: Annotated[bool, typer.Option(help="The demo API's writes fail with 507.")] = False,
) -> None:
    """Start the example API and run the example probes against it, once."""
    console = Console(highlight=False)
    try:
        examples_dir = find_examples(examples)
        faults = {"DEMO_ERROR_RATIO": str(error_ratio), "DEMO_DISK_FULL": str(disk_full).lower()}
        with running_demo_api(examples_dir, faults=faults) as url:
            console.print(
                f"Example API running at {url} (error ratio {error_ratio:.0%}, disk full: {disk_full})"
            )
            loaded = _load_or_exit(
                examples_dir / "probes.yaml", console, environ=demo_environment(url)
            )
            console.print(f"Running the {len(loaded.probes)} example probes once:\n")
            results = asyncio.run(_run_all(loaded, [p.name for p in loaded.probes]))
            for result in results:
                print_run(console, result)
    except DemoError as error:
        console.print(f"error: {error}", markup=False)
        raise typer.Exit(EXIT_CONFIG) from None
    raise typer.Exit(EXIT_OK if all(r.ok for r in results) else EXIT_FAILED)


@app.command()
def schema() -> None:
    """Print the JSON Schema of the config (for editor completion)."""
    sys.stdout.write(json.dumps(config_schema(), indent=2) + "\n")


def main() -> None:
    # httpx logs every request URL at INFO, query string and userinfo included: never show those.
    for name in ("httpx", "httpcore"):
        logging.getLogger(name).setLevel(logging.WARNING)
    app()
