"""Running probes: conditions, HTTP steps and multi-step flows.

Public names, imported from their modules (not re-exported here, because `monitor.config`
parses conditions and templates while `flow` reads the config models):
- `flow`: `run_probe`, `RunResult`, `StepResult`
- `conditions`: `Condition`, `ConditionResult`, `ConditionSyntaxError`, `resolve`, `is_placeholder`
- `http`: `ProbeSession`, `RequestSpec`, `StepOutcome`, `Timings`, `shared_ssl_context`
- `errors`: `ProbeError`, `ErrorKind`
- `observation`: `Observation`
- `templating`, `redaction`: the jinja2 sandbox and the secret filter
"""
