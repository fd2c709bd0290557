// Invocations: a live list (newest first) with filters and counts, and bulk actions with confirmation and progress.
import { api, runPool } from "../api.js";
import { confirmDialog, errorBox, table } from "../components.js";
import { displayStatus, empty, fmtDuration, fmtTime, h, lit, link, message, parseTime, statusBadge, fill, paused } from "../util.js";
import { STATUS_ORDER } from "./overview.js";

export const PAGE = 200;
const BULK_LIMIT = 10000;
const REFRESH_MS = 3000;
const FILTERS = ["service", "handler", "key", "status", "deployment", "since", "until"];
export const ACTIONS = ["cancel", "kill", "pause", "resume", "purge"];

/** The SQL condition of a filter (a URLSearchParams-like `get`); `withStatus` false leaves the status out. */
export function whereClause(filter, withStatus = true) {
  const parts = [];
  const add = (column, name) => { const v = filter.get(name); if (v) parts.push(`${column} = ${lit(v)}`); };
  add("target_service_name", "service");
  add("target_handler_name", "handler");
  add("target_service_key", "key");
  add("pinned_deployment_id", "deployment");
  const status = filter.get("status");
  if (withStatus && status) {
    if (status === "succeeded") parts.push("status = 'completed' AND completion_result = 'success'");
    else if (status === "failed") parts.push("status = 'completed' AND completion_result = 'failure'");
    else parts.push(`status = ${lit(status)}`);
  }
  for (const [name, op] of [["since", ">="], ["until", "<="]]) {
    const at = parseTime(filter.get(name));
    if (at) parts.push(`created_at ${op} ${lit(at.toISOString())}`);
  }
  return parts.length ? ` WHERE ${parts.join(" AND ")}` : "";
}

export function listSql(filter, limit = PAGE) {
  return `SELECT id, target, target_service_name, target_handler_name, target_service_key, status, completion_result,
 completion_failure, created_at, modified_at, retry_count, pinned_deployment_id, invoked_by_id
 FROM sys_invocation${whereClause(filter)} ORDER BY created_at DESC LIMIT ${limit}`;
}

export function countSql(filter) {
  return `SELECT status, completion_result, COUNT(*) AS n FROM sys_invocation${whereClause(filter, false)} GROUP BY status, completion_result`;
}

function toLocalInput(value) {
  const at = parseTime(value);
  if (!at) return "";
  return new Date(at.getTime() - at.getTimezoneOffset() * 60000).toISOString().slice(0, 16);
}

function filterForm(query, services, onChange) {
  const input = (name, label, attrs = {}) =>
    h("label", {}, label, h("input", { name, value: query.get(name) || "", ...attrs }));
  const serviceSelect = h("select", { name: "service" }, h("option", { value: "" }, "any"),
    services.map((s) => h("option", { value: s.name, selected: query.get("service") === s.name }, s.name)));
  const statusSelect = h("select", { name: "status" }, h("option", { value: "" }, "any"),
    [...STATUS_ORDER, "completed"].map((s) => h("option", { value: s, selected: query.get("status") === s }, s)));
  const form = h("form", { class: "filters card", "aria-label": "Filters" },
    h("label", {}, "Service", serviceSelect), input("handler", "Handler", { size: 10, list: "handler-names" }),
    h("datalist", { id: "handler-names" }, [...new Set(services.flatMap((s) => (s.handlers || []).map((x) => x.name)))].sort()
      .map((name) => h("option", { value: name }))),
    input("key", "Key", { size: 10 }),
    h("label", {}, "Status", statusSelect), input("deployment", "Deployment", { size: 14, placeholder: "dp_…" }),
    h("label", {}, "Created from", h("input", { type: "datetime-local", name: "since", value: toLocalInput(query.get("since")) })),
    h("label", {}, "Created to", h("input", { type: "datetime-local", name: "until", value: toLocalInput(query.get("until")) })),
    h("button", { class: "primary", type: "submit" }, "Apply"),
    h("button", { type: "button", onclick: () => onChange(new URLSearchParams()) }, "Clear"));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    const next = new URLSearchParams();
    for (const [name, value] of new FormData(form)) {
      if (!value) continue;
      next.set(name, name === "since" || name === "until" ? new Date(String(value)).toISOString() : String(value));
    }
    onChange(next);
  });
  return form;
}

function countBadges(rows, query, onChange) {
  const per = {};
  let total = 0;
  for (const row of rows) {
    const status = displayStatus({ ...row, completion_failure: "" });
    per[status] = (per[status] || 0) + Number(row.n || 0);
    total += Number(row.n || 0);
  }
  const pick = (status) => () => {
    const next = new URLSearchParams(query);
    if (status) next.set("status", status); else next.delete("status");
    onChange(next);
  };
  return h("div", { class: "counts", id: "counts" },
    h("span", { class: "badge", onclick: pick(null), "data-count": "all" }, `all ${total}`),
    STATUS_ORDER.filter((s) => per[s]).map((s) => h("span", { class: `badge st-${s}`, onclick: pick(s), "data-count": s }, `${s} ${per[s]}`)));
}

export async function render({ root, query, navigate }) {
  const selected = new Set();
  let rows = [], timer = null, busy = false, alive = true, limit = PAGE;
  const live = h("input", { type: "checkbox", checked: true, id: "live" });
  const countsEl = h("div", {}), listEl = h("div", {}), bulkOut = h("div", { id: "bulk-result" });
  const actionSelect = h("select", { "aria-label": "Action" }, ACTIONS.map((a) => h("option", { value: a }, a)));
  const selectedButton = h("button", { type: "button", onclick: () => bulk(false) }, "Apply to selected (0)");
  const allButton = h("button", { type: "button", onclick: () => bulk(true) }, "Apply to all matching");
  const setFilter = (next) => navigate(`/ui/invocations${next.toString() ? `?${next}` : ""}`, true);
  // The services (for the filter's choices) load while the first page of the list does.
  const firstLoad = load();
  let services = [];
  try {
    services = (await api.get("/services")).services || [];
  } catch (err) {
    root.append(errorBox(err, "Cannot load services"));
  }
  root.append(h("h1", {}, "Invocations"), filterForm(query, services, setFilter), countsEl,
    h("div", { class: "toolbar" }, h("label", {}, live, " live (every 3 s)"), h("span", { class: "muted" }, "Bulk:"), actionSelect,
      selectedButton, allButton), bulkOut, listEl);

  function updateSelectedButton() {
    selectedButton.textContent = `Apply to selected (${selected.size})`;
    selectedButton.disabled = selected.size === 0;
  }

  function drawList() {
    if (!rows.length) {
      fill(listEl, empty(query.toString() ? "No invocations match this filter." : "No invocations yet."));
      return;
    }
    const toggleAll = h("input", { type: "checkbox", "aria-label": "select all", checked: rows.every((r) => selected.has(r.id)),
      onchange: (e) => { rows.forEach((r) => (e.target.checked ? selected.add(r.id) : selected.delete(r.id))); drawList(); } });
    const check = (r) => h("input", { type: "checkbox", "aria-label": `select ${r.id}`, checked: selected.has(r.id),
      onchange: (e) => { e.target.checked ? selected.add(r.id) : selected.delete(r.id); updateSelectedButton();
        e.target.closest("tr").classList.toggle("selected", e.target.checked); } });
    const t = table([
      [toggleAll, check],
      ["Id", (r) => link(`invocations/${r.id}`, h("span", { class: "mono" }, r.id))],
      ["Target", (r) => r.target],
      ["Status", (r) => statusBadge(displayStatus(r), r.status === "backing-off" ? `(${r.retry_count} retries)` : "")],
      ["Created", (r) => fmtTime(r.created_at)],
      ["Modified", (r) => fmtTime(r.modified_at)],
      ["Duration", (r) => r.status === "completed" ? fmtDuration(parseTime(r.modified_at) - parseTime(r.created_at)) : "", "num"],
      ["Deployment", (r) => h("span", { class: "mono" }, r.pinned_deployment_id || "")],
    ], rows, (r) => ({ class: selected.has(r.id) ? "selected" : null, "data-id": r.id }));
    const more = rows.length === limit
      ? h("p", { class: "muted" }, `The newest ${limit} are shown. `, h("button", { type: "button", id: "more", onclick: () => {
        limit += PAGE;
        load();
      } }, `Show ${PAGE} more`))
      : null;
    fill(listEl, t, more);
    updateSelectedButton();
  }

  async function load() {
    try {
      const [list, counts] = await Promise.all([api.query(listSql(query, limit)), api.query(countSql(query))]);
      if (!alive) return;
      rows = list;
      fill(countsEl, countBadges(counts, query, setFilter));
      drawList();
    } catch (err) {
      if (alive) fill(listEl, errorBox(err, "Cannot list invocations"));
    }
  }

  async function bulk(whole) {
    if (busy) return;
    const op = actionSelect.value;
    let ids = [...selected];
    if (whole) {
      try {
        ids = (await api.query(`SELECT id FROM sys_invocation${whereClause(query)} LIMIT ${BULK_LIMIT}`)).map((r) => r.id);
      } catch (err) {
        fill(bulkOut, errorBox(err, "Cannot list the invocations of this filter"));
        return;
      }
    }
    if (!ids.length) {
      fill(bulkOut, message("empty", "Nothing to do: no invocation selected or matching."));
      return;
    }
    const what = whole ? `all ${ids.length} invocations matching this filter` : `${ids.length} selected invocation(s)`;
    if (!(await confirmDialog(`${op} ${ids.length} invocation(s)?`, h("p", {}, `This will ${op} ${what}.`), op))) return;
    busy = true;
    const bar = h("progress", { max: ids.length, value: 0 }), label = h("span", {}, `0 / ${ids.length}`);
    fill(bulkOut, h("div", { class: "toolbar", id: "bulk-progress" }, `${op}: `, bar, label));
    const failures = await runPool(ids, 8, (id) => api.invocationAction(id, op), (done, failed) => {
      bar.value = done;
      label.textContent = `${done} / ${ids.length}${failed ? `, ${failed} failed` : ""}`;
    });
    busy = false;
    const summary = `${op}: ${ids.length - failures.length} of ${ids.length} accepted${failures.length ? `, ${failures.length} failed` : ""}.`;
    fill(bulkOut, message(failures.length ? "error" : "ok", summary,
      failures.length ? h("ul", {}, failures.slice(0, 10).map((f) => h("li", { class: "mono" }, `${f.item}: ${f.error}`))) : null));
    selected.clear();
    await load();
  }

  await firstLoad;
  const tick = async () => {
    if (alive && live.checked && !busy && !paused()) await load();
    if (alive) timer = setTimeout(tick, REFRESH_MS);
  };
  timer = setTimeout(tick, REFRESH_MS);
  return () => { alive = false; clearTimeout(timer); };
}
