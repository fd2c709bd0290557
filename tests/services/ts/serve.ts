/**
 * Serves the matrix services (or, with `bench`, the benchmark's) on 127.0.0.1:
 * `tsx serve.ts <port> h2c|http1 [matrix|bench]`.
 *
 * h2c: an HTTP/2 (prior knowledge) server, the SDK answers in BIDI_STREAM mode; http1: an HTTP/1.1
 * server, REQUEST_RESPONSE mode (register it with `use_http_11`). `restate.serve()` is not used because
 * it binds every interface.
 */

import "./node20.js"; // first: the SDK needs Promise.withResolvers, which Node 20 lacks
import * as http from "node:http";
import * as http2 from "node:http2";
import { createEndpointHandler } from "@restatedev/restate-sdk";

const [portArg, transport, app = "matrix"] = process.argv.slice(2);
const port = Number(portArg);
if (!Number.isInteger(port) || port <= 0 || (transport !== "h2c" && transport !== "http1") || !["matrix", "bench"].includes(app)) {
  console.error("usage: tsx serve.ts <port> h2c|http1 [matrix|bench]");
  process.exit(2);
}
const { services } = app === "bench" ? await import("./bench.js") : await import("./matrix.js");

const handler = createEndpointHandler({ services });
const server = transport === "h2c" ? http2.createServer(handler) : http.createServer(handler);
server.listen(port, "127.0.0.1", () => console.log(`${app} services (${transport}) on 127.0.0.1:${port}`));

// Exit at once on SIGTERM/SIGINT: the tests stop the process group and wait for it.
for (const signal of ["SIGTERM", "SIGINT"] as const) process.on(signal, () => process.exit(0));
