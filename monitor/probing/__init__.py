"""Running probes: conditions, HTTP steps and multi-step flows."""
