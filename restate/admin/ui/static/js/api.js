// The admin API client: the only way the UI reaches a server (public admin API + POST /query).

const STORAGE_KEY = "restate.adminUrl";

/** The admin API's base URL: `?admin=` once (remembered), else what was remembered, else this origin. */
export function adminBase() {
  const fromQuery = new URLSearchParams(location.search).get("admin");
  if (fromQuery !== null) localStorage.setItem(STORAGE_KEY, fromQuery);
  return (localStorage.getItem(STORAGE_KEY) || "").replace(/\/$/, "");
}

export class ApiError extends Error {
  constructor(status, message, body) {
    super(message);
    this.status = status; // 0: the server could not be reached
    this.body = body;
  }
}

async function request(method, path, body) {
  const init = { method, headers: { accept: "application/json" } };
  if (body !== undefined) {
    init.headers["content-type"] = "application/json";
    init.body = JSON.stringify(body);
  }
  let resp;
  try {
    resp = await fetch(`${adminBase()}${path}`, init);
  } catch (err) {
    throw new ApiError(0, `The server is unreachable (${adminBase() || location.origin}): ${err.message}`);
  }
  const text = await resp.text();
  let data = null;
  if (text) {
    try { data = JSON.parse(text); } catch { data = text; }
  }
  if (!resp.ok) {
    const detail = data && typeof data === "object" ? data.message || JSON.stringify(data) : text || resp.statusText;
    throw new ApiError(resp.status, `${method} ${path}: ${resp.status} ${detail}`, data);
  }
  return data;
}

let operationsCache = null;

export const api = {
  get: (path) => request("GET", path),
  post: (path, body) => request("POST", path, body),
  patch: (path, body) => request("PATCH", path, body),
  del: (path) => request("DELETE", path),
  /** Rows of one SQL statement (`POST /query`, JSON rows: a null column is an absent key). */
  async query(sql) {
    const data = await request("POST", "/query", { query: sql });
    return (data && data.rows) || [];
  },
  async health() {
    try {
      await request("GET", "/health");
      return true;
    } catch {
      return false;
    }
  },
  async metricsText() {
    let resp;
    try {
      resp = await fetch(`${adminBase()}/metrics`);
    } catch (err) {
      throw new ApiError(0, `The server is unreachable: ${err.message}`);
    }
    if (!resp.ok) throw new ApiError(resp.status, `GET /metrics: ${resp.status}`);
    return resp.text();
  },
  /** The operations the server's admin OpenAPI document lists (cached); null when it serves none. */
  async operations() {
    operationsCache ??= request("GET", "/openapi").then(
      (doc) => new Set(Object.keys((doc && doc.paths) || {}).map((p) => p.replace(/\{[^}]*\}/g, "{}"))),
      () => null);
    return operationsCache;
  },
  invocationAction: (id, op) => request("PATCH", `/invocations/${encodeURIComponent(id)}/${op}`),
};

/** Runs `task(item)` over `items`, `limit` at a time; `progress(done, failed)` after each. */
export async function runPool(items, limit, task, progress) {
  let next = 0, done = 0;
  const failures = [];
  async function worker() {
    while (next < items.length) {
      const item = items[next++];
      try {
        await task(item);
      } catch (err) {
        failures.push({ item, error: err.message });
      }
      done += 1;
      progress(done, failures.length);
    }
  }
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return failures;
}
