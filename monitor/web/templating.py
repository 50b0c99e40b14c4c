"""The jinja2 templates of the status page and the admin pages (rendered on the server,
autoescaped: a probe's name or an incident's note can never become markup)."""

from __future__ import annotations

from pathlib import Path

from fastapi.templating import Jinja2Templates

TEMPLATES = Path(__file__).parent / "templates"

templates = Jinja2Templates(directory=str(TEMPLATES))
