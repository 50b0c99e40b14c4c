"""`python -m demo_api --host 127.0.0.1 --port 8000`: serve the demo API with uvicorn.

With `--port 0` the kernel picks a free port; the line `demo_api listening on URL` on stdout
(printed once the server accepts connections) tells a parent process where to go.
"""

import argparse
import os
import socket
import sys

import uvicorn

from demo_api.app import create_app
from demo_api.settings import DemoSettings, DemoSettingsError


class _AnnouncingServer(uvicorn.Server):
    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if not self.started:
            return
        host, port = self.config.host, self.servers[0].sockets[0].getsockname()[1]
        shown = f"[{host}]" if ":" in host else host
        print(f"demo_api listening on http://{shown}:{port}", flush=True)


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m demo_api",
        description="In-memory signup/login/sharing API with fault injection (DEMO_* env vars).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="port, 0 for any free one (8000)")
    parser.add_argument(
        "--log-level",
        default="info",
        choices=["critical", "error", "warning", "info", "debug"],
        help="uvicorn's log level, logs go to stderr (info)",
    )
    args = parser.parse_args(argv)
    if not 0 <= args.port <= 65535:
        parser.error(f"--port must be between 0 and 65535, not {args.port}")
    return args


def main(argv: list[str] | None = None) -> int:
    args = _parse_args(argv)
    try:
        settings = DemoSettings.from_env(os.environ)
    except DemoSettingsError as exc:
        print(f"demo_api: {exc}", file=sys.stderr)
        return 2
    for name in DemoSettings.unknown_env(os.environ):
        print(f"demo_api: warning: ignoring unknown variable {name}", file=sys.stderr)
    config = uvicorn.Config(
        create_app(settings), host=args.host, port=args.port, log_level=args.log_level
    )
    server = _AnnouncingServer(config)
    server.run()
    return 0 if server.started else 1


if __name__ == "__main__":
    sys.exit(main())
