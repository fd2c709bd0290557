// DOM building, formatting and decoding helpers shared by every view (no I/O here).

/** h("a", {href, class}, child, ...): an element; strings become text nodes (never parsed as HTML). */
export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs || {})) {
    if (value === null || value === undefined || value === false) continue;
    if (key.startsWith("on") && typeof value === "function") el.addEventListener(key.slice(2), value);
    else if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children) {
    if (child === null || child === undefined || child === false) continue;
    if (Array.isArray(child)) append(el, child);
    else el.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
}

/** A link inside the app (handled by the router, no page load). */
export function link(href, ...children) {
  return h("a", { href: `/ui/${href.replace(/^\//, "")}`, "data-link": true }, ...children);
}

export function message(kind, text, ...more) {
  return h("div", { class: `msg ${kind}`, role: kind === "error" ? "alert" : null }, text, ...more);
}

export const empty = (text) => message("empty", text);

/** An SQL string literal. */
export function lit(value) {
  return `'${String(value).replaceAll("'", "''")}'`;
}

/** The status a person reads: completed invocations are succeeded, failed, cancelled or killed. */
export function displayStatus(row) {
  if (row.status !== "completed") return row.status || "unknown";
  if (row.completion_result === "success") return "succeeded";
  const failure = String(row.completion_failure || "").toLowerCase();
  if (failure.includes("killed")) return "killed";
  if (failure.includes("cancel")) return "cancelled";
  return "failed";
}

export function statusBadge(status, extra = "") {
  return h("span", { class: `badge st-${status}`, "data-status": status }, extra ? `${status} ${extra}` : status);
}

export function parseTime(value) {
  if (!value) return null;
  const text = String(value).replace(/\.(\d{3})\d*Z$/, ".$1Z");
  const at = new Date(text);
  return Number.isNaN(at.getTime()) ? null : at;
}

export function fmtTime(value) {
  const at = parseTime(value);
  if (!at) return "";
  return at.toISOString().replace("T", " ").replace(/\.\d+Z$/, "Z");
}

export function fmtDuration(ms) {
  if (ms === null || ms === undefined || Number.isNaN(ms)) return "";
  const sign = ms < 0 ? "-" : "";
  ms = Math.abs(ms);
  if (ms < 1000) return `${sign}${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${sign}${s.toFixed(s < 10 ? 1 : 0)}s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${sign}${m}m ${Math.round(s % 60)}s`;
  const hrs = Math.floor(m / 60);
  if (hrs < 48) return `${sign}${hrs}h ${m % 60}m`;
  return `${sign}${Math.floor(hrs / 24)}d ${hrs % 24}h`;
}

export function ago(value) {
  const at = parseTime(value);
  return at ? `${fmtDuration(Date.now() - at.getTime())} ago` : "";
}

/** "10s", "1m 30s", "500ms", "1h", "PT30S" (the admin API's durations) in milliseconds; null if unreadable. */
export function parseDuration(text) {
  if (typeof text === "number") return text;
  if (!text) return null;
  const iso = /^PT(?:(\d+(?:\.\d+)?)H)?(?:(\d+(?:\.\d+)?)M)?(?:(\d+(?:\.\d+)?)S)?$/i.exec(text);
  if (iso) return ((+iso[1] || 0) * 3600 + (+iso[2] || 0) * 60 + (+iso[3] || 0)) * 1000;
  const units = { ms: 1, s: 1000, m: 60000, min: 60000, h: 3600000, hr: 3600000, d: 86400000, day: 86400000, days: 86400000 };
  let total = 0, found = false;
  for (const [, n, unit] of String(text).matchAll(/(\d+(?:\.\d+)?)\s*([a-z]+)/gi)) {
    const scale = units[unit.toLowerCase()];
    if (scale === undefined) return null;
    total += Number(n) * scale; found = true;
  }
  return found ? total : null;
}

/** Bytes (hex text as SQL returns binary columns, or an array of byte values) decoded for display. */
export function bytesOf(value) {
  if (Array.isArray(value)) return new Uint8Array(value);
  if (typeof value === "string" && /^([0-9a-f]{2})*$/i.test(value)) {
    const out = new Uint8Array(value.length / 2);
    for (let i = 0; i < out.length; i++) out[i] = parseInt(value.substr(i * 2, 2), 16);
    return out;
  }
  return new TextEncoder().encode(String(value ?? ""));
}

/** A payload: `{json}` when it is JSON, else `{text}`, else `{hex}`. */
export function decodePayload(bytes) {
  let text;
  try {
    text = new TextDecoder("utf-8", { fatal: true }).decode(bytes);
  } catch {
    return { hex: Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("") };
  }
  if (text === "") return { text: "" };
  try {
    return { json: JSON.parse(text) };
  } catch {
    return { text };
  }
}

export function showPayload(decoded) {
  if (!decoded) return "";
  if ("json" in decoded) return JSON.stringify(decoded.json, null, 2);
  if ("text" in decoded) return decoded.text;
  return `hex:${decoded.hex}`;
}

export function shortText(text, limit = 120) {
  const flat = String(text ?? "").replace(/\s+/g, " ");
  return flat.length <= limit ? flat : `${flat.slice(0, limit - 1)}…`;
}

/** Replaces an element's children; null, undefined and false children are left out (never shown as text). */
export function fill(el, ...children) {
  el.replaceChildren();
  append(el, children);
  return el;
}

/** Whether a live view should skip this refresh: a dialog is open, or the tab is not visible (no load then). */
export function paused() {
  return document.hidden || document.querySelector(".modal-back") !== null;
}

export function clear(el) {
  while (el.firstChild) el.firstChild.remove();
  return el;
}
