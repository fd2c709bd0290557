"""Restate-compatible durable execution runtime; the SDK lives in restate.sdk.

`import restate` stays cheap for the server: the SDK's public names (`restate.Service`, `restate.app`, ...)
are resolved from `restate.sdk` on first access, and the official SDK's module paths (`restate.serde`,
`restate.exceptions`, `restate.context`, ...) are aliases of the matching `restate.sdk` modules, so services
written for the official `restate-sdk` import unchanged. Real submodules (`restate.protocol`, `restate.ids`,
...) always win over the aliases.
"""

from __future__ import annotations

import importlib
import sys
from importlib.machinery import ModuleSpec
from types import ModuleType
from typing import Any

#: official-SDK module path under `restate.` -> module under `restate.sdk.`
_SDK_MODULE_ALIASES = {
    "asyncio": "combinators",
    "client": "client",
    "context": "context",
    "discovery": "discovery",
    "endpoint": "asgi",
    "exceptions": "exceptions",
    "handler": "handler",
    "harness": "harness",
    "logging": "sdk_logging",
    "object": "object",
    "retry_policy": "retry_policy",
    "serde": "serde",
    "server_context": "server_context",
    "service": "service",
    "workflow": "workflow",
}


class _SdkAliasFinder:
    """Meta path finder + loader: imports `restate.<alias>` as the module `restate.sdk.<target>`."""

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        prefix, _, alias = fullname.partition(".")
        if prefix != "restate" or alias not in _SDK_MODULE_ALIASES:
            return None
        return ModuleSpec(fullname, self)  # type: ignore[arg-type]  # duck-typed loader

    def create_module(self, spec: ModuleSpec) -> ModuleType:
        module = importlib.import_module("restate.sdk." + _SDK_MODULE_ALIASES[spec.name.partition(".")[2]])
        spec.loader_state = module.__spec__  # the import system overwrites __spec__; exec_module restores it
        return module

    def exec_module(self, module: ModuleType) -> None:
        alias_spec = module.__spec__
        if alias_spec is not None and alias_spec.loader_state is not None:
            module.__spec__ = alias_spec.loader_state


if not any(isinstance(f, _SdkAliasFinder) for f in sys.meta_path):
    sys.meta_path.append(_SdkAliasFinder())


#: The SDK's public names (== restate.sdk.__all__, checked by a unit test), resolved lazily.
SDK_NAMES = frozenset(
    {
        "BytesSerde", "Context", "DefaultSerde", "DurablePromise", "Endpoint", "HarnessEnvironment", "HttpError",
        "InvocationRetryPolicy", "JsonSerde", "KeyValueStore", "MsgspecJsonSerde", "ObjectContext",
        "ObjectSharedContext", "PydanticJsonSerde", "Request", "RestateClient", "RestateClientSendHandle",
        "RestateDurableCallFuture", "RestateDurableFuture", "RestateDurableSleepFuture", "RestateLoggingFilter",
        "RetryableError", "RunOptions", "ScopedContext", "SdkInternalBaseException", "SendHandle", "Serde", "Service",
        "TerminalError", "VirtualObject", "Workflow", "WorkflowContext", "WorkflowSharedContext", "app",
        "as_completed", "create_client", "create_test_harness", "gather", "getLogger", "is_internal_exception",
        "select", "serve", "test_harness", "wait_completed",
    }
)  # fmt: skip


__all__ = sorted(SDK_NAMES)


def __getattr__(name: str) -> Any:
    """`restate.<name>` for the SDK's public names (imports restate.sdk on first use)."""
    if name not in SDK_NAMES:
        raise AttributeError(f"module 'restate' has no attribute {name!r}")
    return getattr(importlib.import_module("restate.sdk"), name)


def __dir__() -> list[str]:
    return sorted(set(globals()) | SDK_NAMES)
