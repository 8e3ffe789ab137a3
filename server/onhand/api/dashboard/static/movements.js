// The live stream of movements: who changed what, why, and the quantities before and after.
// Fed by the page's one inventoryUpdated subscription (app.js), which resumes `after:` the
// last sequence it saw whenever the connection comes back.
import { h, num, signed, when } from "./dom.js";

const KEEP = 200; // rows kept on the page, newest first

export function movementsView(ctx) {
  const body = h("tbody", {});
  const empty = h("tr", { class: "placeholder" }, h("td", { colspan: 8, class: "empty" }, "Waiting for stock to move…"));
  body.append(empty);
  const count = h("span", { class: "num" }, "0");
  const panel = h(
    "section",
    { "aria-labelledby": "movements-title" },
    h("h2", { id: "movements-title" }, "Movements, live"),
    h("p", { class: "hint" }, "Every change to stock as it happens, newest first, after the last ones before the page opened. Received: ", count, "."),
    h(
      "div",
      { class: "table-wrap" },
      h(
        "table",
        { id: "movement-stream" },
        h("caption", {}, "Stock movements"),
        h(
          "thead",
          {},
          h(
            "tr",
            {},
            ["When", "Who", "What", "Product at warehouse"].map((label) => h("th", { scope: "col" }, label)),
            h("th", { scope: "col", class: "num" }, "Change"),
            h("th", { scope: "col" }, "Why"),
            h("th", { scope: "col", class: "num" }, "On hand before → after"),
            h("th", { scope: "col", class: "num" }, "Available before → after"),
          ),
        ),
        body,
      ),
    ),
  );
  let received = 0;

  function row(event) {
    const change = event.after.onHand - event.before.onHand;
    const why = [event.reason, event.source, event.referenceId].filter(Boolean).join(" · ");
    return h(
      "tr",
      { dataset: { sequence: event.sequence, movement: event.movementId } },
      h("td", {}, h("time", { datetime: event.occurredAt }, when(event.occurredAt))),
      h("td", {}, event.actor),
      h("td", {}, h("span", { class: "type" }, event.movementType)),
      h("td", {}, ctx.names.label(event.productId), " @ ", ctx.names.label(event.warehouseId)),
      h("td", { class: `num ${change < 0 ? "minus" : change > 0 ? "plus" : ""}` }, signed(change)),
      h("td", { class: "why" }, why || "—"),
      h("td", { class: "num" }, `${num(event.before.onHand)} → ${num(event.after.onHand)}`),
      h("td", { class: "num" }, `${num(event.before.available)} → ${num(event.after.available)}`),
    );
  }

  function add(event) {
    empty.remove();
    received += 1;
    count.textContent = num(received);
    // Events arrive in sequence order; one replayed late still lands in its place.
    const newer = [...body.children].find((tr) => Number(tr.dataset.sequence) < event.sequence);
    body.insertBefore(row(event), newer || null);
    while (body.children.length > KEEP) body.lastElementChild.remove();
  }

  return {
    id: "movements",
    label: "Movements",
    needs: ["READ_STOCK"],
    panel,
    show: () => {},
    onStock: (event) => add(event),
  };
}
