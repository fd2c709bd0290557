"""The CLI's only way to the server: a small client of the admin HTTP API (HTTP-API.md section 2)."""

from __future__ import annotations

import base64
import hashlib
import os
import struct
from typing import TYPE_CHECKING, Any
from urllib.parse import quote

if TYPE_CHECKING:  # imported when a client is made: `restate up` (and every server child) never needs it
    import httpx

DEFAULT_ADMIN_URL = "http://localhost:9070"
USER_AGENT = "restate-cli-py/0.1"
TIMEOUT_S, CONNECT_TIMEOUT_S = 13.0, 3.0  # the official CLI's request and connect timeouts
INVOCATION_OPS = ("cancel", "kill", "purge", "pause", "resume")

Json = Any


class AdminClientError(Exception):
    """Base of the errors a command reports to the user."""


class Unreachable(AdminClientError):
    """No answer from the admin API (refused, timed out, not HTTP)."""


class ApiError(AdminClientError):
    """The admin API answered with an error status; `message` is its `{"message": ...}` or its text."""

    def __init__(self, status: int, message: str, code: str | None = None) -> None:
        # The server decorates a discovery error twice (`[META0003] [META0003] ...`, as the real one does):
        # the code is shown once.
        shown = message
        while code and shown.startswith(f"[{code}] "):
            shown = shown[len(code) + 3 :]
        super().__init__(f"[{status}] {message}" if not code else f"[{status}] [{code}] {shown}")
        self.status = status
        self.message = message
        self.code = code


def _error_from(response: httpx.Response) -> ApiError:
    message = response.text.strip() or response.reason_phrase or "no message"
    code = None
    if response.headers.get("content-type", "").startswith("application/json"):
        try:
            body = response.json()
        except ValueError:
            body = None
        if isinstance(body, dict) and isinstance(body.get("message"), str):
            message, code = body["message"], body.get("restate_code")
    return ApiError(response.status_code, message, code)


def sql_literal(value: str) -> str:
    """A SQL string literal (single quotes doubled)."""
    return "'" + value.replace("'", "''") + "'"


def state_version(entries: dict[str, bytes]) -> str:
    """The version of an object's state, as the official CLI computes it (HTTP-API.md 2.5)."""
    digest = hashlib.sha256()
    for i, (key, value) in enumerate(sorted(entries.items())):
        digest.update(struct.pack(">Q", i) + b"\x01" + key.encode() + b"\x02" + value + b"\x03")
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode()


def _segment(value: str) -> str:
    return quote(value, safe="")


class AdminClient:
    """Typed calls of the admin API; every failure becomes Unreachable or ApiError."""

    def __init__(self, base_url: str = DEFAULT_ADMIN_URL, http: httpx.Client | None = None) -> None:
        self.base_url = base_url.rstrip("/")
        headers = {"user-agent": USER_AGENT}
        token = os.environ.get("RESTATE_AUTH_TOKEN")
        if token:
            headers["authorization"] = f"Bearer {token}"
        import httpx

        self._transport_error = httpx.TransportError
        self.http = http or httpx.Client(timeout=httpx.Timeout(TIMEOUT_S, connect=CONNECT_TIMEOUT_S), headers=headers)

    def close(self) -> None:
        self.http.close()

    def __enter__(self) -> AdminClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        """Sends one request; a non-2xx answer raises ApiError."""
        try:
            response = self.http.request(method, f"{self.base_url}{path}", **kwargs)
        except self._transport_error as exc:
            raise Unreachable(f"cannot reach the admin API at {self.base_url}: {exc or type(exc).__name__}") from exc
        if not 200 <= response.status_code < 300:
            raise _error_from(response)
        return response

    def _json(self, method: str, path: str, **kwargs: Any) -> Json:
        response = self.request(method, path, **kwargs)
        try:
            return response.json()
        except ValueError as exc:
            raise ApiError(response.status_code, f"expected JSON from {path}, got {response.text[:200]!r}") from exc

    # --- server

    def version(self) -> Json:
        return self._json("GET", "/version")

    def health(self) -> None:
        """GET /health: returns when the admin service answers 2xx."""
        self.request("GET", "/health")

    # --- deployments

    def list_deployments(self) -> list[Json]:
        return list(self._json("GET", "/deployments").get("deployments", []))

    def get_deployment(self, deployment_id: str) -> Json:
        return self._json("GET", f"/deployments/{_segment(deployment_id)}")

    def register_deployment(self, body: dict[str, Any]) -> tuple[int, Json]:
        response = self.request("POST", "/deployments", json=body)
        return response.status_code, response.json()

    def delete_deployment(self, deployment_id: str) -> None:
        self.request("DELETE", f"/deployments/{_segment(deployment_id)}", params={"force": "true"})

    # --- Kafka subscriptions and clusters

    def list_subscriptions(self, sink: str | None = None, source: str | None = None) -> list[Json]:
        params = {k: v for k, v in (("sink", sink), ("source", source)) if v is not None}
        return list(self._json("GET", "/subscriptions", params=params).get("subscriptions", []))

    def get_subscription(self, subscription_id: str) -> Json:
        return self._json("GET", f"/subscriptions/{_segment(subscription_id)}")

    def create_subscription(self, body: dict[str, Any]) -> Json:
        return self._json("POST", "/subscriptions", json=body)

    def delete_subscription(self, subscription_id: str) -> None:
        self.request("DELETE", f"/subscriptions/{_segment(subscription_id)}")

    def list_parked(self, subscription_id: str) -> list[Json]:
        return list(self._json("GET", f"/subscriptions/{_segment(subscription_id)}/parked").get("records", []))

    def replay_parked(self, subscription_id: str, partition: int, offset: int, key: str | None) -> Json:
        body = {} if key is None else {"key": key}
        path = f"/subscriptions/{_segment(subscription_id)}/parked/{partition}/{offset}/replay"
        return self._json("POST", path, json=body)

    def drop_parked(self, subscription_id: str, partition: int, offset: int) -> None:
        self.request("DELETE", f"/subscriptions/{_segment(subscription_id)}/parked/{partition}/{offset}")

    def list_kafka_clusters(self) -> list[Json]:
        return list(self._json("GET", "/kafka-clusters").get("clusters", []))

    def get_kafka_cluster(self, name: str, include_subscriptions: bool = False) -> Json:
        params = {"include_subscriptions": "true"} if include_subscriptions else {}
        return self._json("GET", f"/kafka-clusters/{_segment(name)}", params=params)

    def create_kafka_cluster(self, body: dict[str, Any]) -> Json:
        return self._json("POST", "/kafka-clusters", json=body)

    def patch_kafka_cluster(self, name: str, properties: dict[str, str]) -> Json:
        return self._json("PATCH", f"/kafka-clusters/{_segment(name)}", json={"properties": properties})

    def delete_kafka_cluster(self, name: str, force: bool = False) -> None:
        params = {"force": "true"} if force else {}
        self.request("DELETE", f"/kafka-clusters/{_segment(name)}", params=params)

    # --- services

    def list_services(self) -> list[Json]:
        return list(self._json("GET", "/services").get("services", []))

    def get_service(self, name: str) -> Json:
        return self._json("GET", f"/services/{_segment(name)}")

    def patch_service(self, name: str, body: dict[str, Any]) -> Json:
        return self._json("PATCH", f"/services/{_segment(name)}", json=body)

    def replace_state(self, service: str, key: str, new_state: dict[str, bytes], version: str | None) -> None:
        body: dict[str, Any] = {"object_key": key, "new_state": {k: list(v) for k, v in new_state.items()}}
        if version is not None:
            body["version"] = version
        self.request("POST", f"/services/{_segment(service)}/state", json=body)

    # --- invocations

    def invocation_op(self, invocation_id: str, op: str) -> int:
        """PATCH /invocations/{id}/{op}; returns the status code (200 done, 202 accepted)."""
        if op not in INVOCATION_OPS:
            raise ValueError(f"unknown invocation operation {op!r}")
        return self.request("PATCH", f"/invocations/{_segment(invocation_id)}/{op}").status_code

    # --- SQL

    def query(self, sql: str) -> list[dict[str, Json]]:
        """POST /query with JSON rows (null columns are absent from a row, binary columns are hex)."""
        body = self._json("POST", "/query", json={"query": sql}, headers={"accept": "application/json"})
        rows = body.get("rows") if isinstance(body, dict) else None
        if not isinstance(rows, list):
            raise ApiError(200, "the /query answer has no `rows` list")
        return rows
