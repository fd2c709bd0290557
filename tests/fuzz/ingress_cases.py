"""A seeded generator of malformed ingress requests: routes, methods, headers and bodies, and broken HTTP/1.1.

Calls only reach handlers that answer at once whatever their input (Greeter/greet, Counter/get,
Failing/terminal); anything else that would run (a sleep, a counter update) is only sent, so no
request can wait on an invocation that never ends.
"""

from __future__ import annotations

import random
from dataclasses import dataclass

from restate.ids import InvocationId, awakeable_id


@dataclass(frozen=True)
class HttpCase:
    method: str
    target: str  # path and query, percent-encoded as sent
    headers: list[tuple[bytes, bytes]]
    body: bytes


JUNK_SEGMENTS = ["", "%00", "%ff", "%2F", "%25", "..", "a%20b", "%E2%82%AC", "%ED%A0%80", "x" * 3000, "*", "~"]
TARGET_BODIES = [
    b'{"target":"invocation","invocationId":"%s"}',
    b'{"target":"workflow","workflowName":"Greeter","workflowKey":"%s"}',
    b'{"target":"idempotentInvocation","service":"Greeter","handler":"greet","idempotencyKey":"%s"}',
    b'["invocation","%s"]',
    b'{"target":"idempotentInvocation","service":"Counter","key":"k","handler":"add","idempotencyKey":"%s","x":[1,]}',
]
BAD_BODIES = [
    b"", b'"Alice"', b"42", b"{", b'"\\ud800"', b'"\\udc00"', b"[" * 5000, b'{"a":' * 300, b"NaN", b"1e400",
    b"\xff\xfe", b'"\xc3"', b"null", b"[]", b"{}", b'{"target":5}', b'{"target":"workflow"}', b"\x00" * 16,
    b'"' + b"x" * 200_000 + b'"',
]  # fmt: skip
BROKEN_STRINGS = [b"\\ud800", b"\\udc00x", b"\\ud800\\u0041", b"\\u00zz", b"\x01", b"\xff", b'\\', b'"']
CONTENT_TYPES = [b"application/json", b"application/json; charset=utf-8", b"text/plain", b"", b"garbage", b"*/*"]
METHODS = ["POST"] * 6 + ["GET"] * 3 + ["PUT", "DELETE", "PATCH", "OPTIONS", "HEAD", "FOO", "get"]
BODY = b'"Alice"'
HEAD = b"POST /Greeter/greet HTTP/1.1\r\nhost: x\r\ncontent-type: application/json\r\n"
VALID = HEAD + b"content-length: 7\r\n\r\n" + BODY
BAD_LENGTHS = [b"abc", b"-1", b"99999999999999", b" 7", b"7, 7"]
CHUNKED_BODIES = [b"zz\r\nabc\r\n0\r\n\r\n", b'7\r\n"Alice"\r\n', b'7\r\n"Alice"\r\n0\r\n\r\n', b"-1\r\n"]
BAD_METHODS = [b"get", b"G@T", b"FOO", b""]
BAD_VERSIONS = [b"HTTP/1.x", b"HTTP/2.0", b"HTTP/9.9", b"", b"FTP/1.1"]
ODD_TARGETS = [b"http://x/restate/health", b"*", b"/rest\x00ate/health", b"/\xff\xfe", b"/a b"]
QUERIES = [
    "", "", "", "?delay=1s", "?delay=garbage", "?delay=1000", "?limit-key=x", "?a=%ff&b", "?delay=PT1S&delay=x",
    "?delay=9999999999999d", "?delay=7304484d", "?delay=99999999999999999999999999", "?delay=-1s",
]  # fmt: skip


class IngressCases:
    """Draws cases from one `random.Random` (so a seed gives the same cases every run)."""

    def __init__(self, seed: int) -> None:
        self.rng = random.Random(seed)

    def pick(self, options: list[str]) -> str:
        return self.rng.choice(options)

    def pick_bytes(self, options: list[bytes]) -> bytes:
        return self.rng.choice(options)

    def invocation_id(self) -> str:
        if self.rng.random() < 0.7:
            return str(InvocationId.new(self.rng.getrandbits(64)))
        return self.pick(["inv_bogus", "inv_1", "bogus", "inv_1" + "a" * 33, "inv_2" + "a" * 33, "%ff"])

    def awakeable(self) -> str:
        if self.rng.random() < 0.7:
            return awakeable_id(InvocationId.new(self.rng.getrandbits(64)), self.rng.randrange(2**32))
        return self.pick(["sign_bogus", "prom_1", "sign_1", "sign_1%ff", "x"])

    def segment(self) -> str:
        return self.pick(JUNK_SEGMENTS + ["Greeter", "greet", "Counter", "restate", "send", "k"])

    def path(self) -> str:
        inv, key = self.invocation_id(), self.segment()
        paths = [
            "/Greeter/greet", "/Greeter/greet/send", "/Counter/{key}/get", "/Failing/terminal", "/Sleeper/sleep/send",
            "/Nope/greet", "/Greeter/nope", "/Counter/add", "/Greeter/{key}/greet", "/Greeter/greet/other",
            "/restate/call/Greeter/greet", "/restate/send/Greeter/greet", "/restate/scope/s/call/Greeter/greet",
            "/restate/send/Counter/{key}/add", "/restate/invocation/{inv}/attach", "/restate/invocation/{inv}/output",
            "/restate/invocation/{inv}/other", "/restate/invocation/Greeter/greet/{key}/attach",
            "/restate/invocation/Counter/{key}/get/i/output", "/restate/attach/{inv}", "/restate/output/{inv}",
            "/restate/attach", "/restate/output", "/restate/lookup", "/restate/workflow/Greeter/{key}/attach",
            "/restate/awakeables/{awk}/resolve", "/restate/a/{awk}/reject", "/restate/awakeables/{awk}/other",
            "/restate/health", "/openapi", "/", "/restate", "/a/b/c/d/e/f/g/h/i", "//Greeter//greet//",
        ]  # fmt: skip
        template = self.pick(paths)
        if self.rng.random() < 0.2:  # a junk segment anywhere
            parts = template.split("/")
            parts[self.rng.randrange(1, len(parts))] = self.segment()
            template = "/".join(parts)
        return template.replace("{inv}", inv).replace("{key}", key).replace("{awk}", self.awakeable())

    def headers(self, path: str) -> list[tuple[bytes, bytes]]:
        headers: list[tuple[bytes, bytes]] = []
        if self.rng.random() < 0.8:
            headers.append((b"content-type", self.pick_bytes(CONTENT_TYPES)))
        if self.rng.random() < 0.2 and "Sleeper" not in path:  # no idempotent sleeps: nothing may wait on one
            headers.append((b"idempotency-key", self.rng.choice([b"k1", b"", b"\xff\xfe", b"k" * 1000])))
        if self.rng.random() < 0.1:
            headers.append((b"x-restate-limit-key", b"lk"))
        if self.rng.random() < 0.1:
            headers.append((b"x-junk", bytes(self.rng.randrange(0x80, 0x100) for _ in range(8))))
        if self.rng.random() < 0.05:
            headers.append((b"origin", b"http://example.com"))
        return headers

    def body(self, path: str) -> bytes:
        if "Sleeper" in path or "Counter" in path and "add" in path:
            return str(self.rng.randrange(0, 50)).encode()  # a short sleep, a valid delta
        if path.endswith(("/restate/attach", "/restate/output", "/restate/lookup")) and self.rng.random() < 0.6:
            return self.pick_bytes(TARGET_BODIES).replace(b"%s", self.invocation_id().encode())
        if self.rng.random() < 0.6:
            return self.pick_bytes(BAD_BODIES)
        return self.random_bytes(self.rng.randrange(0, 256))

    def http(self) -> HttpCase:
        if self.rng.random() < 0.3:  # the routes whose JSON body the ingress itself reads
            path = self.pick(["/restate/attach", "/restate/output", "/restate/lookup"])
            method = self.pick(["POST"] * 4 + METHODS)
            return HttpCase(method, path, [(b"content-type", b"application/json")], self.target_body())
        path = self.path()
        return HttpCase(self.pick(METHODS), path + self.pick(QUERIES), self.headers(path), self.body(path))

    def target_body(self) -> bytes:
        """A valid target body, a broken one, or a valid one with a broken string inside."""
        body = self.pick_bytes(TARGET_BODIES).replace(b"%s", self.invocation_id().encode())
        roll = self.rng.random()
        if roll < 0.3:
            return body
        if roll < 0.6:
            return self.pick_bytes(BAD_BODIES)
        inner = body.index(b'"') + 1  # inside the first string
        return body[:inner] + self.pick_bytes(BROKEN_STRINGS) + body[inner:]

    # --- broken HTTP/1.1 -----------------------------------------------------------------------------------------

    def raw(self) -> bytes:
        """A request as bytes, broken in one of the ways HTTP/1.1 framing can be."""
        pick = self.pick_bytes
        mutations = [
            lambda: VALID[: self.rng.randrange(1, len(VALID))],
            lambda: self._flip(VALID),
            lambda: self._insert(VALID),
            lambda: HEAD + b"content-length: 7\r\ncontent-length: 8\r\n\r\n" + BODY + b"x",
            lambda: HEAD + b"content-length: " + pick(BAD_LENGTHS) + b"\r\n\r\n",
            lambda: HEAD + b"transfer-encoding: chunked\r\n\r\n" + pick(CHUNKED_BODIES),
            lambda: HEAD + b"transfer-encoding: chunked\r\ncontent-length: 7\r\n\r\n" + CHUNKED_BODIES[2],
            lambda: b"POST /Greeter/greet HTTP/1.1\r\nhost x\r\n\r\n",
            lambda: b"POST /Greeter/greet HTTP/1.1\r\nhost: x\r\n folded: header\r\n\r\n",
            lambda: pick(BAD_METHODS) + b" /restate/health HTTP/1.1\r\nhost: x\r\n\r\n",
            lambda: b"GET /restate/health " + pick(BAD_VERSIONS) + b"\r\nhost: x\r\n\r\n",
            lambda: b"GET " + pick(ODD_TARGETS) + b" HTTP/1.1\r\nhost: x\r\n\r\n",
            lambda: b"GET /restate/health HTTP/1.1\r\nhost: x\r\nx-long: " + b"a" * 100_000 + b"\r\n\r\n",
            lambda: b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + self.random_bytes(32),
            lambda: b"GET /restate/health HTTP/1.1\nhost: x\n\n",
            lambda: VALID + b"GARBAGE\r\n\r\n",
            lambda: VALID + VALID[: self.rng.randrange(1, len(VALID))],
            lambda: self.random_bytes(self.rng.randrange(1, 200)),
        ]
        return self.rng.choice(mutations)()

    def random_bytes(self, n: int) -> bytes:
        return bytes(self.rng.getrandbits(8) for _ in range(n))

    def _flip(self, data: bytes) -> bytes:
        i = self.rng.randrange(len(data))
        return data[:i] + bytes([self.rng.getrandbits(8)]) + data[i + 1 :]

    def _insert(self, data: bytes) -> bytes:
        i = self.rng.randrange(len(data))
        return data[:i] + bytes([self.rng.choice([0, 10, 13, 32, 58, 0xFF])]) + data[i:]
