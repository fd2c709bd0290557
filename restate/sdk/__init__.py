"""A pure-Python Restate SDK, API-compatible with the official `restate-sdk` 1.3.0 (importable as `restate`).

Depends on `restate.protocol` (the codec) only, never on the server. The HTTP client and the test harness
(`create_client`, `create_test_harness`, `serve`) are loaded on first use.
"""

from __future__ import annotations

from typing import Any

from restate.sdk.asgi import Endpoint, app
from restate.sdk.combinators import as_completed, gather, select, wait_completed
from restate.sdk.context import (
    Context,
    DurablePromise,
    KeyValueStore,
    ObjectContext,
    ObjectSharedContext,
    Request,
    RestateDurableCallFuture,
    RestateDurableFuture,
    RestateDurableSleepFuture,
    RunOptions,
    ScopedContext,
    SendHandle,
    WorkflowContext,
    WorkflowSharedContext,
)
from restate.sdk.exceptions import (
    RetryableError,
    SdkInternalBaseException,
    TerminalError,
    is_internal_exception,
)
from restate.sdk.object import VirtualObject
from restate.sdk.retry_policy import InvocationRetryPolicy
from restate.sdk.sdk_logging import RestateLoggingFilter, getLogger
from restate.sdk.serde import BytesSerde, DefaultSerde, JsonSerde, MsgspecJsonSerde, PydanticJsonSerde, Serde
from restate.sdk.service import Service
from restate.sdk.workflow import Workflow

__all__ = [
    "BytesSerde",
    "Context",
    "DefaultSerde",
    "DurablePromise",
    "Endpoint",
    "HarnessEnvironment",
    "HttpError",
    "InvocationRetryPolicy",
    "JsonSerde",
    "KeyValueStore",
    "MsgspecJsonSerde",
    "ObjectContext",
    "ObjectSharedContext",
    "PydanticJsonSerde",
    "Request",
    "RestateClient",
    "RestateClientSendHandle",
    "RestateDurableCallFuture",
    "RestateDurableFuture",
    "RestateDurableSleepFuture",
    "RestateLoggingFilter",
    "RetryableError",
    "RunOptions",
    "ScopedContext",
    "SdkInternalBaseException",
    "SendHandle",
    "Serde",
    "Service",
    "TerminalError",
    "VirtualObject",
    "Workflow",
    "WorkflowContext",
    "WorkflowSharedContext",
    "app",
    "as_completed",
    "create_client",
    "create_test_harness",
    "gather",
    "getLogger",
    "is_internal_exception",
    "select",
    "serve",
    "test_harness",
    "wait_completed",
]

# name -> module, imported on first access (they pull in httpx / hypercorn)
_LAZY = {
    "create_client": "restate.sdk.client",
    "RestateClient": "restate.sdk.client",
    "RestateClientSendHandle": "restate.sdk.client",
    "HttpError": "restate.sdk.client",
    "create_test_harness": "restate.sdk.harness",
    "test_harness": "restate.sdk.harness",
    "HarnessEnvironment": "restate.sdk.harness",
    "serve": "restate.sdk.serving",
}


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'restate.sdk' has no attribute {name!r}")
    import importlib  # noqa: PLC0415 - lazy by design

    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value
