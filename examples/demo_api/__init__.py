"""demo_api: an in-memory API shaped like the one whose outage the monitor exists for.

Signup, login, sharing and groups, with fault injection (error ratio, latency, full disk)
changeable live through `/_admin/faults`. See README.md.

Public names: `create_app`, `DemoSettings`, `DemoSettingsError`, `Faults`.
"""

from demo_api.app import create_app
from demo_api.faults import Faults
from demo_api.settings import DemoSettings, DemoSettingsError

__all__ = ["DemoSettings", "DemoSettingsError", "Faults", "create_app"]
