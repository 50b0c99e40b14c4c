"""The monitor's web side: Twilio's webhooks (and later the status page, admin and API)."""

from monitor.web.app import create_app
from monitor.web.context import WebContext, WebStats
from monitor.web.server import WebServer, parse_listen

__all__ = ["WebContext", "WebServer", "WebStats", "create_app", "parse_listen"]
