"""The config loader: every error kind located at file:line:column with its field path."""

from __future__ import annotations

import textwrap
from datetime import timedelta
from pathlib import Path

import pytest

from monitor.config import ConfigError, load_config
from monitor.config.errors import ConfigProblem

ENV = {"API_BASE": "http://127.0.0.1:9", "PROBE_PASSWORD": "hunter2-secret"}


def write(directory: Path, name: str, text: str) -> Path:
    path = directory / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
    return path


def problems_of(path: Path, env: dict[str, str] | None = None) -> list[ConfigProblem]:
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ=ENV if env is None else env)
    return list(raised.value.problems)


def only_problem(path: Path) -> ConfigProblem:
    problems = problems_of(path)
    assert len(problems) == 1, [str(p) for p in problems]
    return problems[0]


def test_valid_config_applies_defaults_and_env(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "probes.yaml",
        """
        defaults: {interval: 1m, timeout: 5s, locations: [eu, us]}
        probes:
          - name: login
            steps:
              - name: sign in
                request:
                  method: post
                  url: ${API_BASE}/login
                  json: {password: "${PROBE_PASSWORD}"}
                extract: {token: "[BODY].token"}
              - name: list
                request:
                  url: ${API_BASE}/shares
                  headers: {Authorization: "Bearer {{ token }}"}
          - name: home
            interval: 10s
            request: {url: "${HOME_URL:-http://127.0.0.1:9/}"}
            conditions: ["[STATUS] == 200"]
        """,
    )
    loaded = load_config(path, environ=ENV)
    login, home = loaded.probes
    assert login.interval == timedelta(minutes=1)
    assert login.timeout == timedelta(seconds=5)
    assert login.locations == ["eu", "us"]
    assert home.interval == timedelta(seconds=10)
    assert login.steps[0].request.method == "POST"
    assert login.steps[0].request.url == "http://127.0.0.1:9/login"
    assert login.steps[0].request.json_body == {"password": "hunter2-secret"}
    assert home.request is not None and home.request.url == "http://127.0.0.1:9/"
    assert [s.name for s in home.effective_steps()] == ["home"]
    assert [c.text for c in home.effective_steps()[0].conditions] == ["[STATUS] == 200"]
    # A step without conditions checks the status.
    assert [c.text for c in login.steps[1].conditions] == ["[STATUS] < 400"]
    # Values from the environment are remembered, so output can hide them.
    assert loaded.env_values == ENV


def test_unknown_key_is_located_and_suggests_the_right_name(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        """
        probes:
          - name: login
            intervall: 30s
            request: {url: "http://127.0.0.1:9/"}
        """,
    )
    problem = only_problem(path)
    assert (problem.location.line, problem.location.column) == (3, 5)
    assert problem.location.file == str(path)
    assert problem.path == "probes[0].intervall"
    assert problem.message == "unknown field `intervall` (did you mean `interval`?)"
    assert (
        str(problem)
        == f"{path}:3:5: probes[0].intervall: unknown field `intervall` (did you mean `interval`?)"
    )


def test_missing_required_field_points_at_its_parent(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        """
        probes:
          - name: login
            steps:
              - name: sign in
                request:
                  method: POST
        """,
    )
    problem = only_problem(path)
    assert problem.path == "probes[0].steps[0].request.url"
    assert problem.message == "missing required field `url`"
    assert (problem.location.line, problem.location.column) == (5, 9)  # at `request:`


def test_wrong_type_is_located_at_the_value(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        """
        probes:
          - name: login
            request:
              url: http://127.0.0.1:9/
              follow_redirects: sometimes
        """,
    )
    problem = only_problem(path)
    assert problem.path == "probes[0].request.follow_redirects"
    assert (problem.location.line, problem.location.column) == (5, 25)
    assert "valid boolean" in problem.message


def test_bad_duration_names_the_units(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        """
        probes:
          - name: login
            interval: 30
            request: {url: "http://127.0.0.1:9/"}
        """,
    )
    problem = only_problem(path)
    assert problem.path == "probes[0].interval"
    assert (problem.location.line, problem.location.column) == (3, 15)
    assert problem.message == "duration 30 has no unit: write 30s or 30m"


def test_invalid_condition_is_a_load_error_at_the_condition(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        """
        probes:
          - name: login
            request: {url: "http://127.0.0.1:9/"}
            conditions:
              - "[STATUS] == 200"
              - "[STATUS]==200"
        """,
    )
    problem = only_problem(path)
    assert problem.path == "probes[0].conditions[1]"
    assert (problem.location.line, problem.location.column) == (6, 9)
    assert problem.message.startswith("invalid condition '[STATUS]==200': ")
    assert "[STATUS] == 200" in problem.message


def test_missing_environment_variable_is_named(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        """
        probes:
          - name: login
            request: {url: "${NOT_SET_ANYWHERE}/login"}
        """,
    )
    problem = only_problem(path)
    assert problem.path == "probes[0].request.url"
    assert (problem.location.line, problem.location.column) == (3, 20)
    assert "environment variable NOT_SET_ANYWHERE is not set" in problem.message


def test_env_default_and_escape(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        """
        probes:
          - name: login
            request:
              url: "${BASE:-http://127.0.0.1:9}/x"
              headers: {X-Literal: "$${NOT_A_VAR}"}
        """,
    )
    request = load_config(path, environ={}).probes[0].request
    assert request is not None
    assert request.url == "http://127.0.0.1:9/x"
    assert request.headers == {"X-Literal": "${NOT_A_VAR}"}


def test_env_value_is_never_a_template(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        """
        probes:
          - name: login
            request: {url: "http://127.0.0.1:9/", method: POST, json: {password: "${PW}"}}
        """,
    )
    request = load_config(path, environ={"PW": "a{{b}}c"}).probes[0].request
    assert request is not None
    assert request.json_body == {"password": "{% raw %}a{{b}}c{% endraw %}"}


def test_duplicate_probe_names_across_files_in_a_directory(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", 'probes:\n  - {name: login, request: {url: "http://127.0.0.1:9/"}}\n')
    second = write(
        tmp_path,
        "b/more.yml",
        """
        probes:
          - name: signup
            request: {url: "http://127.0.0.1:9/"}
          - name: login
            request: {url: "http://127.0.0.1:9/"}
        """,
    )
    problem = only_problem(tmp_path)
    assert problem.location.file == str(second)
    assert (problem.location.line, problem.location.column) == (4, 11)
    # The index is the one in the file the engineer is reading, not the merged list's.
    assert problem.path == "probes[1].name"
    assert f"already used at {tmp_path / 'a.yaml'}:2:12" in problem.message


def test_directory_merge_shares_defaults_and_keeps_file_order(tmp_path: Path) -> None:
    write(tmp_path, "00-defaults.yaml", "defaults: {interval: 2m}\n")
    write(
        tmp_path,
        "10-accounts.yaml",
        'probes:\n  - {name: login, request: {url: "http://127.0.0.1:9/"}}\n',
    )
    write(
        tmp_path,
        "20-sharing.yaml",
        'probes:\n  - {name: sharing, request: {url: "http://127.0.0.1:9/"}}\n',
    )
    write(tmp_path, "notes.txt", "not yaml: [")
    write(tmp_path, ".hidden/x.yaml", "this: is ignored: [")
    loaded = load_config(tmp_path, environ={})
    assert [p.name for p in loaded.probes] == ["login", "sharing"]
    assert all(p.interval == timedelta(minutes=2) for p in loaded.probes)
    assert len(loaded.files) == 3


def test_defaults_twice_is_an_error(tmp_path: Path) -> None:
    write(tmp_path, "a.yaml", "defaults: {interval: 2m}\n")
    second = write(tmp_path, "b.yaml", "defaults: {interval: 1m}\n")
    problem = only_problem(tmp_path)
    assert problem.location.file == str(second)
    assert "`defaults` is already set in another file" in problem.message


def test_yaml_syntax_error_is_located(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", 'probes:\n  - name: login\n    request: {url: "x"\n')
    problem = only_problem(path)
    assert problem.location.file == str(path)
    assert problem.location.line == 4
    assert problem.message.startswith("YAML syntax: ")


def test_duplicate_yaml_key_is_an_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        """
        probes:
          - name: login
            name: signup
            request: {url: "http://127.0.0.1:9/"}
        """,
    )
    problem = only_problem(path)
    assert (problem.location.line, problem.location.column) == (3, 5)
    assert problem.message == "YAML syntax: duplicate key 'name' (first written at line 2)"


def test_template_variable_must_come_from_an_earlier_step(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        """
        probes:
          - name: login
            steps:
              - name: list
                request:
                  url: http://127.0.0.1:9/shares
                  headers: {Authorization: "Bearer {{ token }}"}
              - name: sign in
                request: {url: "http://127.0.0.1:9/login"}
                extract: {token: "[BODY].token"}
        """,
    )
    problem = only_problem(path)
    assert problem.path == "probes[0].steps[0].request.headers.Authorization"
    assert (problem.location.line, problem.location.column) == (7, 36)
    assert (
        problem.message
        == "template variable `token` is not extracted by an earlier step (extracted by a later step?)"
    )


def test_template_syntax_error(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        """
        probes:
          - name: login
            request: {url: "http://127.0.0.1:9/{{ oops"}
        """,
    )
    problem = only_problem(path)
    assert problem.path == "probes[0].request.url"
    assert (problem.location.line, problem.location.column) == (3, 20)
    assert problem.message.startswith("template syntax:")


def test_bad_extract_source(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        """
        probes:
          - name: login
            steps:
              - name: sign in
                request: {url: "http://127.0.0.1:9/login"}
                extract: {token: "[STATUS]"}
        """,
    )
    problem = only_problem(path)
    assert problem.path == "probes[0].steps[0].extract.token"
    assert (problem.location.line, problem.location.column) == (6, 26)
    assert "cannot extract from '[STATUS]'" in problem.message


def test_alert_block_is_validated(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        """
        probes:
          - name: login
            request: {url: "http://127.0.0.1:9/"}
            alert:
              policy: api-critical
              trigger:
                - failure_ratio: {above: 20%, window: 5m, min_samples: 6}
                - consecutive_failures: 3
                - latency: {percentile: 95, above: 800ms}
                - burn_rate: {slo: 99.9%}
              recover: {consecutive_successes: 3, min_duration: 2m}
              quorum: 1
              flap_window: 15m
        policies:
          - {name: api-critical, levels: [{notify: [{person: alice}]}]}
        people:
          - {id: alice, name: Alice, phone: "+4915110000001"}
        """,
    )
    alert = load_config(path, environ={}).probes[0].alert
    assert alert.trigger is not None
    ratio, consecutive, latency, burn = alert.trigger
    assert ratio.failure_ratio is not None and ratio.failure_ratio.above == pytest.approx(0.2)
    assert consecutive.consecutive_failures == 3
    assert latency.latency is not None and latency.latency.above == timedelta(milliseconds=800)
    assert burn.burn_rate is not None and burn.burn_rate.slo == pytest.approx(99.9)
    assert [w.factor for w in burn.burn_rate.windows] == [14.4, 6]
    assert alert.recover.min_duration == timedelta(minutes=2)
    assert alert.quorum == 1
    assert alert.flap_window == timedelta(minutes=15)


def test_alert_trigger_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        """
        probes:
          - name: login
            request: {url: "http://127.0.0.1:9/"}
            alert:
              trigger:
                - failure_ratio: {above: 1.5}
                - consecutive_failure: 3
                - {}
        """,
    )
    problems = {p.path: p for p in problems_of(path)}
    assert set(problems) == {
        "probes[0].alert.trigger[0].failure_ratio.above",
        "probes[0].alert.trigger[1].consecutive_failure",
        "probes[0].alert.trigger[2]",
    }
    assert problems["probes[0].alert.trigger[0].failure_ratio.above"].location.line == 6
    assert "less than 1" in problems["probes[0].alert.trigger[0].failure_ratio.above"].message
    assert (
        "did you mean `consecutive_failures`?"
        in problems["probes[0].alert.trigger[1].consecutive_failure"].message
    )
    assert "exactly one of" in problems["probes[0].alert.trigger[2]"].message


def test_five_mistakes_give_five_located_errors(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        """
        defaults: {interval: 30s}
        probes:
          - name: login
            intervall: 30s
            request: {url: "${MISSING_BASE}/login"}
            conditions: ["[STATUS]==200"]
          - name: Bad Name
            request: {url: "ftp://example.com"}
          - name: sharing
            timeout: 1m
            request: {url: "http://127.0.0.1:9/"}
        """,
    )
    problems = problems_of(path, env={})
    assert [(p.location.line, p.path) for p in problems] == [
        (4, "probes[0].intervall"),
        (5, "probes[0].request.url"),
        (6, "probes[0].conditions[0]"),
        (7, "probes[1].name"),
        (8, "probes[1].request.url"),
        (9, "probes[2]"),
    ]
    assert "timeout (1m) is longer than interval (30s)" in problems[-1].message


def test_missing_path_and_empty_directory(tmp_path: Path) -> None:
    assert problems_of(tmp_path / "nope.yaml")[0].message == "no such file or directory"
    assert problems_of(tmp_path)[0].message == "no .yaml or .yml files in this directory"


def test_top_level_must_be_a_mapping(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", "- name: login\n")
    assert "top level must be a mapping" in only_problem(path).message


def test_probe_needs_a_request_or_steps(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", "probes:\n  - name: login\n")
    problem = only_problem(path)
    assert problem.path == "probes[0]"
    assert problem.message == "a probe needs `request` or `steps`"


@pytest.mark.parametrize(
    ("field", "name", "message"),
    [
        (
            "variables",
            "my-email",
            "variable name 'my-email' must be an identifier (letters, digits, _)",
        ),
        ("variables", "uuid", "variable name 'uuid' hides the template helper uuid()"),
    ],
)
def test_variable_names_are_checked(tmp_path: Path, field: str, name: str, message: str) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        f"""
        probes:
          - name: signup
            {field}: {{{name}: x}}
            request: {{url: "http://127.0.0.1:9/"}}
        """,
    )
    problem = only_problem(path)
    assert problem.path == f"probes[0].{field}"
    assert problem.message == message


def test_extract_name_must_be_an_identifier(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        """
        probes:
          - name: login
            steps:
              - name: sign in
                request: {url: "http://127.0.0.1:9/login"}
                extract: {access-token: "[BODY].token"}
        """,
    )
    problem = only_problem(path)
    assert problem.path == "probes[0].steps[0].extract"
    assert (
        problem.message == "extract name 'access-token' must be an identifier (letters, digits, _)"
    )


def test_empty_probes_list_is_not_a_crash(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", "probes:\n")
    assert load_config(path, environ={}).probes == []


def test_probes_that_are_not_a_list_do_not_hide_other_files(tmp_path: Path) -> None:
    first = write(tmp_path, "a.yaml", "probes: login\n")
    second = write(
        tmp_path, "b.yaml", 'probes:\n  - {name: x, requestt: {url: "http://127.0.0.1:9/"}}\n'
    )
    problems = problems_of(tmp_path)
    assert [(p.location.file, p.path) for p in problems] == [
        (str(first), "probes"),
        (str(second), "probes[0].requestt"),
    ]
    assert problems[0].message == "must be a list of probes (each item starts with `- name: ...`)"


def test_a_file_that_is_not_utf8(tmp_path: Path) -> None:
    path = tmp_path / "p.yaml"
    path.write_bytes(b"probes:\n  - name: caf\xe9\n")
    assert only_problem(path).message == (
        "not UTF-8 text (byte 0xe9 at offset 21); save the file as UTF-8"
    )


def test_an_absurd_duration(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", "defaults: {interval: 99999999999999d}\nprobes: []\n")
    problem = only_problem(path)
    assert problem.path == "defaults.interval"
    assert problem.message == "duration '99999999999999d' is too long"


def test_a_recursive_alias(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", "a: &a [*a]\n")
    assert only_problem(path).message == "YAML nests too deeply (or an alias refers to itself)"


def test_config_errors_never_show_values_from_the_environment(tmp_path: Path) -> None:
    path = write(tmp_path, "p.yaml", 'probes:\n  - {name: x, request: {url: "${LOGIN_URL}"}}\n')
    secret_url = "htps://svc:S3cr3tPassw0rd@api.example.com/login?api_key=AKIA1234"
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={"LOGIN_URL": secret_url})
    text = str(raised.value)
    assert "S3cr3tPassw0rd" not in text and "AKIA1234" not in text
    assert "got '${LOGIN_URL}'" in text


def test_environment_values_are_not_templates_in_variables_either(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        """
        probes:
          - name: x
            variables: {weird: "${WEIRD}"}
            request: {url: "http://127.0.0.1:9/", headers: {X-Weird: "{{ weird }}"}}
        """,
    )
    probe = load_config(path, environ={"WEIRD": "{{ 7*7 }}"}).probes[0]
    assert probe.variables == {"weird": "{% raw %}{{ 7*7 }}{% endraw %}"}


def test_template_problems_are_reported_beside_other_problems(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        """
        probes:
          - name: x
            interval: soon
            request: {url: "http://127.0.0.1:9/{{ tok }}"}
        """,
    )
    assert [p.path for p in problems_of(path)] == ["probes[0].interval", "probes[0].request.url"]


def test_paths_never_show_pydantic_internals(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        """
        probes:
          - name: x
            request: {url: "http://127.0.0.1:9/", headers: {X-A: {nested: 1}}}
        """,
    )
    problem = only_problem(path)
    assert problem.path == "probes[0].request.headers.X-A"
    assert problem.message == "Input should be a valid string"


def test_bad_defaults_are_reported_once_at_the_defaults(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        """
        defaults: {interval: 0s}
        probes:
          - {name: a, request: {url: "http://127.0.0.1:9/"}}
          - {name: b, request: {url: "http://127.0.0.1:9/"}}
        """,
    )
    problem = only_problem(path)
    assert (problem.path, problem.message) == ("defaults.interval", "must be longer than 0s")


def test_counts_are_not_booleans(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        """
        probes:
          - name: x
            request: {url: "http://127.0.0.1:9/"}
            alert: {quorum: true}
        """,
    )
    problem = only_problem(path)
    assert (problem.path, problem.message) == (
        "probes[0].alert.quorum",
        "expected a whole number, not true/false",
    )


def test_a_step_timeout_longer_than_the_interval(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        """
        probes:
          - name: x
            interval: 30s
            steps:
              - {name: slow, request: {url: "http://127.0.0.1:9/", timeout: 1h}}
        """,
    )
    assert only_problem(path).message == (
        "the timeout of step `slow` (1h) is longer than interval (30s): a run must end before the next is due"
    )


def test_a_quorum_needs_as_many_locations_and_no_more(tmp_path: Path) -> None:
    path = tmp_path / "quorum.yaml"
    reachable = (
        "probes:\n"
        "  - name: login\n"
        "    locations: [fra, iad]\n"
        "    request: {url: 'http://127.0.0.1/'}\n"
        "    alert: {quorum: 2}\n"
    )
    path.write_text(reachable)
    [login] = load_config(path).probes
    assert (login.locations, login.alert.quorum) == (["fra", "iad"], 2)

    path.write_text(
        reachable + "  - name: signup\n    request: {url: 'http://127.0.0.1/'}\n"
        "    alert: {quorum: 3}\n"
    )
    with pytest.raises(ConfigError) as caught:
        load_config(path)
    assert [str(problem) for problem in caught.value.problems] == [
        f"{path}:6:5: probes[1]: alert.quorum 3 is more than the 1 location(s) the probe runs "
        "from: no incident could ever open",
    ]


def test_oncall_names_must_exist_and_point_at_the_line(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "oncall.yaml",
        """
        defaults: {policy: api-critical}
        probes:
          - {name: login, request: {url: "http://127.0.0.1:9/"}, alert: {policy: api-critcal}}
        people:
          - {id: alice, name: Alice, phone: "+49 151 1000-0001"}
          - {id: bob, name: Bob, phone: "12345"}
        schedules:
          - name: primary
            timezone: Europe/Berlin
            layers:
              - rotation: {every: 1w, handoff: "mon 09:00", members: [alice, bobb]}
        policies:
          - name: api-critical
            levels:
              - {notify: [{schedule: secondary, via: [webhook]}], escalate_after: 5m}
        messages:
          sms: "[MON-{{ incident.id }}] {{ incident.nme }}"
        """,
    )
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    found = {(p.location.line, p.path): p.message for p in raised.value.problems}
    assert "is not an E.164 phone number" in found[(6, "people[1].phone")]
    # Reported once the people are valid: one round of errors per fix is what the loader gives.
    bob_fixed = path.read_text().replace('"12345"', '"+12125550100"')
    path.write_text(bob_fixed)
    with pytest.raises(ConfigError) as raised:
        load_config(path, environ={})
    found = {(p.location.line, p.path): p.message for p in raised.value.problems}
    assert found == {
        (3, "probes[0].alert.policy"): "no policy `api-critcal` (did you mean `api-critical`?)",
        (
            11,
            "schedules[0].layers[0].rotation.members[1]",
        ): "no person `bobb` (did you mean `bob`?)",
        (15, "policies[0].levels[0].notify[0].schedule"): (
            "no schedule `secondary`; defined: primary"
        ),
        (15, "policies[0].levels[0].notify[0].via[0]"): (
            "the webhook channel has no URL: add `channels: {webhook: {url: ...}}`"
        ),
        (17, "messages.sms"): (
            "`incident` has no field `nme` (it has id, probe, group, severity, state, rule, "
            "figures, cause, opened_at, resolved_at, acknowledged_by), when rendered for an incident"
        ),
    }


def test_a_phone_number_is_stored_without_separators(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        "p.yaml",
        'people:\n  - {id: alice, name: Alice, phone: "+49 (151) 1000-0001"}\n',
    )
    assert load_config(path, environ={}).config.people[0].phone == "+4915110000001"
