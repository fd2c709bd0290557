"""A runnable Restate app: a service (Greeter), a virtual object (Counter) and a workflow (Signup).

Our SDK: `.venv/bin/python examples/app.py`; the official restate-sdk runs it unchanged:
`.venv-official/bin/python examples/app.py`. It listens on 127.0.0.1:9080 (`--host`, `--port`);
register it with `restate deployments register http://localhost:9080` (README, Quick start).
"""

from __future__ import annotations

import argparse
import asyncio

import restate

# --- a service: stateless handlers -----------------------------------------------------------

greeter = restate.Service("Greeter")


@greeter.handler()
async def greet(ctx: restate.Context, name: str) -> str:
    """Greets `name`; the greeting is a journaled step, so a retried attempt reuses it."""
    return await ctx.run_typed("compose greeting", lambda: f"Hello {name}!")


# --- a virtual object: state per key, one exclusive call per key at a time ---------------------

counter = restate.VirtualObject("Counter")


@counter.handler()
async def add(ctx: restate.ObjectContext, delta: int) -> int:
    """Adds `delta` to this key's count and returns the new count (no lost updates: calls queue per key)."""
    count = (await ctx.get("count", type_hint=int) or 0) + delta
    ctx.set("count", count)
    return count


@counter.handler(kind="shared")
async def get(ctx: restate.ObjectSharedContext) -> int:
    """The current count; shared handlers run concurrently with the exclusive ones."""
    return await ctx.get("count", type_hint=int) or 0


# --- a workflow: `run` once per key, waiting durably on a promise other handlers resolve -------

signup = restate.Workflow("Signup")


def _send_confirmation_email(email: str, key: str) -> str:
    # Stands in for a real email: a step journaled by ctx.run is not repeated on a retry.
    print(f"to {email}: please confirm your signup (POST /Signup/{key}/confirm on the ingress)", flush=True)
    return "sent"


@signup.main()
async def run(ctx: restate.WorkflowContext, email: str) -> str:
    """Sends a confirmation email, then waits (for days if need be) until `confirm` is called."""
    await ctx.run_typed("send confirmation email", _send_confirmation_email, email=email, key=ctx.key())
    await ctx.promise("confirmed", type_hint=bool).value()
    return f"{email} is signed up"


@signup.handler()
async def confirm(ctx: restate.WorkflowSharedContext) -> str:
    """Resolves the promise `run` waits on (before or after `run` reaches it)."""
    await ctx.promise("confirmed", type_hint=bool).resolve(True)
    return "confirmed"


app = restate.app(services=[greeter, counter, signup])


# --- serving ----------------------------------------------------------------------------------


def _host(text: str) -> str:
    if not text.strip("[]"):
        raise argparse.ArgumentTypeError("the host is empty: give an address such as 127.0.0.1 or 0.0.0.0")
    return text.strip("[]")


def _port(text: str) -> int:
    if not text.isdigit() or int(text) > 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port number (0-65535)")
    return int(text)


def _serve_with_hypercorn(host: str, port: int) -> None:
    """Serve `app` under hypercorn with Restate's settings (the official SDK has no `restate.serve`)."""
    from hypercorn.asyncio import serve
    from hypercorn.config import Config

    config = Config()
    config.bind = [f"[{host}]:{port}" if ":" in host else f"{host}:{port}"]
    # hypercorn's defaults (100 streams, 1000 requests per connection) would cut the server's invocations
    config.h2_max_concurrent_streams = 2**31 - 1
    config.keep_alive_max_requests = 2**31 - 1
    config.keep_alive_timeout = 600
    asyncio.run(serve(app, config))  # stops on Ctrl+C / SIGTERM


def main() -> None:
    parser = argparse.ArgumentParser(description="A Restate app: Greeter, Counter and Signup.")
    parser.add_argument("--host", type=_host, default="127.0.0.1", help="interface to listen on (0.0.0.0: every one)")
    parser.add_argument("--port", type=_port, default=9080, help="port to listen on (default 9080)")
    args = parser.parse_args()
    try:
        if hasattr(restate, "serve"):  # our SDK
            restate.serve(app, host=args.host, port=args.port)
        else:
            _serve_with_hypercorn(args.host, args.port)
    except OSError as exc:  # e.g. the port is taken
        parser.exit(1, f"cannot serve on {args.host}:{args.port}: {exc}\n")


if __name__ == "__main__":
    main()
