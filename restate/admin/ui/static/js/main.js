// The app shell: path routing under /ui/, the server's health in the header, and each view's lifetime.
import { api } from "./api.js";
import { errorBox } from "./components.js";
import { clear, h } from "./util.js";
import * as overview from "./views/overview.js";
import * as invocations from "./views/invocations.js";
import * as invocation from "./views/invocation.js";
import * as state from "./views/state.js";
import * as node from "./views/node.js";
import * as sql from "./views/sql.js";

const root = document.getElementById("app");
let cleanup = null;
let renders = 0; // bumped by every render: tells a render that finished late that its page was left

/** [pattern, view, nav]: the first pattern matching the path after /ui/ wins. */
const ROUTES = [
  [/^$/, overview, "overview"],
  [/^overview$/, overview, "overview"],
  [/^invocations$/, invocations, "invocations"],
  [/^invocations\/([^/]+)$/, invocation, "invocations"],
  [/^state$/, state, "state"],
  [/^state\/([^/]+)$/, state, "state"],
  [/^state\/([^/]+)\/(.+)$/, state, "state"],
  [/^node$/, node, "node"],
  [/^sql$/, sql, "sql"],
];

function route() {
  const path = location.pathname.replace(/^\/ui\/?/, "").replace(/\/$/, "");
  for (const [pattern, view, nav] of ROUTES) {
    const match = pattern.exec(path);
    if (match) return { view, nav, params: match.slice(1).map(decodeURIComponent) };
  }
  return null;
}

async function render() {
  if (cleanup) {
    try { cleanup(); } catch { /* a view that failed to clean up must not block the next */ }
    cleanup = null;
  }
  clear(root);
  const found = route();
  document.querySelectorAll("[data-nav]").forEach((a) => a.classList.toggle("active", found?.nav === a.dataset.nav));
  if (!found) {
    root.append(h("h1", {}, "Not found"), h("p", {}, "No page at this address. ", h("a", { href: "/ui/overview", "data-link": true }, "Overview")));
    return;
  }
  // Each render draws into its own element: one that finishes after its page was left draws nowhere visible.
  const mount = h("div", { class: "view" });
  root.append(mount);
  const ctx = { root: mount, params: found.params, query: new URLSearchParams(location.search), navigate };
  const generation = ++renders;
  try {
    const done = (await found.view.render(ctx)) || null;
    // A view whose page was left while it loaded is stopped at once (its timers must not run on).
    if (generation === renders) cleanup = done;
    else if (done) done();
  } catch (err) {
    if (generation === renders) mount.append(errorBox(err));
  }
}

export function navigate(href, replace = false) {
  if (replace) history.replaceState(null, "", href);
  else history.pushState(null, "", href);
  render();
}

document.addEventListener("click", (e) => {
  const a = e.target.closest("a[data-link]");
  if (!a || e.ctrlKey || e.metaKey || e.shiftKey || e.button !== 0) return;
  e.preventDefault();
  navigate(a.getAttribute("href"));
});
window.addEventListener("popstate", render);

async function pollHealth() {
  const el = document.getElementById("server-status");
  const up = await api.health();
  el.className = `server ${up ? "up" : "down"}`;
  el.textContent = up ? "server up" : "server unreachable";
}

pollHealth();
setInterval(pollHealth, 5000);
render();
