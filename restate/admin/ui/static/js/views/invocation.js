// One invocation: status, attempts, failure, retry schedule, pinned deployment, journal timeline, call chain, actions.
import { api } from "../api.js";
import { confirmDialog, errorBox, kv } from "../components.js";
import { ago, displayStatus, fmtDuration, fmtTime, h, lit, link, message, parseDuration, parseTime, statusBadge, fill, paused } from "../util.js";
import { chainTree, loadChain } from "./callchain.js";
import { JOURNAL_SQL, debuggerPanel, decodeEntry, failedEntryIndex, timeline } from "./journal.js";

const REFRESH_MS = 3000;
const OPS = ["cancel", "kill", "pause", "resume", "purge", "restart-as-new"];

/** The attempts a retry policy plans after `made` attempts, the next one at `nextAt` (ms): [[attempt number, at ms]],
 *  at most `n`, none past the policy's max_attempts. */
export function plannedRetries(policy, made, nextAt, n = 4) {
  const initial = parseDuration(policy?.initial_interval);
  if (!policy || initial === null || !nextAt) return [];
  const factor = Number(policy.exponentiation_factor || 1);
  const max = parseDuration(policy.max_interval) ?? Infinity;
  const out = [];
  let at = nextAt;
  for (let attempt = made + 1; out.length < n; attempt++) {
    if (policy.max_attempts && attempt > policy.max_attempts) break;
    out.push([attempt, at]);
    at += Math.min(initial * factor ** (attempt - 1), max); // attempt a+1 is retry number a
  }
  return out;
}

/** Attempts made so far: the retries plus the first attempt, once one started. */
export const attemptsMade = (inv) => Number(inv.retry_count || 0) + (inv.last_start_at || inv.retry_count ? 1 : 0);

function retryCard(inv, service) {
  const policy = service?.retry_policy;
  const next = parseTime(inv.next_retry_at)?.getTime();
  const rows = [
    ["Attempts so far", inv.status === "completed" ? null : String(attemptsMade(inv))],
    ["Last attempt started", inv.last_start_at ? `${fmtTime(inv.last_start_at)} (${ago(inv.last_start_at)})` : null],
    ["Next retry", next ? `${fmtTime(inv.next_retry_at)} (${next > Date.now() ? `in ${fmtDuration(next - Date.now())}` : "due"})` : null],
    ["Retry policy", policy ? `${policy.initial_interval} × ${policy.exponentiation_factor} up to ${policy.max_interval}, ` +
      `${policy.max_attempts ? `at most ${policy.max_attempts} attempts, then ${policy.on_max_attempts}` : "unbounded attempts"}` : null],
  ];
  const planned = plannedRetries(policy, attemptsMade(inv), next);
  return h("section", { class: "card", id: "retries" }, h("h2", {}, "Attempts and retries"), kv(rows),
    planned.length ? h("p", { class: "muted", id: "planned" }, "Planned attempts: ",
      planned.map(([n, at]) => `#${n} ${fmtTime(new Date(at).toISOString())}`).join(" · ")) : null);
}

function detailsCard(inv, deployment) {
  return h("section", { class: "card", id: "details" }, h("h2", {}, "Details"), kv([
    ["Id", h("span", { class: "mono" }, inv.id)],
    ["Target", inv.target],
    ["Type", inv.target_service_ty],
    ["Status", statusBadge(displayStatus(inv))],
    ["Result", inv.completion_failure ? h("span", { class: "mono" }, inv.completion_failure) : inv.completion_result],
    ["Created", `${fmtTime(inv.created_at)} (${ago(inv.created_at)})`],
    ["Modified", fmtTime(inv.modified_at)],
    ["Completed", fmtTime(inv.completed_at)],
    ["Invoked by", inv.invoked_by_id ? link(`invocations/${inv.invoked_by_id}`, inv.invoked_by_target || inv.invoked_by_id) : inv.invoked_by],
    ["Key", inv.target_service_key ? h("span", {}, inv.target_service_key, " · ",
      link(`state/${encodeURIComponent(inv.target_service_name)}/${encodeURIComponent(inv.target_service_key)}`, "its state"), " · ",
      link(`invocations?service=${encodeURIComponent(inv.target_service_name)}&key=${encodeURIComponent(inv.target_service_key)}`, "its invocations"))
      : null],
    ["Idempotency key", inv.idempotency_key],
    ["Pinned deployment", inv.pinned_deployment_id
      ? h("span", { class: "mono", id: "pinned" }, inv.pinned_deployment_id, deployment ? ` (${deployment.uri}, ${deployment.sdk_version || "sdk ?"})` : "")
      : "not pinned yet"],
    ["Protocol version", inv.pinned_service_protocol_version ? String(inv.pinned_service_protocol_version) : null],
    ["Journal size", inv.journal_size !== undefined ? String(inv.journal_size) : null],
    ["Trace id", inv.trace_id ? h("span", { class: "mono", id: "trace-id" }, inv.trace_id) : null],
  ]));
}

/** The actions the admin API has: every one of OPS its OpenAPI document lists (all of them without a document). */
async function availableOps() {
  const paths = await api.operations();
  return paths ? OPS.filter((op) => paths.has(`/invocations/{}/${op}`)) : OPS;
}

function actionsBar(id, ops, onDone, out) {
  const run = async (op) => {
    if (!(await confirmDialog(`${op} this invocation?`, h("p", { class: "mono" }, id), op))) return;
    try {
      await api.invocationAction(id, op);
      fill(out, message("ok", `${op}: accepted for ${id}`));
    } catch (err) {
      fill(out, errorBox(err, `${op} failed`));
    }
    onDone();
  };
  return h("div", { class: "toolbar", id: "actions" }, ops.map((op) =>
    h("button", { type: "button", class: op === "kill" || op === "purge" ? "danger" : null, "data-op": op, onclick: () => run(op) }, op)));
}

export async function render({ root, params }) {
  const id = params[0];
  let alive = true, timer = null;
  const head = h("div", {}), out = h("div", { id: "action-result" }), body = h("div", {});
  let lastDeployments = {};
  const ops = await availableOps();
  root.append(head, out, body);

  async function load() {
    let rows;
    try {
      rows = await api.query(`SELECT * FROM sys_invocation WHERE id = ${lit(id)}`);
    } catch (err) {
      fill(body, errorBox(err, "Cannot load the invocation"));
      return false;
    }
    if (!rows.length) {
      fill(head, h("h1", {}, id));
      fill(body, message("empty", `No invocation ${id}: it never existed, or it completed and was purged.`));
      return false;
    }
    const inv = rows[0];
    const [journalRows, events, service, chain] = await Promise.all([
      api.query(JOURNAL_SQL(id)).catch((err) => err),
      api.query(`SELECT after_journal_entry_index, appended_at, event_type, event_json FROM sys_journal_events WHERE id = ${lit(id)} ORDER BY appended_at`).catch(() => []),
      api.get(`/services/${encodeURIComponent(inv.target_service_name)}`).catch(() => null),
      loadChain(inv).catch((err) => err),
    ]);
    if (inv.pinned_deployment_id && !(inv.pinned_deployment_id in lastDeployments)) {
      lastDeployments[inv.pinned_deployment_id] = await api.get(`/deployments/${inv.pinned_deployment_id}`).catch(() => null);
    }
    if (!alive) return false;
    const entries = Array.isArray(journalRows) ? journalRows.map(decodeEntry) : [];
    const failedIndex = inv.last_failure ? failedEntryIndex(inv, entries) : null;
    const status = displayStatus(inv);
    fill(head, h("h1", {}, inv.target, " ", statusBadge(status, status === "backing-off" ? `· ${attemptsMade(inv)} attempts` : "")),
      actionsBar(id, ops, () => load(), out));
    fill(body,
      debuggerPanel(inv, entries, failedIndex, Array.isArray(events) ? events : []) || "",
      h("div", { class: "grid" }, detailsCard(inv, lastDeployments[inv.pinned_deployment_id]), retryCard(inv, service),
        h("section", { class: "card" }, h("h2", {}, "Call chain"), chain instanceof Error ? errorBox(chain) : chainTree(chain, id))),
      h("section", { class: "card" }, h("h2", {}, `Journal (${entries.length} entries)`),
        journalRows instanceof Error ? errorBox(journalRows, "Cannot load the journal") : timeline(entries, inv, failedIndex, events)));
    return inv.status !== "completed";
  }

  const tick = async () => {
    const again = paused() ? true : await load();
    if (alive && again) timer = setTimeout(tick, REFRESH_MS);
  };
  const again = await load();
  if (again) timer = setTimeout(tick, REFRESH_MS);
  return () => { alive = false; clearTimeout(timer); };
}
