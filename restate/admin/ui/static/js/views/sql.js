// SQL: any statement on the introspection tables (POST /query), its rows as a table; invocation ids are links.
import { api } from "../api.js";
import { errorBox, table } from "../components.js";
import { empty, fill, h, link } from "../util.js";

const EXAMPLE = "SELECT id, target, status, created_at FROM sys_invocation ORDER BY created_at DESC LIMIT 20";
const INVOCATION_ID = /^inv_1[0-9A-Za-z]{33}$/;

/** The column names of the rows, in first-seen order (a null column is an absent key in a row). */
export function columnsOf(rows) {
  const seen = new Set();
  for (const row of rows) for (const key of Object.keys(row)) seen.add(key);
  return [...seen];
}

function cell(value) {
  if (value === undefined || value === null) return h("span", { class: "muted" }, "");
  if (typeof value === "string" && INVOCATION_ID.test(value)) return link(`invocations/${value}`, h("span", { class: "mono" }, value));
  const text = typeof value === "object" ? JSON.stringify(value) : String(value);
  return h("span", { class: "mono" }, text);
}

export async function render({ root, query, navigate }) {
  const statement = query.get("query") || "";
  const area = h("textarea", { name: "query", "aria-label": "SQL statement", rows: 4 }, statement || EXAMPLE);
  const out = h("div", { id: "sql-result" });
  const form = h("form", { class: "card" }, area, h("div", { class: "toolbar" },
    h("button", { type: "submit", class: "primary" }, "Run"), h("span", { class: "muted" },
      "Tables: sys_invocation, sys_journal, sys_journal_events, state, sys_inbox, sys_promise, sys_service, sys_deployment, …")));
  form.addEventListener("submit", (e) => {
    e.preventDefault();
    navigate(`/ui/sql?${new URLSearchParams({ query: area.value.trim() })}`, true);
  });
  root.append(h("h1", {}, "SQL"), form, out);
  if (!statement) return;
  const started = performance.now();
  try {
    const rows = await api.query(statement);
    const took = performance.now() - started;
    const columns = columnsOf(rows);
    fill(out, h("p", { class: "muted" }, `${rows.length} row${rows.length === 1 ? "" : "s"} in ${took.toFixed(0)} ms`),
      rows.length ? h("div", { class: "card" }, table(columns.map((c) => [c, (r) => cell(r[c])]), rows)) : empty("No rows."));
  } catch (err) {
    fill(out, errorBox(err, "The query failed"));
  }
}
