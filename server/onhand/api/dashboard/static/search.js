// Product search by SKU or name: each product's levels per warehouse (every quantity bucket)
// and what each channel may sell of it. Shown results follow stock changes live.
import { badge, debounce, h, num, replace, table } from "./dom.js";

const QUERY = `query DashboardProducts($search: String!, $channels: Boolean!) {
  products(search: $search, first: 20) {
    totalCount
    nodes {
      id sku name isActive
      inventoryLevels {
        id onHand reserved committed incoming damaged quarantined safetyStock available
        warehouse { code name }
      }
      channelAvailability @include(if: $channels) {
        availableToSell channel { code name }
      }
    }
  }
}`;

const BUCKETS = [
  ["onHand", "On hand"],
  ["reserved", "Reserved"],
  ["committed", "Committed"],
  ["incoming", "Incoming"],
  ["damaged", "Damaged"],
  ["quarantined", "Quarantined"],
  ["safetyStock", "Safety stock"],
  ["available", "Available"],
];

// The stock alerts' rule, for the word shown beside a level.
export function levelState(level, lowThreshold = 10) {
  if (level.available <= 0) return badge("out", "Out of stock");
  const lowAt = level.safetyStock > 0 ? level.safetyStock : lowThreshold;
  if (level.available <= lowAt) return badge("low", "Low");
  return badge("healthy", "Healthy");
}

// A warehouse or channel: its code, and its name when that says more.
export function place(where) {
  return h("span", {}, h("span", { class: "code" }, where.code), where.name && where.name !== where.code ? ` ${where.name}` : "");
}

export function searchView(ctx) {
  const input = h("input", { id: "search-input", type: "search", name: "search", autocomplete: "off", required: true, placeholder: "e.g. SKU-000001 or widget" });
  const status = h("p", { class: "hint", role: "status", "aria-live": "polite" });
  const results = h("div", { class: "results" });
  let shown = "";
  let productIds = new Set();

  const form = h(
    "form",
    { class: "inline", role: "search", onsubmit: (event) => { event.preventDefault(); run(input.value.trim()); } },
    h("label", { for: "search-input" }, "SKU or product name"),
    input,
    h("button", { type: "submit" }, "Search"),
  );
  const panel = h("section", { "aria-labelledby": "search-title" }, h("h2", { id: "search-title" }, "Products"), form, status, results);

  function product(p) {
    const levels = table(
      `Levels of ${p.sku}`,
      ["Warehouse", ...BUCKETS.map(([, label]) => ({ label, num: true })), "State"],
      p.inventoryLevels.map((level) => ({
        attrs: { dataset: { level: `${p.sku}@${level.warehouse.code}` } },
        cells: [
          place(level.warehouse),
          ...BUCKETS.map(([key]) => h("td", { class: "num", dataset: { bucket: key } }, num(level[key]))),
          levelState(level),
        ],
      })),
      "Not stocked in any warehouse.",
    );
    const parts = [h("h3", {}, h("span", { class: "code" }, p.sku), " ", p.name, p.isActive ? null : " (inactive)"), h("div", { class: "table-wrap" }, levels)];
    if (p.channelAvailability) {
      parts.push(
        h(
          "div",
          { class: "table-wrap narrow" },
          table(
            `What each channel may sell of ${p.sku}`,
            ["Channel", { label: "Available to sell", num: true }],
            p.channelAvailability.map((c) => ({
              attrs: { dataset: { channel: c.channel.code } },
              cells: [place(c.channel), c.availableToSell],
            })),
            "No active channel sells this product.",
          ),
        ),
      );
    }
    return h("article", { class: "product", dataset: { sku: p.sku } }, parts);
  }

  async function run(text) {
    shown = text;
    if (!text) return;
    status.textContent = "Searching…";
    try {
      const data = await ctx.api.query(QUERY, { search: text, channels: ctx.can("READ_CHANNEL") });
      if (text !== shown) return; // a newer search is under way
      const found = data.products;
      productIds = new Set(found.nodes.map((p) => p.id));
      status.textContent =
        found.totalCount === 0
          ? `No product matches “${text}”.`
          : `${num(found.totalCount)} product${found.totalCount === 1 ? "" : "s"} match “${text}”${found.totalCount > found.nodes.length ? `; the first ${found.nodes.length} are shown` : ""}.`;
      replace(results, found.nodes.map(product));
    } catch (error) {
      ctx.fail(results, error);
      status.textContent = "";
    }
  }

  const again = debounce(() => run(shown), 150);
  return {
    id: "search",
    label: "Products",
    needs: ["READ_CATALOG", "READ_STOCK"],
    panel,
    show: () => input.focus(),
    onStock: (event) => productIds.has(event.productId) && again(),
  };
}
