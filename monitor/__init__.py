"""monitor: a synthetic uptime monitor that pages the on-call engineer until a human answers."""

__version__ = "0.1.0"
