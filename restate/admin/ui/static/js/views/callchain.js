// The call chain of an invocation: its callers up to the root and everything each one called or sent, as a tree.
import { api } from "../api.js";
import { displayStatus, h, lit, statusBadge } from "../util.js";

const COLUMNS = "id, target, status, completion_result, completion_failure, invoked_by_id";
const MAX_UP = 10, MAX_DOWN = 6, MAX_CHILDREN = 200;

/** The root's tree: {row, children: [...]}; ancestors are climbed through invoked_by_id. */
export async function loadChain(inv) {
  let root = inv;
  for (let i = 0; i < MAX_UP && root.invoked_by_id; i++) {
    const rows = await api.query(`SELECT ${COLUMNS} FROM sys_invocation WHERE id = ${lit(root.invoked_by_id)}`);
    if (!rows.length) break; // the caller was purged: the chain starts here
    root = rows[0];
  }
  const top = { row: root, children: [] };
  let level = [top];
  for (let depth = 0; depth < MAX_DOWN && level.length; depth++) {
    const ids = level.map((n) => lit(n.row.id)).join(", ");
    const rows = await api.query(`SELECT ${COLUMNS}, created_at FROM sys_invocation WHERE invoked_by_id IN (${ids})
 ORDER BY created_at LIMIT ${MAX_CHILDREN}`);
    const byParent = Object.fromEntries(level.map((n) => [n.row.id, n]));
    const next = [];
    for (const row of rows) {
      const node = { row, children: [] };
      byParent[row.invoked_by_id]?.children.push(node);
      next.push(node);
    }
    level = next;
  }
  return top;
}

function item(node, currentId) {
  const { row } = node;
  return h("li", { class: row.id === currentId ? "current" : null, "data-chain-id": row.id },
    h("span", {}, h("a", { href: `/ui/invocations/${row.id}`, "data-link": true }, row.target || row.id), " ",
      statusBadge(displayStatus(row)), " ", h("span", { class: "mono muted" }, row.id)),
    node.children.length ? h("ul", {}, node.children.map((c) => item(c, currentId))) : null);
}

export function chainTree(top, currentId) {
  return h("ul", { class: "tree", id: "call-chain" }, item(top, currentId));
}
