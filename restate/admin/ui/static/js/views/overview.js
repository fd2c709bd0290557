// Overview: deployments, services, invocation counts by status per service, recent failures, registration.
import { api } from "../api.js";
import { errorBox, table } from "../components.js";
import { displayStatus, empty, fmtTime, h, link, message, shortText, statusBadge, fill, paused } from "../util.js";

const REFRESH_MS = 5000;
export const STATUS_ORDER = ["pending", "scheduled", "ready", "running", "backing-off", "suspended", "paused", "succeeded", "failed"];

const COUNTS_SQL = `SELECT target_service_name, status, completion_result, COUNT(*) AS n FROM sys_invocation
 GROUP BY target_service_name, status, completion_result`;
const FAILURES_SQL = `SELECT id, target, status, completion_result, completion_failure, last_failure, retry_count, modified_at
 FROM sys_invocation WHERE completion_result = 'failure' OR last_failure IS NOT NULL ORDER BY modified_at DESC LIMIT 10`;

/** {service: {status: n}} from the grouped rows. */
export function countsByService(rows) {
  const out = {};
  for (const row of rows) {
    const status = displayStatus({ ...row, completion_failure: "" });
    const per = (out[row.target_service_name] ??= {});
    per[status] = (per[status] || 0) + Number(row.n || 0);
  }
  return out;
}

function countCells(service, counts) {
  const per = counts[service] || {};
  const badges = STATUS_ORDER.filter((s) => per[s]).map((s) =>
    link(`invocations?service=${encodeURIComponent(service)}&status=${s}`, statusBadge(s, String(per[s]))));
  return badges.length ? h("span", { class: "counts" }, badges) : h("span", { class: "muted" }, "none");
}

function servicesCard(services, deployments, counts) {
  const byId = Object.fromEntries(deployments.map((d) => [d.id, d]));
  if (!services.length) return empty("No services yet: register a deployment below.");
  return table([
    ["Service", (s) => h("strong", { "data-service": s.name }, s.name)],
    ["Type", (s) => s.ty],
    ["Handlers", (s) => s.handlers.map((x) => x.name).join(", ")],
    ["Revision", (s) => String(s.revision), "num"],
    ["Deployment", (s) => h("span", { class: "mono", title: s.deployment_id }, byId[s.deployment_id]?.uri || s.deployment_id)],
    ["Invocations by status", (s) => countCells(s.name, counts)],
  ], services);
}

function deploymentsCard(deployments) {
  if (!deployments.length) return empty("No deployments registered.");
  return table([
    ["Id", (d) => h("span", { class: "mono" }, d.id)],
    ["Endpoint", (d) => h("span", { class: "mono" }, d.uri || d.arn || "")],
    ["Protocol", (d) => `${d.protocol_type || ""} ${d.http_version || ""}`],
    ["Services", (d) => (d.services || []).map((s) => `${s.name} (rev ${s.revision})`).join(", ")],
    ["Created", (d) => fmtTime(d.created_at)],
  ], deployments);
}

function failuresCard(rows) {
  if (!rows.length) return empty("No failures.");
  return table([
    ["Invocation", (r) => link(`invocations/${r.id}`, h("span", { class: "mono" }, r.id))],
    ["Target", (r) => r.target],
    ["Status", (r) => statusBadge(displayStatus(r), r.status === "completed" ? "" : `(${r.retry_count || 0} retries)`)],
    ["Error", (r) => h("span", { class: "mono" }, shortText(r.completion_failure || r.last_failure, 140))],
    ["When", (r) => fmtTime(r.modified_at)],
  ], rows);
}

function registerForm(onDone) {
  const out = h("div", {});
  const form = h("form", { class: "filters", "aria-label": "Register a deployment" },
    h("label", {}, "Deployment URI", h("input", { name: "uri", required: true, size: 40, placeholder: "http://localhost:9080" })),
    h("label", {}, "HTTP/1.1", h("input", { type: "checkbox", name: "use_http_11" })),
    h("label", {}, "Force (overwrite)", h("input", { type: "checkbox", name: "force" })),
    h("button", { class: "primary", type: "submit" }, "Register"));
  form.addEventListener("submit", async (e) => {
    e.preventDefault();
    const data = new FormData(form);
    const body = { uri: String(data.get("uri")).trim(), use_http_11: data.get("use_http_11") === "on", force: data.get("force") === "on" };
    fill(out, message("empty", "Registering… (the server runs discovery)"));
    try {
      const answer = await api.post("/deployments", body);
      const names = (answer.services || []).map((s) => s.name).join(", ");
      fill(out, message("ok", `Registered ${answer.id}: ${names || "no services"}`));
      onDone();
    } catch (err) {
      fill(out, errorBox(err, "Registration failed"));
    }
  });
  return h("div", {}, form, out);
}

export async function render({ root }) {
  const body = h("div", {});
  root.append(h("h1", {}, "Overview"), h("p", { class: "muted" }, "Refreshed every 5 s."), body);
  let alive = true;

  async function load() {
    let deployments, services;
    try {
      [deployments, services] = await Promise.all([api.get("/deployments"), api.get("/services")]);
    } catch (err) {
      fill(body, errorBox(err, "Cannot load deployments and services"));
      return;
    }
    let counts = {}, failures = [], sqlError = null;
    try {
      const [countRows, failureRows] = await Promise.all([api.query(COUNTS_SQL), api.query(FAILURES_SQL)]);
      counts = countsByService(countRows);
      failures = failureRows;
    } catch (err) {
      sqlError = err;
    }
    if (!alive) return;
    const svc = [...(services.services || [])].sort((a, b) => a.name.localeCompare(b.name));
    const deps = deployments.deployments || [];
    fill(body,
      h("section", { class: "card", id: "services" }, h("h2", {}, `Services (${svc.length})`), servicesCard(svc, deps, counts)),
      sqlError ? errorBox(sqlError, "Invocation counts unavailable") : "",
      h("section", { class: "card", id: "failures" }, h("h2", {}, "Recent failures"), failuresCard(failures)),
      h("section", { class: "card", id: "deployments" }, h("h2", {}, `Deployments (${deps.length})`), deploymentsCard(deps)));
  }
  root.append(h("section", { class: "card", id: "register" }, h("h2", {}, "Register a deployment"), registerForm(load)));
  await load();
  let timer = null;
  const tick = async () => {
    if (alive && !paused()) await load();
    if (alive) timer = setTimeout(tick, REFRESH_MS);
  };
  timer = setTimeout(tick, REFRESH_MS);
  return () => { alive = false; clearTimeout(timer); };
}
