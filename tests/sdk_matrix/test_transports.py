"""Our SDK beyond the default transport: request/response over HTTP/1.1 (uvicorn), and protocol V7 over h2c.

Each stack: a server (ours / real) plus our SDK serving tests/services/matrix.py either under uvicorn
registered with `use_http_11` (REQUEST_RESPONSE: every await that needs the server suspends and replays),
or under hypercorn with RESTATE_EXPERIMENTAL_ENABLE_PROTOCOL_V7 on the server (V7: ack'ed run proposals,
suspension future trees). A subset of the matrix cases runs on each.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.sdk_matrix import test_matrix as cases
from tests.sdk_matrix.conftest import Stack, UvicornService, make_server, our_sdk_service

TRANSPORTS = [("ours", "uvicorn-rr"), ("real", "uvicorn-rr"), ("ours", "h2c-v7"), ("real", "h2c-v7")]

CASES: list[Callable[[Stack], None]] = [
    cases.test_greet,
    cases.test_steps_with_three_runs,
    cases.test_concurrent_awaits,
    cases.test_void_output,
    cases.test_object_state,
    cases.test_lazy_state,
    cases.test_sleep_suspends_and_resumes,
    cases.test_gather_and_select,
    cases.test_random_and_uuid_are_deterministic_across_replays,
    cases.test_terminal_error,
    cases.test_retryable_error_with_delay,
    cases.test_run_retries,
    cases.test_run_gives_up_after_max_attempts,
    cases.test_call_and_sends,
    cases.test_awakeable_resolved_by_another_handler,
    cases.test_cancel_from_a_handler,
]


@pytest.fixture(scope="session", params=TRANSPORTS, ids=[f"server_{s}-{t}" for s, t in TRANSPORTS])
def transport_stack(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    server_kind, transport = request.param
    root = tmp_path_factory.mktemp(f"transport-{server_kind}-{transport}")
    v7 = {"RESTATE_EXPERIMENTAL_ENABLE_PROTOCOL_V7": "true"} if transport == "h2c-v7" else {}
    server = make_server(server_kind, root, v7)
    service: Any = UvicornService(root / "logs") if transport == "uvicorn-rr" else our_sdk_service(root / "logs")
    server.start()
    try:
        service.start()
        try:
            server.register(service.url, use_http_11=transport == "uvicorn-rr")
            yield Stack("ours", server_kind, server, service, "rr" if transport == "uvicorn-rr" else "bidi")
        finally:
            service.stop()
    finally:
        server.stop()


@pytest.mark.parametrize("case", CASES, ids=[c.__name__.removeprefix("test_") for c in CASES])
def test_case(transport_stack: Stack, case: Callable[[Stack], None]) -> None:
    case(transport_stack)
