"""A local Twilio-compatible server: the sandbox tests and `monitor demo` page through.

Twilio cannot be reached from the machines this project runs on, so the real twilio library is
pointed at this server instead (`client.api.base_url = sandbox_url`). It implements the Messages
and Calls resources, sends status callbacks and webhooks signed exactly like Twilio's, plays
calls' TwiML (`<Say>`, `<Gather>`, `<Redirect>`, `<Hangup>`), and offers:

- `/sandbox/...`: a JSON API for tests (messages, calls, reply, press, behaviours, faults);
- `/` and `/phone/{phone}`: a phone per roster person in the browser.

Modules: `state` (the in-memory model), `api` (Twilio REST routes), `messaging` and `voice`
(what happens to a message or a call), `twiml` (reading TwiML), `callbacks` (signed outgoing
requests), `control` (the JSON API), `phones` (the browser pages), `app` (the factory),
`server` (running it on a port).

Public names: `create_app`, `serve`, `SandboxPerson`, `Sandbox`, `SandboxStartupError`.
"""

from monitor.sandbox.app import create_app
from monitor.sandbox.server import SandboxStartupError, serve
from monitor.sandbox.state import Sandbox, SandboxPerson

__all__ = ["Sandbox", "SandboxPerson", "SandboxStartupError", "create_app", "serve"]
