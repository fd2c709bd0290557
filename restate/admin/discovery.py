"""Deployment discovery: `GET /discover` over h2c (or HTTP/1.1), retried, then parsed as a manifest."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from http import HTTPStatus

from restate.admin.errors import AdminError, discovery_failed
from restate.admin.manifest import ACCEPT, Discovered, HttpVersion, parse_manifest
from restate.invoker.http_common import ResponseHead, TransportError

log = logging.getLogger(__name__)

CLUSTER_NAME = "localcluster"
RETRYABLE_STATUS = frozenset({408, 429, 500, 502, 503, 504})
ATTEMPTS = 3
BACKOFF_S = 0.1
TIMEOUT_S = 10.0

Request = Callable[[str, list[tuple[str, str]]], Awaitable[tuple[ResponseHead, bytes]]]


def discovery_headers(additional: dict[str, str]) -> list[tuple[str, str]]:
    """The request headers of `GET /discover`, as the real server sends them."""
    return [("accept", ACCEPT), ("x-restate-cluster-name", CLUSTER_NAME), *additional.items()]


async def discover(uri: str, additional_headers: dict[str, str], use_http_11: bool) -> Discovered:
    """Runs discovery against `uri` with a fresh client; raises AdminError (500 META0003/...) on failure."""
    if use_http_11:
        from restate.invoker.http1 import Http1Client

        client1 = Http1Client()
        try:
            return await discover_with(client1.request, uri, additional_headers, "HTTP/1.1")
        finally:
            await _close(client1)
    from restate.invoker.http2 import Http2Pool

    pool = Http2Pool()
    try:
        return await discover_with(pool.request, uri, additional_headers, "HTTP/2.0")
    finally:
        await pool.close()


async def _close(client: object) -> None:
    close = getattr(client, "close", None)
    if close is not None:
        result = close()
        if asyncio.iscoroutine(result):
            await result


async def discover_with(
    request: Callable[..., Awaitable[tuple[ResponseHead, bytes]]],
    uri: str,
    additional_headers: dict[str, str],
    http_version: HttpVersion,
) -> Discovered:
    """Discovery through any client with the invoker clients' `request` signature."""
    headers = discovery_headers(additional_headers)
    head, body = await _fetch(request, uri, headers)
    return parse_manifest(head.get("content-type"), body, http_version, head.get("x-restate-server"))


async def _fetch(
    request: Callable[..., Awaitable[tuple[ResponseHead, bytes]]], uri: str, headers: list[tuple[str, str]]
) -> tuple[ResponseHead, bytes]:
    error: AdminError | None = None
    for attempt in range(ATTEMPTS):
        if attempt:
            await asyncio.sleep(BACKOFF_S * 2 ** (attempt - 1))
        try:
            head, body = await request(uri, "GET", "/discover", headers, b"", TIMEOUT_S)
        except TransportError as exc:
            error = discovery_failed("META0003", f"error when calling '{uri}': {exc}")
            continue
        except OSError as exc:  # a client that lets socket errors through
            error = discovery_failed("META0003", f"error when calling '{uri}': {exc}")
            continue
        if 200 <= head.status < 300:
            return head, body
        error = _status_error(head, body)
        if head.status not in RETRYABLE_STATUS:
            break
    assert error is not None
    log.warning("discovery of %s failed: %s", uri, error.message)
    raise error


def _status_error(head: ResponseHead, body: bytes) -> AdminError:
    shown = "{" + ", ".join(f'"{k}": "{v}"' for k, v in head.headers) + "}"
    text = body.decode("utf-8", "replace")
    if head.status == 404:
        return discovery_failed(
            "META0003",
            "got status code '404'. Make sure the provided URI has the correct path where the Restate SDK "
            f"endpoint is mounted. Response headers: {shown}. Body: {text}",
        )
    try:
        status = f"{head.status} {HTTPStatus(head.status).phrase}"
    except ValueError:
        status = str(head.status)
    return discovery_failed("META0003", f"got status code '{status}'. Response headers: {shown}. Body: {text}")
