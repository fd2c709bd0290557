// An invocation's journal: sys_journal rows decoded (entry_json, else the detail columns), drawn as a timeline,
// and the journal debugger: where the last attempt failed, and for a non-determinism error both sides of it.
import { bytesOf, decodePayload, fmtDuration, fmtTime, h, parseTime, showPayload, shortText } from "../util.js";

export const JOURNAL_SQL = (id) => `SELECT index, entry_type, name, completed, invoked_id, invoked_target, sleep_wakeup_at,
 promise_name, entry_json, appended_at FROM sys_journal WHERE id = '${id.replaceAll("'", "''")}' ORDER BY index`;

function target(t) {
  if (!t || typeof t !== "object") return null;
  const body = Object.values(t)[0] || {};
  return [body.name, body.key, body.handler].filter((p) => p !== undefined && p !== null).join("/");
}

function result(entry, value) {
  if (!value || typeof value !== "object") return;
  if ("Success" in value) entry.value = decodePayload(bytesOf(value.Success));
  else if ("Failure" in value) entry.failure = `[${value.Failure.code}] ${value.Failure.message}`;
  else if ("InvocationId" in value) entry.invocationId = String(value.InvocationId);
  else if ("StateKeys" in value) entry.value = { json: value.StateKeys };
}

function fromCommand(entry, kind, body) {
  entry.name = body.name || entry.name;
  // What the command waits for: its result is the last of these (a call's id comes first, then its result).
  entry.completionIds = ["completion_id", "invocation_id_completion_id", "result_completion_id"]
    .filter((k) => typeof body[k] === "number").map((k) => body[k]);
  if (kind === "Call" || kind === "OneWayCall") {
    const req = body.request || {};
    entry.target = target(req.invocation_target) || entry.target;
    entry.invocationId = req.invocation_id || entry.invocationId;
    entry.value = decodePayload(bytesOf(req.parameter || []));
    if (body.invoke_time) entry.wakeUpAt = new Date(body.invoke_time).toISOString();
    return;
  }
  if ("key" in body) entry.key = String(body.key);
  if ("payload" in body) entry.value = decodePayload(bytesOf(body.payload));
  if ("value" in body) {
    if (Array.isArray(body.value)) entry.value = decodePayload(bytesOf(body.value));
    else result(entry, body.value);
  }
  if ("result" in body) result(entry, body.result);
  if (body.wake_up_time) entry.wakeUpAt = new Date(body.wake_up_time).toISOString();
  if (body.target_invocation_id) entry.invocationId = String(body.target_invocation_id);
  if (body.target && typeof body.target === "object" && "InvocationId" in body.target) entry.invocationId = String(body.target.InvocationId);
  if (typeof body.id === "string") entry.awakeable = body.id;
}

function fromNotification(entry, body) {
  const completion = body.Completion ? Object.values(body.Completion)[0] : body.Signal;
  if (!completion) return;
  if (typeof completion.completion_id === "number") entry.completionIds = [completion.completion_id];
  if (completion.invocation_id) entry.invocationId = String(completion.invocation_id);
  result(entry, completion.result);
}

/** One sys_journal row decoded: {index, type, kind, name, target, invocationId, value, failure, key, wakeUpAt, at, raw}. */
export function decodeEntry(row) {
  const type = String(row.entry_type || "");
  const entry = {
    index: Number(row.index), type, kind: type.startsWith("Notification") ? "notification" : "command",
    name: row.name || null, target: row.invoked_target || null, invocationId: row.invoked_id || null,
    wakeUpAt: row.sleep_wakeup_at || null, key: row.promise_name || null, completed: row.completed,
    at: row.appended_at || null, raw: null, completionIds: [],
  };
  if (row.entry_json) {
    try {
      const data = JSON.parse(row.entry_json);
      entry.raw = data;
      if (data.Command) {
        const [kind, body] = Object.entries(data.Command)[0];
        fromCommand(entry, kind, body || {});
      } else if (data.Notification) {
        fromNotification(entry, data.Notification);
      }
    } catch { /* a shape this UI does not know: the columns' details stay */ }
  }
  return entry;
}

/** The error code of the last failure: its column, else the `[570]` the message starts with. */
export function failureCode(inv) {
  if (inv.last_failure_error_code) return String(inv.last_failure_error_code);
  const m = /^\[(\d{3})/.exec(String(inv.last_failure || ""));
  return m ? m[1] : null;
}

/** The command index the last failure names: its column, else the "(index 'N')" of the SDK's message. */
export function failedCommandIndex(inv) {
  const column = inv.last_failure_related_command_index;
  if (column !== undefined && column !== null) return Number(column);
  const m = /\(index '(\d+)'\)/.exec(String(inv.last_failure || ""));
  return m ? Number(m[1]) : null;
}

/** The journal entry the last failure names: by entry index, else by command index (commands only, Input is 0). */
export function failedEntryIndex(inv, entries) {
  if (inv.last_failure_related_entry_index !== undefined && inv.last_failure_related_entry_index !== null) {
    return Number(inv.last_failure_related_entry_index);
  }
  const commandIndex = failedCommandIndex(inv);
  if (commandIndex === null) return null;
  const found = entries.filter((e) => e.kind === "command")[commandIndex];
  return found ? found.index : null;
}

/** The two sides a non-determinism (journal mismatch, 570) error names, or null for another error.
 *  Reads both message shapes: "recorded the following: X / attempts to perform the following: Y", and the
 *  official SDK's "Difference:" lines (`name: first != second`, journal side first). */
export function mismatchSides(failure, code) {
  const text = String(failure || "");
  const recorded = /previous execution ran and recorded the following:\s*(.*)/i.exec(text);
  const current = /current execution attempts to perform the following:\s*(.*)/i.exec(text);
  const executing = /mismatch happened while executing '([^']*)'/i.exec(text);
  const diffs = [];
  const diffAt = text.search(/Difference:/i);
  if (diffAt >= 0) {
    for (const line of text.slice(diffAt).split("\n").slice(1)) {
      const m = /^\s*([\w.]+):\s*(.*?)\s*!=\s*(.*)$/.exec(line);
      if (m) diffs.push([m[1], m[2], m[3]]);
      else if (line.trim() && !line.startsWith(" ")) break;
    }
  }
  const isMismatch = recorded || current || diffs.length || String(code) === "570" || /mismatch|non-?determinis/i.test(text);
  if (!isMismatch) return null;
  return { recorded: recorded ? recorded[1].trim() : null, current: current ? current[1].trim() : null,
    command: executing ? executing[1] : null, diffs };
}

function entryLabel(e) {
  const kind = e.type.replace(/^(Command|Notification): /, "");
  const bits = [kind];
  if (e.name) bits.push(`"${e.name}"`);
  if (e.target) bits.push(`→ ${e.target}`);
  if (e.key) bits.push(`[${e.key}]`);
  return bits.join(" ");
}

function valueCell(e) {
  const out = [];
  if (e.value) {
    const compact = "json" in e.value ? JSON.stringify(e.value.json) : null;
    const shown = compact !== null && compact.length <= 80 ? compact : showPayload(e.value);
    out.push(shown.length > 80 || shown.includes("\n")
      ? h("details", {}, h("summary", { class: "mono" }, shortText(shown, 80)), h("pre", { "data-value": true }, shown))
      : h("span", { class: "mono", "data-value": true }, shown));
  }
  if (e.failure) out.push(h("span", { class: "badge st-failed" }, e.failure));
  if (e.invocationId) out.push(h("div", {}, h("a", { href: `/ui/invocations/${e.invocationId}`, "data-link": true, class: "mono" }, e.invocationId)));
  if (e.wakeUpAt) out.push(h("div", { class: "muted" }, `until ${fmtTime(e.wakeUpAt)}`));
  if (e.awakeable) out.push(h("div", { class: "mono muted" }, e.awakeable));
  return out;
}

/** When each command's result arrived: command index -> the notification entry of its last completion id. */
export function resultsOf(entries) {
  const byCompletion = {};
  for (const e of entries) if (e.kind === "notification") for (const id of e.completionIds) byCompletion[id] = e;
  const out = {};
  for (const e of entries) {
    if (e.kind !== "command" || !e.completionIds.length) continue;
    const done = byCompletion[e.completionIds[e.completionIds.length - 1]];
    if (done) out[e.index] = done;
  }
  return out;
}

/** The timeline: each entry with its type, name/target, value, when it was appended relative to the start, and
 *  for a command whose result arrived a bar from the command to its result (how long it waited). */
export function timeline(entries, inv, failedIndex, events = []) {
  if (!entries.length) return h("p", { class: "muted" }, "The journal is empty (or was already removed after completion).");
  const start = parseTime(inv.created_at)?.getTime() ?? Math.min(...entries.map((e) => parseTime(e.at)?.getTime() ?? Infinity));
  const times = entries.map((e) => parseTime(e.at)?.getTime()).filter((t) => t !== undefined);
  const span = Math.max(1, Math.max(...times, start) - start);
  const results = resultsOf(entries);
  const byAfter = {};
  for (const ev of events) (byAfter[ev.after_journal_entry_index] ??= []).push(ev);
  const pct = (ms) => Math.max(0, Math.min(100, (100 * ms) / span));
  const items = [];
  for (const e of entries) {
    const at = parseTime(e.at)?.getTime();
    const offset = at !== undefined ? at - start : null;
    const doneAt = parseTime(results[e.index]?.at)?.getTime();
    const waited = doneAt !== undefined && at !== undefined ? doneAt - at : null;
    const bar = offset === null ? null : h("div", { class: "bar",
      style: `margin-left:${pct(offset).toFixed(1)}%;width:${Math.max(0.6, pct(waited || 0)).toFixed(1)}%` });
    items.push(h("li", { class: `${e.kind}${e.index === failedIndex ? " failed-here" : ""}`, "data-index": e.index },
      h("span", { class: "idx" }, `#${e.index}`),
      h("span", {}, entryLabel(e), e.index === failedIndex ? h("div", { class: "badge st-failed" }, "last attempt failed here") : null),
      h("span", {}, valueCell(e)),
      h("span", { class: "muted" }, offset !== null ? `+${fmtDuration(offset)}` : "",
        waited !== null ? h("span", { "data-waited": true }, ` · result after ${fmtDuration(waited)}`) : null, bar)));
    for (const ev of byAfter[e.index] || []) items.push(eventItem(ev));
  }
  return h("ol", { class: "timeline", id: "journal" }, items);
}

/** An event of sys_journal_events (the real server records e.g. each attempt's TransientError there). */
export function eventDetail(ev) {
  let data;
  try {
    data = JSON.parse(ev.event_json || "");
  } catch {
    return { type: ev.event_type || "event", text: ev.event_json || "" };
  }
  const body = data && typeof data === "object" && !data.error_message && Object.keys(data).length === 1 ? Object.values(data)[0] : data;
  if (body && typeof body === "object" && body.error_message) {
    return { type: ev.event_type || body.ty || "event", text: `[${body.error_code ?? "?"}] ${body.error_message}`, stack: body.error_stacktrace };
  }
  return { type: ev.event_type || "event", text: JSON.stringify(data) };
}

function eventItem(ev) {
  const d = eventDetail(ev);
  return h("li", { class: "notification", "data-event": d.type }, h("span", { class: "idx" }, "ev"), h("span", {}, d.type),
    h("span", { class: "mono" }, shortText(d.text, 200)), h("span", { class: "muted" }, fmtTime(ev.appended_at)));
}

/** Earlier attempts' errors, newest first, as the server recorded them (sys_journal_events). */
function earlierErrors(events) {
  const errors = events.map((ev) => ({ ev, d: eventDetail(ev) })).filter(({ d }) => /error/i.test(d.type)).reverse().slice(0, 5);
  if (!errors.length) return null;
  return h("div", { id: "earlier-errors" }, h("h3", {}, "Errors of earlier attempts (newest first)"),
    h("ul", {}, errors.map(({ ev, d }) => h("li", {}, h("span", { class: "muted" }, fmtTime(ev.appended_at)), " ",
      h("span", { class: "mono" }, shortText(d.text, 160))))));
}

/** The journal debugger panel of a failed or retrying invocation (null when there is no failure to explain). */
export function debuggerPanel(inv, entries, failedIndex, events = []) {
  const failure = inv.last_failure || (inv.status === "completed" ? inv.completion_failure : null);
  if (!failure) return null;
  const entry = entries.find((e) => e.index === failedIndex);
  const where = entry
    ? `at journal entry #${entry.index}: ${entryLabel(entry)}`
    : failedCommandIndex(inv) !== null
      ? `at command #${failedCommandIndex(inv)}${inv.last_failure_related_command_type ? ` (${inv.last_failure_related_command_type} ${inv.last_failure_related_command_name || ""})` : ""}, which the journal does not hold yet`
      : `after the last journal entry (#${entries.length ? entries[entries.length - 1].index : 0})`;
  const [firstLine, ...stack] = String(failure).split("\n");
  const parts = [
    h("p", {}, h("strong", {}, `The last attempt${inv.retry_count ? ` (attempt ${Number(inv.retry_count) + 1})` : ""} failed ${where}.`)),
    h("p", {}, failureCode(inv) ? h("span", { class: "badge st-failed" }, `code ${failureCode(inv)}`) : null, " ",
      h("span", { class: "mono", id: "failure-message" }, firstLine)),
    stack.length ? h("details", { open: true }, h("summary", {}, "Stack / details"), h("pre", { id: "failure-stack" }, stack.join("\n"))) : null,
  ];
  const sides = mismatchSides(failure, failureCode(inv));
  if (sides) {
    const diffTable = sides.diffs.length ? h("table", { id: "mismatch-diff" },
      h("thead", {}, h("tr", {}, h("th", {}, "Field"), h("th", {}, "Journal holds"), h("th", {}, "This attempt's code"))),
      h("tbody", {}, sides.diffs.map(([field, journal, code]) => h("tr", {}, h("td", {}, field),
        h("td", { class: "mono", "data-side": "journal" }, journal), h("td", { class: "mono", "data-side": "code" }, code))))) : null;
    parts.push(h("h3", {}, `Non-determinism: the journal and this attempt's code disagree${sides.command ? ` at ${sides.command}` : ""}`),
      diffTable,
      h("div", { class: "side", id: "mismatch" },
        h("div", {}, h("h3", {}, `Recorded in the journal${entry ? ` (entry #${entry.index}: ${entryLabel(entry)})` : ""}`),
          sides.recorded ? h("p", { class: "mono" }, sides.recorded) : null,
          entry ? h("pre", { "data-side": "journal-entry" }, JSON.stringify(entry.raw || entry, null, 2)) : h("p", { class: "muted" }, "no entry at that index")),
        h("div", {}, h("h3", {}, "What this attempt's code did"),
          h("pre", { "data-side": "code-did" }, sides.current || (sides.diffs.length
            ? sides.diffs.map(([field, , code]) => `${field}: ${code}`).join("\n") : firstLine)))));
  }
  parts.push(earlierErrors(events));
  return h("section", { class: "card", id: "debugger" }, h("h2", {}, "Journal debugger"), parts);
}
