"""The ingress error shape, the CORS headers of every response, and the OPTIONS preflight answer."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from restate.ipc.partition_rpc import Overloaded

Headers = list[tuple[bytes, bytes]]

_json = msgspec.json.Encoder()

APPLICATION_JSON = (b"content-type", b"application/json")
# tower-http's `CorsLayer::very_permissive()`, as the real ingress installs it.
VARY = (b"vary", b"origin, access-control-request-method, access-control-request-headers")
ALLOW_CREDENTIALS = (b"access-control-allow-credentials", b"true")


class IngressError(Exception):
    """A request the ingress refuses (or an invocation's terminal failure), rendered in Restate's shape.

    `code` goes into the body as is; `status` is the HTTP status (they differ only for failures whose
    code is not a usable HTTP status).
    """

    def __init__(
        self,
        code: int,
        message: str,
        *,
        source: str = "ingress",
        metadata: Sequence[tuple[str, str]] = (),
        status: int | None = None,
        stacktrace: str | None = None,
    ) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.source = source
        self.metadata = metadata
        self.status = code if status is None else status
        self.stacktrace = stacktrace

    def body(self) -> bytes:
        doc: dict[str, object] = {"code": self.code, "message": self.message}
        if self.stacktrace:
            doc["stacktrace"] = self.stacktrace
        if self.metadata:
            doc["metadata"] = dict(self.metadata)
        doc["source"] = self.source
        return _json.encode(doc)


def invocation_failure(
    code: int, message: str, metadata: Sequence[tuple[str, str]] = (), stacktrace: str | None = None
) -> IngressError:
    """The terminal failure of an invocation; the status is the code when it is a valid final HTTP status.

    The real server takes any code hyper accepts (`StatusCode::from_u16`: 100..=999) and falls back to
    500; hyper then turns a 1xx final response into a 500 itself, so only 200..=999 survive.
    """
    if not 0 <= code <= 0xFFFF:
        code = 500  # Restate's error codes are u16; wider ones become INTERNAL
    status = code if 200 <= code <= 999 else 500
    return IngressError(code, message, source="invocation", metadata=metadata, status=status, stacktrace=stacktrace)


# --- the route-level errors with their exact messages (restate `handler/error.rs`) -------------------

NOT_FOUND = "not found"
METHOD_NOT_ALLOWED = "method not allowed"
BAD_SERVICE_PATH = "bad path, expected either /:service-name/:handler or /:object-name/:object-key/:handler"
BAD_AWAKEABLES_PATH = "bad path, expected either /restate/awakeables/:id/resolve or /restate/awakeables/:id/reject"
BAD_INVOCATION_PATH = (
    "bad path, expected either /restate/invocation/:invocation_id/output or "
    "/restate/invocation/:invocation_id/attach or "
    "/restate/invocation/:invocation_target/:idempotency_key/output or "
    "/restate/invocation/:invocation_target/:idempotency_key/attach"
)
BAD_WORKFLOW_PATH = (
    "bad path, expected either /restate/workflow/:workflow_name/:workflow_key/output or "
    "/restate/workflow/:workflow_name/:workflow_key/attach"
)
BAD_RESTATE_API_PATH = (
    "bad path, expected /restate/call/:service/:handler, /restate/send/:service/:handler, "
    "/restate/scope/:scope/call/:service/:handler, /restate/attach/:invocation_id, "
    "/restate/output/:invocation_id, or /restate/lookup"
)
PRIVATE_SERVICE = "the invoked service is not public"
UNSUPPORTED_DELAY = "cannot use the delay query parameter with calls. The delay is supported only with sends"
UNSUPPORTED_IDEMPOTENCY_KEY = (
    "cannot use the idempotency key with workflow handlers. "
    "The handler invocation will already be idempotent by the workflow key itself."
)
SCOPE_REQUIRES_VQUEUES = "scoped invocations require vqueues to be enabled"
LIMIT_KEY_WITHOUT_SCOPE = "limit-key requires a scope to be set"
# Not a real-server message: the real ingress always has a schema. Ours waits for admin's first push.
SCHEMA_NOT_READY = (
    "internal routing error: the service registry is not available yet. You may safely retry the request."
)
BODY_TOO_LARGE = "cannot read body: LengthLimitError"
# Not a real-server message: what a request that hit a bug of ours gets (it is logged with its traceback).
INTERNAL_ERROR = "internal error while handling the request"
INVOCATION_NOT_FOUND = "invocation not found"
NOT_READY = "the invocation exists but has not completed yet"


def not_found() -> IngressError:
    return IngressError(404, NOT_FOUND)


def method_not_allowed() -> IngressError:
    return IngressError(405, METHOD_NOT_ALLOWED)


def bad_request(message: str) -> IngressError:
    return IngressError(400, message)


def service_not_found(service: str) -> IngressError:
    return IngressError(404, f"service '{service}' not found, make sure to register the service before calling it.")


def handler_not_found(service: str, handler: str) -> IngressError:
    return IngressError(
        404,
        f"the service '{service}' exists, but the handler '{handler}' was not found, check that the handler "
        "exists in the latest registered service version.",
    )


def bad_header(name: str) -> IngressError:
    return IngressError(400, f"bad header {name}: ToStrError {{ _priv: () }}")


def invocation_not_found() -> IngressError:
    return IngressError(404, INVOCATION_NOT_FOUND)


def not_ready() -> IngressError:
    return IngressError(470, NOT_READY)


def body_error(detail: str) -> IngressError:
    """An unreadable body (`HandlerError::Body`): 500, as the real server answers a malformed target body."""
    return IngressError(500, f"cannot read body: {detail}")


TOO_MANY_REQUESTS = "too many requests, the ingress is overloaded. Retry later."


def too_many_requests() -> IngressError:
    """The real server's overload answer (its ingress load shedding): 429, nothing was done."""
    return IngressError(429, TOO_MANY_REQUESTS)


def invocation_dispatch_error(exc: Exception) -> IngressError:
    """Creating an invocation failed on the way to the partition."""
    if isinstance(exc, Overloaded):
        return too_many_requests()
    return IngressError(
        503,
        f"internal routing error: {exc}. If the request has an 'idempotency-key', it can be safely "
        "retried, otherwise submitting it again may result in executing the invocation twice.",
    )


def read_dispatch_error(exc: Exception) -> IngressError:
    """A read (attach, output) failed on the way to the partition."""
    if isinstance(exc, Overloaded):
        return too_many_requests()
    return IngressError(503, f"internal routing error: {exc}. You may safely retry the request.")


def write_dispatch_error(exc: Exception) -> IngressError:
    """A write that is not an invocation (awakeable completion) failed on the way to the partition."""
    if isinstance(exc, Overloaded):
        return too_many_requests()
    return IngressError(
        503, f"internal routing error: {exc}. Submitting the request again may result in executing the operation twice."
    )


# --- response headers ----------------------------------------------------------------------------------


def cors_headers(origin: bytes | None) -> Headers:
    """The headers the CORS layer adds to every non-preflight response."""
    if origin is None:
        return [VARY, ALLOW_CREDENTIALS]
    return [VARY, ALLOW_CREDENTIALS, (b"access-control-allow-origin", origin)]


def error_headers(
    err: IngressError, origin: bytes | None, invocation_id: str | None, length: int, expires: str | None = None
) -> Headers:
    """Headers of an error response, in the order the real server writes them."""
    headers: Headers = []
    if invocation_id is not None:
        headers.append((b"x-restate-id", invocation_id.encode()))
    if expires is not None:
        headers.append((b"idempotency-expires", expires.encode()))
    headers.append((b"x-restate-error-source", err.source.encode()))
    headers.append(APPLICATION_JSON)
    headers.extend(cors_headers(origin))
    headers.append((b"content-length", str(length).encode()))
    return headers


def preflight_headers(origin: bytes | None, request_method: bytes | None, request_headers: bytes | None) -> Headers:
    """The 200 answer to any OPTIONS request: the requested origin, method and headers are mirrored."""
    headers: Headers = [ALLOW_CREDENTIALS, VARY]
    if request_method is not None:
        headers.append((b"access-control-allow-methods", request_method))
    if request_headers is not None:
        headers.append((b"access-control-allow-headers", request_headers))
    if origin is not None:
        headers.append((b"access-control-allow-origin", origin))
    headers.append((b"content-length", b"0"))
    return headers
