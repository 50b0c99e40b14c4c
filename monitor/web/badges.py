"""Status badges (`/badge/accounts.svg`): a flat two-part SVG like the ones READMEs show."""

from __future__ import annotations

from xml.sax.saxutils import escape

COLOURS = {
    "operational": "#2e9d5b",
    "degraded": "#b8860b",
    "partial": "#e07b24",
    "major": "#d03b3b",
}
CHAR_WIDTH = 6.6  # Verdana 11px, on average: close enough for a badge
PADDING = 10


def _width(text: str) -> int:
    return int(len(text) * CHAR_WIDTH + 2 * PADDING)


def badge_svg(label: str, message: str, state: str) -> str:
    left, right = _width(label), _width(message)
    total = left + right
    colour = COLOURS.get(state, "#9f9f9f")
    label_text, message_text = escape(label), escape(message)
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{total}" height="20" role="img" '
        f'aria-label="{label_text}: {message_text}">'
        f"<title>{label_text}: {message_text}</title>"
        f'<rect width="{left}" height="20" fill="#555"/>'
        f'<rect x="{left}" width="{right}" height="20" fill="{colour}"/>'
        '<g fill="#fff" text-anchor="middle" '
        'font-family="Verdana,DejaVu Sans,sans-serif" font-size="11">'
        f'<text x="{left / 2}" y="14">{label_text}</text>'
        f'<text x="{left + right / 2}" y="14">{message_text}</text>'
        "</g></svg>"
    )
