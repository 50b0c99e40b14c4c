"""Command line interface (placeholder until the commands land)."""

import typer

app = typer.Typer(no_args_is_help=True, help="Synthetic uptime monitor that pages until a human answers.")


def main() -> None:
    app()
