"""Helpers for tests of the whole project: real servers on 127.0.0.1, no mocks of HTTP.

Public names:
- `serve_asgi(app)`: run an ASGI app on a real uvicorn server in a background thread; yields
  the base URL (`http://127.0.0.1:PORT`) and stops the server on exit.
- `ServerStartupError`: raised when that server does not come up, with uvicorn's own reason.
"""

from monitor.testing.asgi_server import ServerStartupError, serve_asgi

__all__ = ["ServerStartupError", "serve_asgi"]
