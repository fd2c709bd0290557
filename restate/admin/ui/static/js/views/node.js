// Node: the partition table of the terminal dashboard (from /metrics), refreshed live, with throughput/latency charts.
import { api } from "../api.js";
import { errorBox, table } from "../components.js";
import { h, message, fill } from "../util.js";

const REFRESH_MS = 2000;
const HISTORY_MS = 5 * 60 * 1000;
const STALE_HEARTBEAT_S = 3;

/** Prometheus text -> [{name, labels, value}]. */
export function parseMetrics(text) {
  const out = [];
  for (const line of text.split("\n")) {
    if (!line || line.startsWith("#")) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{(.*)\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const labels = {};
    for (const [, k, v] of (m[3] || "").matchAll(/(\w+)="((?:[^"\\]|\\.)*)"/g)) labels[k] = v.replace(/\\(.)/g, "$1");
    out.push({ name: m[1], labels, value: Number(m[4]) });
  }
  return out;
}

function partitionOf(labels, key = "partition_id") {
  const v = String(labels[key] ?? "").replace(/^p/, "");
  return /^\d+$/.test(v) ? Number(v) : null;
}

const hist = () => ({ buckets: {}, sum: 0, count: 0 });

/** One scrape: per partition cumulative values, plus the ingress request counters. */
export function snapshot(samples, at) {
  const parts = {};
  const part = (i) => (parts[i] ??= { inv: {}, inbox: 0, timers: 0, commands: 0, batches: hist(), fsync: hist(), attempts: 0, failures: 0 });
  let ingress = 0, numPartitions = 0;
  for (const { name, labels, value } of samples) {
    if (name === "restate_ingress_requests_total") { ingress += value; continue; }
    if (name === "restate_num_partitions") { numPartitions = value; continue; }
    if (name.startsWith("restate_process_")) {
      const i = partitionOf(labels, "process");
      if (i === null) continue;
      if (name === "restate_process_up") part(i).up = value > 0;
      else if (name === "restate_process_pid") part(i).pid = value;
      continue;
    }
    const i = partitionOf(labels);
    if (i === null) continue;
    const p = part(i);
    if (name === "restate_partition_invocations") p.inv[labels.status] = value;
    else if (name === "restate_partition_inbox_depth") p.inbox = value;
    else if (name === "restate_partition_timers") p.timers = value;
    else if (name === "restate_partition_heartbeat_timestamp_seconds") p.heartbeat = value;
    else if (name === "restate_partition_commands_applied_total") p.commands = value;
    else if (name === "restate_invoker_invocation_tasks_total" && labels.status === "started") p.attempts = value;
    else if (name === "restate_invoker_invocation_tasks_total" && labels.status === "failed") p.failures = value;
    else for (const [prefix, key] of [["restate_partition_commit_batch_size", "batches"], ["restate_partition_fsync_duration_seconds", "fsync"]]) {
      if (!name.startsWith(prefix)) continue;
      const suffix = name.slice(prefix.length);
      if (suffix === "_bucket") p[key].buckets[labels.le] = value;
      else if (suffix === "_sum") p[key].sum = value;
      else if (suffix === "_count") p[key].count = value;
    }
  }
  return { at, parts, ingress, numPartitions };
}

function minus(a, b) {
  if (!b) return a;
  const buckets = {};
  for (const [le, n] of Object.entries(a.buckets)) buckets[le] = n - (b.buckets[le] || 0);
  return { buckets, sum: a.sum - b.sum, count: a.count - b.count };
}

/** PromQL-style histogram_quantile: linear inside the bucket; null when empty. */
export function quantile(hg, q) {
  if (hg.count <= 0) return null;
  const rank = q * hg.count;
  let lowLe = 0, lowN = 0;
  for (const [le, n] of Object.entries(hg.buckets).map(([k, v]) => [k === "+Inf" ? Infinity : Number(k), v]).sort((x, y) => x[0] - y[0])) {
    if (n >= rank) {
      if (!Number.isFinite(le)) return lowLe;
      const span = n - lowN;
      return lowLe + (le - lowLe) * (span > 0 ? (rank - lowN) / span : 1);
    }
    [lowLe, lowN] = [le, n];
  }
  return lowLe;
}

function addHist(acc, d) {
  for (const [le, n] of Object.entries(d.buckets)) acc.buckets[le] = (acc.buckets[le] || 0) + n;
  acc.sum += d.sum; acc.count += d.count;
}

/** The table's rows (and totals) between two snapshots. */
export function rows(cur, old) {
  const span = old ? (cur.at - old.at) / 1000 : 0;
  const out = [];
  const totalFsync = hist(), totalBatch = hist();
  for (const i of Object.keys(cur.parts).map(Number).sort((a, b) => a - b)) {
    const p = cur.parts[i], o = old?.parts[i];
    const fsync = minus(p.fsync, o?.fsync), batches = minus(p.batches, o?.batches);
    addHist(totalFsync, fsync); addHist(totalBatch, batches);
    const stale = p.heartbeat !== undefined && cur.at / 1000 - p.heartbeat > STALE_HEARTBEAT_S;
    out.push({
      partition: i, pid: p.pid, liveness: p.up === false ? "down" : p.heartbeat === undefined ? "starting" : stale ? "stalled" : "up",
      running: p.inv.invoked || 0, suspended: p.inv.suspended || 0, inboxed: p.inv.inboxed || 0, scheduled: p.inv.scheduled || 0,
      timers: p.timers, commandsPerS: o && span > 0 ? Math.max(0, p.commands - o.commands) / span : null,
      batch: batches.count > 0 ? batches.sum / batches.count : null,
      p50: quantile(fsync, 0.5), p99: quantile(fsync, 0.99), attempts: p.attempts, failures: p.failures,
    });
  }
  const sum = (k) => out.reduce((n, r) => n + (r[k] || 0), 0);
  const rates = out.filter((r) => r.commandsPerS !== null);
  const totals = {
    partition: "total", pid: null, liveness: `${out.filter((r) => r.liveness === "up").length}/${out.length} up`,
    running: sum("running"), suspended: sum("suspended"), inboxed: sum("inboxed"), scheduled: sum("scheduled"), timers: sum("timers"),
    commandsPerS: rates.length ? rates.reduce((n, r) => n + r.commandsPerS, 0) : null,
    batch: totalBatch.count > 0 ? totalBatch.sum / totalBatch.count : null,
    p50: quantile(totalFsync, 0.5), p99: quantile(totalFsync, 0.99), attempts: sum("attempts"), failures: sum("failures"),
  };
  const ingressPerS = old && span > 0 ? Math.max(0, cur.ingress - old.ingress) / span : null;
  return { rows: out, totals, ingressPerS };
}

const num = (v, digits = 0) => (v === null || v === undefined ? "–" : Number(v).toFixed(digits));
const ms = (v) => (v === null || v === undefined ? "–" : (v * 1000).toFixed(2));

function partitionTable(view) {
  return table([
    ["Partition", (r) => String(r.partition)], ["Pid", (r) => num(r.pid)], ["Liveness", (r) => h("span", { class: `badge st-${r.liveness === "up" || String(r.liveness).includes("up") ? "succeeded" : "failed"}` }, r.liveness)],
    ["Running", (r) => num(r.running), "num"], ["Suspended", (r) => num(r.suspended), "num"], ["Inboxed", (r) => num(r.inboxed), "num"],
    ["Scheduled", (r) => num(r.scheduled), "num"], ["Timers", (r) => num(r.timers), "num"], ["Commands/s", (r) => num(r.commandsPerS, 1), "num"],
    ["Batch size", (r) => num(r.batch, 1), "num"], ["fsync p50 ms", (r) => ms(r.p50), "num"], ["fsync p99 ms", (r) => ms(r.p99), "num"],
    ["Attempts", (r) => num(r.attempts), "num"], ["Failed", (r) => num(r.failures), "num"],
  ], [...view.rows, view.totals], (r) => ({ "data-partition": r.partition }));
}

/** An SVG line chart of [t, value] points over the history window (a dot per scrape, a baseline at zero). */
function chart(points, label, unit, color) {
  const w = 600, hgt = 120, pad = 8, now = Date.now();
  const ns = "http://www.w3.org/2000/svg";
  const shown = points.filter(([, v]) => v !== null && v !== undefined);
  const vals = shown.map(([, v]) => v);
  const max = Math.max(1e-9, ...vals) * 1.1;
  // The x axis spans what is known, at least a minute and at most the history window.
  const span = Math.min(HISTORY_MS, Math.max(60_000, shown.length ? now - shown[0][0] : 0));
  const x = (t) => (pad + (w - 2 * pad) * (1 - (now - t) / span)).toFixed(1);
  const y = (v) => (hgt - pad - ((hgt - 2 * pad) * v) / max).toFixed(1);
  const svg = document.createElementNS(ns, "svg");
  const el = (tag, attrs) => {
    const node = document.createElementNS(ns, tag);
    for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, String(v));
    svg.append(node);
  };
  svg.setAttribute("viewBox", `0 0 ${w} ${hgt}`);
  svg.setAttribute("class", "chart");
  svg.setAttribute("preserveAspectRatio", "none");
  el("line", { x1: pad, x2: w - pad, y1: y(0), y2: y(0), stroke: "#dfe3ea", "stroke-width": 1 });
  el("polyline", { points: shown.map(([t, v]) => `${x(t)},${y(v)}`).join(" "), fill: "none", stroke: color, "stroke-width": 2 });
  for (const [t, v] of shown.slice(-60)) el("circle", { cx: x(t), cy: y(v), r: 2.5, fill: color });
  const last = vals.length ? vals[vals.length - 1] : null;
  return h("div", {}, h("div", { class: "legend" },
    `${label}: ${last === null ? "–" : last.toFixed(2)} ${unit} (max ${vals.length ? Math.max(...vals).toFixed(2) : "–"}, ` +
    `last ${Math.round(span / 60_000)} min)`), svg);
}

export async function render({ root }) {
  const body = h("div", {});
  root.append(h("h1", {}, "Node"), h("p", { class: "muted" }, `Partitions, from the admin port's /metrics, every ${REFRESH_MS / 1000} s.`), body);
  let alive = true, timer = null, prev = null;
  const history = [];
  async function tick() {
    try {
      const snap = snapshot(parseMetrics(await api.metricsText()), Date.now());
      const view = rows(snap, prev);
      prev = snap;
      const toMs = (v) => (v === null ? null : v * 1000);
      history.push({ at: snap.at, throughput: view.totals.commandsPerS, ingress: view.ingressPerS, p50: toMs(view.totals.p50), p99: toMs(view.totals.p99) });
      while (history.length && history[0].at < Date.now() - HISTORY_MS) history.shift();
      if (!alive) return;
      fill(body,
        view.rows.length ? h("section", { class: "card", id: "partitions" }, partitionTable(view))
          : message("empty", "The metrics name no partition yet."),
        h("div", { class: "grid" },
          h("section", { class: "card" }, h("h2", {}, "Throughput"), chart(history.map((p) => [p.at, p.throughput]), "commands applied", "/s", "#2f5bd3"),
            chart(history.map((p) => [p.at, p.ingress]), "ingress requests", "/s", "#1f8a4c")),
          h("section", { class: "card" }, h("h2", {}, "Latency"), chart(history.map((p) => [p.at, p.p50]), "commit fsync p50", "ms", "#1f8a4c"),
            chart(history.map((p) => [p.at, p.p99]), "commit fsync p99", "ms", "#b7791f"))));
    } catch (err) {
      if (!alive) return;
      fill(body, err.status === 404
        ? message("error", "This server serves no Prometheus metrics on its admin port (GET /metrics answered 404): the node view needs them.")
        : errorBox(err, "Cannot read /metrics"));
    }
    if (alive) timer = setTimeout(tick, REFRESH_MS);
  }
  await tick();
  return () => { alive = false; clearTimeout(timer); };
}
