"""What every fuzzed answer must look like (HTTP-API.md 1.10 and 2.3), and the counts each fuzz test reports.

An "unhandled error" is a 5xx that is not one of the documented ones (a failed invocation, an
unreadable body, a routing or discovery failure, a failed query, graceful deployment removal), a
body that is not in the API's error shape, a request the server dropped or never answered, or a
traceback in the server's log.
"""

from __future__ import annotations

import json
import re
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field

INGRESS_ERROR_KEYS = {"code", "message", "metadata", "stacktrace", "source"}
_LOG_PROBLEM = re.compile(r"Traceback \(most recent call last\)|Exception in ASGI application|\bCRITICAL\b")


@dataclass
class Tally:
    """Requests sent, statuses seen and the unhandled errors found, for the test's summary."""

    name: str
    sent: int = 0
    statuses: Counter[str] = field(default_factory=Counter)
    unhandled: list[str] = field(default_factory=list)

    def record(self, status: str, problem: str | None, what: str) -> None:
        self.sent += 1
        self.statuses[status] += 1
        if problem is not None:
            self.unhandled.append(f"{what}: {problem}")

    def summary(self) -> str:
        statuses = ", ".join(f"{status}: {count}" for status, count in sorted(self.statuses.items()))
        head = f"{self.name}: {self.sent} requests sent; statuses {{{statuses}}}"
        lines = [f"{head}; unhandled errors: {len(self.unhandled)}"]
        lines += [f"  - {problem}" for problem in self.unhandled[:20]]
        return "\n".join(lines)


def _json_object(body: bytes) -> dict[str, object] | None:
    try:
        value = json.loads(body)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def ingress_problem(status: int, headers: Mapping[str, str], body: bytes, head: bool = False) -> str | None:
    """Why an ingress answer breaks the rules, or None. `head`: the answer to a HEAD request (no body)."""
    if status < 400:
        return None
    if status == 400 and not body and "content-type" not in headers:
        return None  # the request was not HTTP/1.1 at all: hyper's bare 400 (restate.ingress.bare_bad_request)
    if head:
        shaped = headers.get("content-type") == "application/json" and "x-restate-error-source" in headers
        return None if shaped else f"{status} to HEAD without the error headers"
    doc = _json_object(body)
    if headers.get("content-type") != "application/json" or doc is None:
        return f"{status} not in the error shape: {body[:200]!r}"
    code, message, source = doc.get("code"), doc.get("message"), doc.get("source")
    if not set(doc) <= INGRESS_ERROR_KEYS or not isinstance(code, int) or not isinstance(message, str):
        return f"{status} not in the error shape: {body[:200]!r}"
    if source not in ("ingress", "invocation") or headers.get("x-restate-error-source") != source:
        return f"{status} with source {source!r}: {body[:200]!r}"
    if status >= 500 and not _documented_ingress_5xx(status, source, message):
        return f"undocumented {status}: {message[:200]}"
    return None


def _documented_ingress_5xx(status: int, source: object, message: str) -> bool:
    if source == "invocation":
        return True  # the invocation failed with that code (a handler's terminal error)
    if status == 500:
        return message.startswith("cannot read body: ")  # an unreadable target body (as the real server)
    return status == 503  # a partition did not answer (routing)


def admin_problem(method: str, route: str, status: int, headers: Mapping[str, str], body: bytes) -> str | None:
    """Why an admin answer breaks the rules, or None. `route` is the path template (`/query`)."""
    if status < 400:
        return None
    content_type = headers.get("content-type")
    if content_type is None:
        if body:
            return f"{status} body without a content type: {body[:200]!r}"
        graceful_delete = (method, route, status) == ("DELETE", "/deployments/{deployment}", 501)
        return None if status < 500 or graceful_delete else f"empty {status}"
    if content_type.startswith("text/plain"):  # axum's extractor rejections
        return None if status < 500 else f"{status} as text: {body[:200]!r}"
    doc = _json_object(body)
    if content_type != "application/json" or doc is None or not isinstance(doc.get("message"), str):
        return f"{status} not in the error shape: {body[:200]!r}"
    if set(doc) - {"message", "restate_code"}:
        return f"{status} with unexpected members: {body[:200]!r}"
    message = str(doc["message"])
    if status >= 500 and not _documented_admin_5xx(route, status, message, doc.get("restate_code")):
        return f"undocumented {status}: {message[:200]}"
    return None


def _documented_admin_5xx(route: str, status: int, message: str, code: object) -> bool:
    if status == 503:
        return True  # a partition did not answer
    if route == "/query":
        return status == 500 and message.startswith("Datafusion error: ")
    if route == "/deployments":
        return status == 500 and isinstance(code, str) and code.startswith("META")  # discovery failed
    return False


def log_problems(text: str) -> list[str]:
    """What the server log shows of bugs of ours: each traceback's exception line, ASGI exceptions."""
    lines = text.splitlines()
    problems = []
    for i, line in enumerate(lines):
        if not _LOG_PROBLEM.search(line):
            continue
        if line.startswith("Traceback"):  # the exception is the first line after the indented frames
            line = next((ln for ln in lines[i + 1 :] if ln and not ln.startswith(" ")), line)
        problems.append(line.strip()[:300])
    return problems
