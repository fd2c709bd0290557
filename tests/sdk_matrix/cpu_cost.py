"""CPU cost per invocation of our SDK vs the official one: `python -m tests.sdk_matrix.cpu_cost [--calls 500]`.

For each server kind (ours, real) and each SDK: a fresh server, the matrix services under hypercorn (h2c,
BIDI_STREAM), 20 warm-up calls, then N sequential calls of `Greeter/steps` (three ctx.run steps). The
figure is the user+system CPU time of the service process (from /proc) over the N calls, per call.
One run; not a test (the numbers go to the report).
"""

from __future__ import annotations

import argparse
import os
import tempfile
from pathlib import Path

from tests.sdk_matrix.conftest import make_server, our_sdk_service
from tests.support import ServiceProcess

WARMUP = 20
_TICK = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """utime + stime of process `pid` (threads included)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / _TICK


def measure(server_kind: str, sdk: str, calls: int, root: Path) -> float:
    """CPU seconds of the service process per call."""
    server = make_server(server_kind, root)
    service = our_sdk_service(root / "logs") if sdk == "ours" else ServiceProcess(root / "logs", module="matrix")
    server.start()
    try:
        service.start()
        try:
            server.register(service.url)
            for i in range(WARMUP):
                assert server.call("Greeter/steps", i).json() == i + 3
            before = cpu_seconds(service.process.pid)
            for i in range(calls):
                resp = server.call("Greeter/steps", i)
                assert resp.status_code == 200 and resp.json() == i + 3, resp.text
            return (cpu_seconds(service.process.pid) - before) / calls
        finally:
            service.stop()
    finally:
        server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--calls", type=int, default=500)
    parser.add_argument("--servers", default="real,ours")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sdk-cpu-"))
    print(f"CPU seconds of the service process per call of Greeter/steps (3 x ctx.run), {args.calls} calls")
    print(f"{'server':8} {'official SDK':>14} {'our SDK':>10} {'ours/official':>14}")
    for server_kind in args.servers.split(","):
        official = measure(server_kind, "official", args.calls, root / f"{server_kind}-official")
        ours = measure(server_kind, "ours", args.calls, root / f"{server_kind}-ours")
        print(f"{server_kind:8} {official * 1000:>11.2f} ms {ours * 1000:>7.2f} ms {ours / official:>13.2f}x")


if __name__ == "__main__":
    main()
