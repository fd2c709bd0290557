"""Fuzzing the admin API with schemathesis, from the OpenAPI document the server itself serves (`GET /openapi`).

For every operation, a fixed number of examples that follow the schema and as many that break it
(hypothesis with a fixed seed). Every answer must be in the admin API's error shape, no 5xx may
come from a bug of ours, the server's log must show no traceback, and afterwards every process is
still the same one. Run with `-s` to see the counts (they are also in the failure message).
"""

from __future__ import annotations

import itertools
import time
from typing import Any
from urllib.parse import urlsplit

import hypothesis
import requests
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from schemathesis.generation import GenerationMode

from tests.fuzz.conftest import FuzzTarget
from tests.fuzz.ingress_cases import BAD_BODIES
from tests.fuzz.shapes import Tally, admin_problem

SEED = 20261202
EXAMPLES = 10  # per operation and generation mode
REQUEST_TIMEOUT_S = 20.0
# Discovery of a generated URI goes here instead: a closed port answers at once, where a made-up
# host could keep discovery waiting for its timeouts.
CLOSED = "127.0.0.1:1"


def test_admin_openapi_fuzz(target: FuzzTarget) -> None:
    server = target.server
    before = target.before()
    schema = schemathesis.openapi.from_url(f"{server.admin_url}/openapi")
    tally = Tally("admin API (schemathesis)")
    operations, not_generated = 0, []
    started = time.monotonic()
    with requests.Session() as session:
        for result in schema.get_all_operations():
            operation = result.ok()
            operations += 1
            for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
                try:
                    run_examples(operation, mode, server.admin_url, session, tally)
                except hypothesis.errors.HypothesisException as exc:  # e.g. nothing to break in a GET without input
                    not_generated.append(f"{operation.method.upper()} {operation.path} {mode.value}: {exc!r}")
    elapsed = time.monotonic() - started
    after = target.problems_since(before)
    summary = (
        f"{tally.summary()}\n{operations} operations, {EXAMPLES} examples per operation and mode "
        f"({len(not_generated)} operation/mode pairs without negative examples)\n"
        f"afterwards: {after or 'healthy'}; {elapsed:.1f}s"
    )
    print(f"\n{summary}")
    assert operations >= 15 and tally.sent >= 15 * EXAMPLES, summary
    assert not tally.unhandled and not after, summary


def run_examples(
    operation: Any, mode: GenerationMode, base_url: str, session: requests.Session, tally: Tally
) -> None:
    @hypothesis.seed(SEED)
    @settings(
        max_examples=EXAMPLES, deadline=None, database=None, phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck), derandomize=False,
    )  # fmt: skip
    @hypothesis.given(case=operation.as_strategy(generation_mode=mode))
    def examples(case: Any) -> None:
        send(case, base_url, session, tally)

    examples()


def send(case: Any, base_url: str, session: requests.Session, tally: Tally) -> None:
    redirect_discovery(case)
    method, route = case.method.upper(), case.operation.path
    what = f"{method} {case.formatted_path[:100]}"
    try:
        resp = case.call(base_url=base_url, session=session, timeout=REQUEST_TIMEOUT_S, allow_redirects=False)
    except requests.RequestException as exc:
        tally.record("no answer", f"{type(exc).__name__}: {exc}", what)
        return
    headers = {k.lower(): v[0] if isinstance(v, list) else v for k, v in resp.headers.items()}
    tally.record(str(resp.status_code), admin_problem(method, route, resp.status_code, headers, resp.content), what)


def redirect_discovery(case: Any) -> None:
    """Points a registration's http(s) URI at a closed port (the path and query stay as generated)."""
    body = case.body
    if case.operation.path != "/deployments" or not isinstance(body, dict) or not isinstance(body.get("uri"), str):
        return
    try:
        parts = urlsplit(body["uri"])
    except ValueError:
        return
    if parts.scheme.lower() in ("http", "https") and parts.netloc:
        body["uri"] = parts._replace(scheme="http", netloc=CLOSED).geturl()


# --- Bodies schemathesis does not write: not JSON at all, or JSON that serde_json refuses -----------------------

BROKEN_JSON_BODIES = [
    *BAD_BODIES,
    b'{"query":"\\ud800"}', b'{"uri":"\\udc00"}', b'{"uri":"http://127.0.0.1:1/","x":"\\ud800"}',
    b'{"object_key":"\\ud800","new_state":{}}', b'{"object_key":"k","new_state":{"a":[1,' + b"[" * 3000 + b"}",
    b'{"public":"\\ud800\\u0041"}', b'["\\ud800"]', b'{"query":1e400}', b'{"x":' + b"{" * 100_000,
    b'{"abort_timeout":"99999999999999999999999d"}', b'{"inactivity_timeout":"631107417601s"}', b'[null,"P7304485D"]',
]  # fmt: skip
JSON = {"content-type": "application/json"}
PATH_VALUES = {"deployment": "dp_10nkKoVeh1nvTe4KYSahBS1", "service": "Greeter", "handler": "greet",
               "invocation_id": "inv_1arJqkEd7c2K5D6QZl1EpZ9Swb2nQWoDR4", "cluster_name": "dyn",
               "subscription": "sub_1020ZhuLtXKOXg0DnE8ERnr"}  # fmt: skip


def test_admin_malformed_bodies(target: FuzzTarget) -> None:
    """Every operation that reads a body gets each broken body (under each of the API's versions)."""
    server = target.server
    before = target.before()
    document = requests.get(f"{server.admin_url}/openapi", timeout=REQUEST_TIMEOUT_S).json()
    tally = Tally("admin API, broken bodies")
    with requests.Session() as session:
        for route, item in document["paths"].items():
            path = route.format(**PATH_VALUES)
            for method, operation in item.items():
                if "requestBody" not in operation:
                    continue
                for prefix, body in itertools.product(("", "/v2", "/v4"), BROKEN_JSON_BODIES):
                    what = f"{method.upper()} {prefix}{path} {body[:40]!r}"
                    url = f"{server.admin_url}{prefix}{path}"
                    try:
                        resp = session.request(method.upper(), url, data=body, headers=JSON, timeout=REQUEST_TIMEOUT_S)
                    except requests.RequestException as exc:
                        tally.record("no answer", f"{type(exc).__name__}: {exc}", what)
                        continue
                    headers = {k.lower(): v for k, v in resp.headers.items()}
                    problem = admin_problem(method.upper(), route, resp.status_code, headers, resp.content)
                    tally.record(str(resp.status_code), problem, what)
    after = target.problems_since(before)
    summary = f"{tally.summary()}\nafterwards: {after or 'healthy'}"
    print(f"\n{summary}")
    assert tally.sent > 100 and not tally.unhandled and not after, summary
