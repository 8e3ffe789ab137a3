// Overview: every warehouse's levels counted out of stock, low and healthy, as a heat map
// (the darker a cell, the larger its share of the warehouse's levels) an operator reads at
// a glance. Refreshed when stock changes.
import { badge, debounce, h, num, replace } from "./dom.js";
import { place } from "./search.js";

const QUERY = `query DashboardOverview {
  warehouses(first: 250) {
    nodes { id code name isActive stockHealth { levels outOfStock lowStock healthy } }
  }
}`;

const COLUMNS = [
  { key: "outOfStock", kind: "out", label: "Out of stock" },
  { key: "lowStock", kind: "low", label: "Low stock" },
  { key: "healthy", kind: "healthy", label: "Healthy" },
];

// The share of a warehouse's levels in a cell, as one of five shades.
function shade(count, levels) {
  if (!count || !levels) return 0;
  const share = count / levels;
  return share < 0.05 ? 1 : share < 0.15 ? 2 : share < 0.35 ? 3 : 4;
}

function percent(count, levels) {
  return levels ? `${Math.round((100 * count) / levels)}%` : "—";
}

export function overviewView(ctx) {
  const totals = h("div", { class: "totals", "aria-label": "All warehouses" });
  const grid = h("div", { class: "table-wrap" });
  const panel = h(
    "section",
    { "aria-labelledby": "overview-title" },
    h("h2", { id: "overview-title" }, "Stock by warehouse"),
    h(
      "p",
      { class: "hint" },
      "Levels out of stock (nothing available), low (at or under their safety stock) and healthy. ",
      "Darker cells hold a larger share of the warehouse's levels.",
    ),
    totals,
    grid,
  );

  function render(warehouses) {
    const sum = { outOfStock: 0, lowStock: 0, healthy: 0, levels: 0 };
    for (const w of warehouses) for (const key of Object.keys(sum)) sum[key] += w.stockHealth[key];
    replace(
      totals,
      COLUMNS.map((c) =>
        h(
          "div",
          { class: `total total-${c.kind}`, dataset: { total: c.key } },
          badge(c.kind, c.label),
          h("strong", { class: "num" }, num(sum[c.key])),
          h("span", { class: "share" }, `${percent(sum[c.key], sum.levels)} of ${num(sum.levels)} levels`),
        ),
      ),
    );
    const head = h(
      "tr",
      {},
      h("th", { scope: "col" }, "Warehouse"),
      COLUMNS.map((c) => h("th", { scope: "col", class: "num" }, badge(c.kind, c.label))),
      h("th", { scope: "col", class: "num" }, "Levels"),
      h("th", { scope: "col" }, "Mix"),
    );
    const rows = warehouses.map((w) => {
      const health = w.stockHealth;
      const bar = h(
        "div",
        { class: "mix", role: "img", "aria-label": COLUMNS.map((c) => `${num(health[c.key])} ${c.label.toLowerCase()}`).join(", ") },
        COLUMNS.map((c) => {
          const part = h("span", { class: `mix-${c.kind}` });
          part.style.flexGrow = String(health[c.key]);
          return part;
        }),
      );
      return h(
        "tr",
        { dataset: { warehouse: w.code } },
        h("th", { scope: "row" }, place(w), w.isActive ? null : " (inactive)"),
        COLUMNS.map((c) =>
          h(
            "td",
            {
              class: `num heat heat-${c.kind} shade-${shade(health[c.key], health.levels)}`,
              dataset: { count: c.key },
            },
            h("span", { class: "count" }, num(health[c.key])),
            h("span", { class: "share" }, percent(health[c.key], health.levels)),
          ),
        ),
        h("td", { class: "num" }, num(health.levels)),
        h("td", {}, bar),
      );
    });
    if (!rows.length) rows.push(h("tr", {}, h("td", { colspan: 6, class: "empty" }, "No warehouses yet.")));
    replace(grid, h("table", { class: "heatmap" }, h("caption", {}, "Levels by warehouse and state"), h("thead", {}, head), h("tbody", {}, rows)));
  }

  async function refresh() {
    try {
      const data = await ctx.api.query(QUERY);
      render(data.warehouses.nodes);
    } catch (error) {
      ctx.fail(grid, error);
    }
  }

  const later = debounce(refresh, 300);
  return {
    id: "overview",
    label: "Overview",
    needs: ["READ_CATALOG", "READ_STOCK"],
    panel,
    show: refresh,
    onStock: (event, visible) => visible && later(),
  };
}
