// State: Virtual Object and Workflow keys of a service, their entries decoded, edit/clear with the version guard.
import { api } from "../api.js";
import { confirmDialog, errorBox, table } from "../components.js";
import { bytesOf, decodePayload, empty, h, lit, link, message, showPayload, fill } from "../util.js";

const KEYED = ["VirtualObject", "Workflow"];
const KEY_LIMIT = 500;

/** The state's version as the official CLI computes it: sha256 over the sorted (key, value) pairs, base64url. */
export async function stateVersion(entries) {
  if (!globalThis.crypto?.subtle) return null; // not a secure context: the admin API takes no version then
  const enc = new TextEncoder();
  const parts = [];
  Object.keys(entries).sort().forEach((key, i) => {
    const index = new Uint8Array(8);
    new DataView(index.buffer).setBigUint64(0, BigInt(i));
    parts.push(index, Uint8Array.of(1), enc.encode(key), Uint8Array.of(2), entries[key], Uint8Array.of(3));
  });
  const all = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let at = 0;
  for (const p of parts) { all.set(p, at); at += p.length; }
  const digest = new Uint8Array(await crypto.subtle.digest("SHA-256", all));
  return btoa(String.fromCharCode(...digest)).replaceAll("+", "-").replaceAll("/", "_").replace(/=+$/, "");
}

async function readEntries(service, key) {
  const rows = await api.query(`SELECT key, value FROM state WHERE service_name = ${lit(service)} AND service_key = ${lit(key)} ORDER BY key`);
  return Object.fromEntries(rows.map((r) => [r.key, bytesOf(r.value ?? "")]));
}

/** Replaces the key's whole state with `entries` (name -> bytes), guarded by the version of what was read. */
async function writeState(service, key, before, entries) {
  const version = await stateVersion(before);
  const body = { object_key: key, new_state: Object.fromEntries(Object.entries(entries).map(([k, v]) => [k, Array.from(v)])) };
  if (version) body.version = version;
  await api.post(`/services/${encodeURIComponent(service)}/state`, body);
}

/** A JSON value editor; with `name` null it also asks for the new entry's name. */
function editor(name, initial, onSave, onCancel) {
  const nameInput = name === null ? h("input", { "aria-label": "entry name", name: "entry", placeholder: "entry name" }) : null;
  const area = h("textarea", { "aria-label": "value (JSON)", name: "value" }, initial);
  const err = h("div", {});
  return h("div", { class: "card", id: "state-editor" }, h("h3", {}, name === null ? "New entry" : `Edit ${name}`), nameInput, area, err,
    h("div", { class: "toolbar" },
    h("button", { type: "button", class: "primary", "data-save": true, onclick: () => {
      const entry = name === null ? nameInput.value.trim() : name;
      if (!entry) {
        fill(err, message("error", "The entry needs a name."));
        return;
      }
      try {
        JSON.parse(area.value);
      } catch (e) {
        fill(err, message("error", `Not JSON: ${e.message}`));
        return;
      }
      onSave(entry, area.value);
    } }, "Save"),
    h("button", { type: "button", onclick: onCancel }, "Cancel")));
}

async function keyView(box, service, key, note = null) {
  const out = h("div", { id: "state-result" }, note);
  let before;
  try {
    before = await readEntries(service, key);
  } catch (err) {
    fill(box, errorBox(err, "Cannot read the state"));
    return;
  }
  const reload = () => keyView(box, service, key);
  const save = async (entries, what) => {
    try {
      const current = await readEntries(service, key);
      if (JSON.stringify(Object.keys(current).map((k) => [k, Array.from(current[k])])) !==
          JSON.stringify(Object.keys(before).map((k) => [k, Array.from(before[k])]))) {
        fill(out, message("error", "The state changed since it was read: reloaded, please try again."));
        return reload();
      }
      await writeState(service, key, before, entries);
      fill(box, message("ok", `${what}: sent (applied after the invocations running on ${service}/${key}).`));
      const applied = await waitChanged(service, key, before);
      await keyView(box, service, key, applied ? message("ok", `${what}: applied.`) : message("error",
        `${what}: not applied within 15 s (invocations still running on the key, or the state changed meanwhile).`));
    } catch (err) {
      fill(out, errorBox(err, `${what} failed`));
    }
  };
  const names = Object.keys(before);
  const editArea = h("div", {});
  const editEntry = (name, initial) => fill(editArea, editor(name, initial, (entry, text) => {
    const next = { ...before, [entry]: new TextEncoder().encode(text) };
    save(next, `Set ${entry}`);
  }, () => fill(editArea)));
  const rows = names.map((name) => ({ name, decoded: decodePayload(before[name]) }));
  fill(box,
    h("h2", {}, `${service} / ${key}`),
    h("p", {}, link(`invocations?service=${encodeURIComponent(service)}&key=${encodeURIComponent(key)}`, `Invocations of ${service}/${key}`)),
    out,
    rows.length ? table([
      ["Entry", (r) => h("span", { class: "mono", "data-entry": r.name }, r.name)],
      ["Value", (r) => h("pre", { "data-entry-value": r.name }, showPayload(r.decoded))],
      ["", (r) => h("span", { class: "toolbar" },
        h("button", { type: "button", "data-edit": r.name, onclick: () => editEntry(r.name, "json" in r.decoded ? JSON.stringify(r.decoded.json, null, 2) : JSON.stringify(r.decoded.text ?? "")) }, "Edit"),
        h("button", { type: "button", class: "danger", "data-delete": r.name, onclick: async () => {
          if (!(await confirmDialog(`Delete ${r.name}?`, h("p", {}, `Removes the entry ${r.name} of ${service}/${key}.`), "Delete"))) return;
          const next = { ...before };
          delete next[r.name];
          save(next, `Delete ${r.name}`);
        } }, "Delete"))],
    ], rows) : empty("This key has no state."),
    h("div", { class: "toolbar" },
      h("button", { type: "button", "data-add": true, onclick: () => editEntry(null, "") }, "Add entry"),
      h("button", { type: "button", class: "danger", "data-clear": true, disabled: !names.length, onclick: async () => {
        if (!(await confirmDialog(`Clear ${service}/${key}?`, h("p", {}, `Deletes all ${names.length} entries.`), "Clear"))) return;
        save({}, "Clear");
      } }, "Clear all")),
    editArea);
}

/** Waits (at most 15 s) until the state differs from `before`: the change is applied asynchronously, after the
 *  invocations running on the key. */
async function waitChanged(service, key, before, deadlineMs = 15000) {
  const start = Date.now();
  const same = (a, b) => JSON.stringify(Object.entries(a).map(([k, v]) => [k, Array.from(v)])) === JSON.stringify(Object.entries(b).map(([k, v]) => [k, Array.from(v)]));
  while (Date.now() - start < deadlineMs) {
    if (!same(await readEntries(service, key), before)) return true;
    await new Promise((r) => setTimeout(r, 200));
  }
  return false;
}

export async function render({ root, params, navigate }) {
  const [service, key] = params;
  root.append(h("h1", {}, "State"));
  let services;
  try {
    services = ((await api.get("/services")).services || []).filter((s) => KEYED.includes(s.ty)).sort((a, b) => a.name.localeCompare(b.name));
  } catch (err) {
    root.append(errorBox(err, "Cannot load services"));
    return;
  }
  if (!services.length) {
    root.append(empty("No Virtual Objects or Workflows are registered."));
    return;
  }
  if (!service) {
    navigate(`/ui/state/${encodeURIComponent(services[0].name)}`, true);
    return;
  }
  root.append(h("div", { class: "tabs" }, services.map((s) => {
    const a = link(`state/${encodeURIComponent(s.name)}`, `${s.name} (${s.ty})`);
    if (s.name === service) a.classList.add("active");
    return a;
  })));
  const layout = h("div", { class: "grid" });
  const keysBox = h("section", { class: "card", id: "keys" }), entryBox = h("section", { class: "card", id: "entries" });
  layout.append(keysBox, entryBox);
  root.append(layout);
  try {
    const rows = await api.query(`SELECT service_key, COUNT(*) AS entries FROM state WHERE service_name = ${lit(service)}
 GROUP BY service_key ORDER BY service_key LIMIT ${KEY_LIMIT}`);
    const filter = h("input", { placeholder: "filter keys", "aria-label": "filter keys" });
    const list = h("div", {});
    const draw = () => {
      const shown = rows.filter((r) => String(r.service_key).includes(filter.value));
      fill(list, shown.length ? table([
        ["Key", (r) => link(`state/${encodeURIComponent(service)}/${encodeURIComponent(r.service_key)}`, r.service_key)],
        ["Entries", (r) => String(r.entries), "num"],
      ], shown, (r) => ({ class: r.service_key === key ? "selected" : null })) : empty(`No ${service} key has state.`));
    };
    filter.addEventListener("input", draw);
    draw();
    fill(keysBox, h("h2", {}, `Keys with state (${rows.length}${rows.length === KEY_LIMIT ? "+" : ""})`), filter, list);
  } catch (err) {
    fill(keysBox, errorBox(err, "Cannot list keys"));
  }
  if (key) await keyView(entryBox, service, key);
  else fill(entryBox, empty("Pick a key to see its state."));
}
