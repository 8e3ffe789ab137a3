// SKUs and warehouse codes for the global ids stock events carry. The event stream asks for
// ids only: resolving names inside the subscription would cost the server a lookup per event
// and subscriber, and slow a burst (an import's thousands of events) to a crawl. Here each id
// is looked up once, many at a time, and every element waiting for it is filled in.
import { h } from "./dom.js";

const PER_QUERY = 25; // aliases per query, under the server's limit

export class Names {
  constructor(api) {
    this.api = api;
    this.known = new Map();
    this.waiting = new Map();
    this.timer = null;
    this.busy = false;
  }

  // An element showing the SKU or code of the node with this id, filled in once known.
  label(id) {
    const el = h("span", { class: "code", dataset: { node: id } }, this.known.get(id) || "…");
    if (!this.known.has(id)) {
      if (!this.waiting.has(id)) this.waiting.set(id, []);
      this.waiting.get(id).push(el);
      clearTimeout(this.timer);
      this.timer = setTimeout(() => this.lookUp(), 30);
    }
    return el;
  }

  async lookUp() {
    if (this.busy) return;
    this.busy = true;
    try {
      while (this.waiting.size) {
        // Rows already pushed off the page need no name.
        for (const [id, elements] of this.waiting) {
          if (!elements.some((el) => el.isConnected)) this.waiting.delete(id);
        }
        if (!this.waiting.size) break;
        const ids = [...this.waiting.keys()].slice(0, PER_QUERY);
        const elements = ids.map((id) => this.waiting.get(id));
        ids.forEach((id) => this.waiting.delete(id));
        const names = await this.fetch(ids);
        ids.forEach((id, index) => {
          if (names[index] !== null) this.known.set(id, names[index]);
          for (const el of elements[index]) el.textContent = names[index] ?? "?";
        });
      }
    } finally {
      this.busy = false;
    }
  }

  async fetch(ids) {
    const declared = ids.map((_, i) => `$i${i}: ID!`).join(", ");
    const fields = ids
      .map((_, i) => `n${i}: node(id: $i${i}) { ... on Product { sku } ... on Warehouse { code } }`)
      .join("\n");
    const variables = Object.fromEntries(ids.map((id, i) => [`i${i}`, id]));
    try {
      const data = await this.api.query(`query DashboardNames(${declared}) {\n${fields}\n}`, variables);
      return ids.map((_, i) => {
        const node = data[`n${i}`];
        return node ? node.sku || node.code || null : null;
      });
    } catch (error) {
      return ids.map(() => null);
    }
  }
}
