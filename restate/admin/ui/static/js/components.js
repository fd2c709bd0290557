// Small pieces several views use: a confirmation dialog, key/value lists, tables, an error box.
import { ApiError } from "./api.js";
import { h, message } from "./util.js";

/** A modal that resolves true on confirm, false on cancel (Escape too). */
export function confirmDialog(title, body, confirmLabel = "Confirm") {
  return new Promise((resolve) => {
    const close = (answer) => {
      back.remove();
      document.removeEventListener("keydown", onKey);
      resolve(answer);
    };
    const onKey = (e) => { if (e.key === "Escape") close(false); };
    const back = h("div", { class: "modal-back" },
      h("div", { class: "modal", role: "dialog", "aria-modal": "true", "aria-label": title },
        h("h2", {}, title), h("div", {}, body),
        h("div", { class: "actions" },
          h("button", { type: "button", onclick: () => close(false) }, "Close"),
          h("button", { type: "button", class: "primary", "data-confirm": true, onclick: () => close(true) }, confirmLabel))));
    document.addEventListener("keydown", onKey);
    document.body.append(back);
    back.querySelector("[data-confirm]").focus();
  });
}

export function kv(pairs) {
  const dl = h("dl", { class: "kv" });
  for (const [key, value] of pairs) {
    if (value === null || value === undefined || value === "") continue;
    dl.append(h("dt", {}, key), h("dd", {}, value));
  }
  return dl;
}

/** A table: `columns` are [header, (row) => cell, className?]. */
export function table(columns, rows, rowAttrs = () => ({})) {
  return h("table", {},
    h("thead", {}, h("tr", {}, columns.map(([title, , cls]) => h("th", { class: cls }, title)))),
    h("tbody", {}, rows.map((row) => h("tr", rowAttrs(row), columns.map(([, cell, cls]) => h("td", { class: cls }, cell(row)))))));
}

/** An API failure as a message: unreachable server, an error the API answered, or a bug. */
export function errorBox(err, what = "") {
  const prefix = what ? `${what}: ` : "";
  if (err instanceof ApiError && err.status === 0) return message("error", `${prefix}${err.message}. Is the server running?`);
  return message("error", `${prefix}${err.message || err}`);
}
