"""Fuzzing the ingress with a seeded generator: malformed routes, methods, headers and bodies, then broken HTTP/1.1.

Every answer must be in Restate's error shape (or hyper's bare 400 for what is not HTTP/1.1), no
5xx may come from a bug of ours, no request may be dropped or left hanging, the server's log must
show no traceback, and afterwards every process is still the same one and calls still work.
Run with `-s` to see the counts (they are also in the failure message).
"""

from __future__ import annotations

import asyncio
import time

import httpx

from tests.fuzz.conftest import FuzzTarget
from tests.fuzz.ingress_cases import IngressCases
from tests.fuzz.shapes import Tally, ingress_problem

SEED = 20261202
HTTP_CASES = 300
RAW_CASES = 200
RAW_BATCH = 25  # raw exchanges in flight at once (each waits for the server to go quiet)
IDLE_S = 0.5  # no more bytes for this long: the server has answered (or waits for more request)
EXCHANGE_DEADLINE_S = 10.0


def test_ingress_fuzz(target: FuzzTarget) -> None:
    server = target.server
    before = target.before()
    cases = IngressCases(SEED)
    started = time.monotonic()
    http = fuzz_http(server.ingress_url, cases)
    raw = fuzz_raw(server.ingress_port, cases)
    elapsed = time.monotonic() - started
    after = target.problems_since(before)
    summary = f"{http.summary()}\n{raw.summary()}\nafterwards: {after or 'healthy'}; {elapsed:.1f}s"
    print(f"\n{summary}")
    assert not http.unhandled and not raw.unhandled and not after, summary


def fuzz_http(base_url: str, cases: IngressCases) -> Tally:
    tally = Tally("ingress HTTP requests")
    with httpx.Client(timeout=EXCHANGE_DEADLINE_S) as client:
        for _ in range(HTTP_CASES):
            case = cases.http()
            what = f"{case.method} {case.target[:100]}"
            try:
                resp = client.request(case.method, base_url + case.target, content=case.body, headers=case.headers)
            except httpx.HTTPError as exc:
                tally.record("no answer", f"{type(exc).__name__}: {exc}", what)
                continue
            problem = ingress_problem(resp.status_code, resp.headers, resp.content, head=case.method == "HEAD")
            tally.record(str(resp.status_code), problem, what)
    return tally


def fuzz_raw(port: int, cases: IngressCases) -> Tally:
    tally = Tally("ingress broken HTTP/1.1")
    requests = [cases.raw() for _ in range(RAW_CASES)]
    for request, (received, closed) in zip(requests, asyncio.run(exchange_all(port, requests)), strict=True):
        what = repr(request[:60])
        if not closed:
            tally.record("hung", "the connection stayed open after the request was half-closed", what)
            continue
        try:
            answers = parse_responses(received)
        except ValueError as exc:
            tally.record("garbled", f"{exc}: {received[:120]!r}", what)
            continue
        if not answers:
            tally.record("closed", None, what)  # as hyper does for a request that never completed
        for status, headers, body in answers:
            tally.record(str(status), ingress_problem(status, headers, body), what)
    return tally


async def exchange_all(port: int, requests: list[bytes]) -> list[tuple[bytes, bool]]:
    results: list[tuple[bytes, bool]] = []
    for i in range(0, len(requests), RAW_BATCH):
        results += await asyncio.gather(*(exchange(port, r) for r in requests[i : i + RAW_BATCH]))
    return results


async def exchange(port: int, request: bytes) -> tuple[bytes, bool]:
    """Sends `request`, reads until the server closes; half-closes once the server is quiet. (bytes, closed)"""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    received, half_closed = b"", False
    loop = asyncio.get_running_loop()
    deadline = loop.time() + EXCHANGE_DEADLINE_S
    try:
        writer.write(request)
        while loop.time() < deadline:
            try:
                chunk = await asyncio.wait_for(reader.read(65536), IDLE_S)
            except TimeoutError:
                if not half_closed:
                    half_closed = True
                    writer.write_eof()
                continue
            if not chunk:
                return received, True
            received += chunk
        return received, False
    except (ConnectionError, OSError):
        return received, True  # the server closed (or reset) the connection
    finally:
        writer.close()


def parse_responses(data: bytes) -> list[tuple[int, dict[str, str], bytes]]:
    """HTTP/1.1 responses, one after the other (each with a content-length, as ours always have)."""
    answers = []
    while data:
        head, sep, rest = data.partition(b"\r\n\r\n")
        if not sep:
            raise ValueError("truncated response head")
        status_line, *lines = head.decode("latin-1").split("\r\n")
        version, _, status = status_line.partition(" ")
        if version != "HTTP/1.1" or not status[:3].isdigit():
            raise ValueError(f"bad status line {status_line!r}")
        headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines)}
        length = int(headers.get("content-length", "0"))
        answers.append((int(status[:3]), headers, rest[:length]))
        data = rest[length:]
    return answers
