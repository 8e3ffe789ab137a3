// Discrepancies: the latest reconciliation runs and what they found, transfer discrepancies,
// and cycle count lines waiting for review (approve or reject). A reconciliation can be run
// here for one warehouse or all of them.
import { badge, h, num, replace, signed, table, when } from "./dom.js";

const QUERY = `query DashboardDiscrepancies {
  reconciliationReport(lastRuns: 5) {
    runs { id trigger actor levelsChecked discrepancyCount finishedAt warehouse { code } product { sku } }
    openDiscrepancies(first: 100) {
      totalCount
      nodes { id bucket basis recorded expected difference product { sku } warehouse { code } }
    }
    transferDiscrepancies(first: 100) {
      totalCount
      nodes { id shipped received difference reason status createdAt product { sku } warehouse { code } }
    }
  }
  cycleCountReviews(first: 100, status: [PENDING_REVIEW]) {
    totalCount
    nodes { id countedQuantity systemQuantity difference createdAt product { sku } warehouse { code } }
  }
  warehouses(first: 250) { nodes { code name } }
}`;
const RECONCILE = `mutation DashboardReconcile($input: ReconcileInventoryInput) {
  reconcileInventory(input: $input) {
    run { id levelsChecked discrepancyCount startedAt finishedAt warehouse { code } product { sku } }
    errors { field message code }
  }
}`;
const REVIEW = {
  approve: `mutation DashboardApproveCount($input: ApproveCycleCountLineInput!) {
    approveCycleCountLine(input: $input) { cycleCountLine { id status } errors { field message code } }
  }`,
  reject: `mutation DashboardRejectCount($input: RejectCycleCountLineInput!) {
    rejectCycleCountLine(input: $input) { cycleCountLine { id status } errors { field message code } }
  }`,
};

// What a run checked: one SKU or every product, at one warehouse or all.
function scopeOf(run) {
  const where = run.warehouse ? run.warehouse.code : "all warehouses";
  return run.product ? `${run.product.sku} at ${where}` : where;
}

export function discrepanciesView(ctx) {
  const mayAct = ctx.can("MANAGE_STOCK");
  const scope = h("select", { id: "reconcile-scope", name: "scope" }, h("option", { value: "" }, "All warehouses"));
  const sku = h("input", { id: "reconcile-sku", name: "sku", type: "text", autocomplete: "off", placeholder: "every product" });
  const result = h("p", { id: "reconcile-result", class: "result", role: "status", "aria-live": "polite" });
  const runButton = h("button", { type: "submit" }, "Run reconciliation");
  const form = mayAct
    ? h(
        "form",
        { class: "inline", onsubmit: (event) => { event.preventDefault(); reconcile(); } },
        h("label", { for: "reconcile-scope" }, "Reconcile"),
        scope,
        h("label", { for: "reconcile-sku" }, "SKU (optional)"),
        sku,
        runButton,
        result,
      )
    : null;
  const runs = h("div", { class: "table-wrap" });
  const open = h("div", { class: "table-wrap" });
  const transfers = h("div", { class: "table-wrap" });
  const counts = h("div", { class: "table-wrap" });
  const panel = h(
    "section",
    { "aria-labelledby": "discrepancies-title" },
    h("h2", { id: "discrepancies-title" }, "Discrepancies"),
    form,
    h("h3", {}, "Cycle counts awaiting review"),
    counts,
    h("h3", {}, "Found by the latest reconciliation"),
    open,
    h("h3", {}, "Transfer discrepancies"),
    transfers,
    h("h3", {}, "Latest reconciliation runs"),
    runs,
  );

  async function reconcile() {
    runButton.disabled = true;
    result.textContent = "Reconciling…";
    const input = {};
    if (scope.value) input.warehouseCode = scope.value;
    if (sku.value.trim()) input.sku = sku.value.trim();
    try {
      const { run } = await ctx.api.mutate("reconcileInventory", RECONCILE, { input });
      const took = new Date(run.finishedAt) - new Date(run.startedAt);
      result.dataset.run = run.id;
      result.textContent =
        `Reconciled ${scopeOf(run)} at ${when(run.finishedAt)}: ` +
        `${num(run.levelsChecked)} levels checked, ${num(run.discrepancyCount)} ` +
        `discrepanc${run.discrepancyCount === 1 ? "y" : "ies"} found in ${num(took)} ms.`;
      result.dataset.discrepancies = run.discrepancyCount;
      await refresh();
    } catch (error) {
      result.textContent = `Not run: ${error.message}`;
    } finally {
      runButton.disabled = false;
    }
  }

  async function review(line, verdict, button) {
    button.disabled = true;
    const name = verdict === "approve" ? "approveCycleCountLine" : "rejectCycleCountLine";
    try {
      await ctx.api.mutate(name, REVIEW[verdict], { input: { id: line.id } });
      ctx.announce(`Count of ${line.product.sku} at ${line.warehouse.code} ${verdict === "approve" ? "approved" : "rejected"}.`);
      await refresh();
    } catch (error) {
      button.disabled = false;
      ctx.announce(`Not ${verdict === "approve" ? "approved" : "rejected"}: ${error.message}`);
    }
  }

  function render(data) {
    const report = data.reconciliationReport;
    const known = new Set([...scope.options].map((o) => o.value));
    for (const w of data.warehouses.nodes) {
      if (!known.has(w.code)) {
        scope.append(h("option", { value: w.code }, w.name && w.name !== w.code ? `${w.code} ${w.name}` : w.code));
      }
    }
    const countHeaders = ["Product at warehouse", { label: "Counted", num: true }, { label: "System", num: true }, { label: "Difference", num: true }, "Counted at"];
    if (mayAct) countHeaders.push("Review");
    replace(
      counts,
      table(
        "Cycle count lines waiting for review",
        countHeaders,
        data.cycleCountReviews.nodes.map((line) => {
          const what = `${line.product.sku} at ${line.warehouse.code}`;
          const cells = [what, line.countedQuantity, line.systemQuantity, h("td", { class: "num" }, signed(line.difference)), when(line.createdAt)];
          if (mayAct) {
            const approve = h("button", { type: "button", class: "action", "aria-label": `Approve count of ${what}` }, "Approve");
            const reject = h("button", { type: "button", class: "action secondary", "aria-label": `Reject count of ${what}` }, "Reject");
            approve.addEventListener("click", () => review(line, "approve", approve));
            reject.addEventListener("click", () => review(line, "reject", reject));
            cells.push(h("td", { class: "actions" }, approve, reject));
          }
          return { attrs: { dataset: { countLine: line.id } }, cells };
        }),
        "No count waits for review.",
      ),
    );
    replace(
      open,
      table(
        "Open discrepancies",
        ["Product at warehouse", "Bucket", "Against", { label: "Recorded", num: true }, { label: "Expected", num: true }, { label: "Difference", num: true }],
        report.openDiscrepancies.nodes.map((d) => [
          `${d.product ? d.product.sku : "?"} at ${d.warehouse ? d.warehouse.code : "?"}`,
          d.bucket,
          d.basis.toLowerCase(),
          d.recorded,
          d.expected,
          h("td", { class: "num" }, signed(d.difference)),
        ]),
        "Every level agrees with its ledger and reservations.",
      ),
    );
    replace(
      transfers,
      table(
        "Transfer discrepancies",
        ["Product at warehouse", { label: "Shipped", num: true }, { label: "Received", num: true }, { label: "Difference", num: true }, "Reason", "Status", "Recorded"],
        report.transferDiscrepancies.nodes.map((d) => [
          `${d.product ? d.product.sku : "?"} at ${d.warehouse ? d.warehouse.code : "?"}`,
          d.shipped,
          d.received,
          h("td", { class: "num" }, signed(d.difference)),
          d.reason,
          d.status === "RESOLVED" ? badge("done", "Resolved") : badge("pending", "Being investigated"),
          when(d.createdAt),
        ]),
        "No transfer arrived short.",
      ),
    );
    replace(
      runs,
      table(
        "Reconciliation runs, newest first",
        ["Finished", "Trigger", "Scope", "By", { label: "Levels checked", num: true }, { label: "Discrepancies", num: true }],
        report.runs.map((run) => ({
          attrs: { dataset: { run: run.id } },
          cells: [
            when(run.finishedAt),
            run.trigger.toLowerCase(),
            scopeOf(run),
            run.actor,
            run.levelsChecked,
            run.discrepancyCount,
          ],
        })),
        "No reconciliation has run yet.",
      ),
    );
  }

  async function refresh() {
    try {
      render(await ctx.api.query(QUERY));
    } catch (error) {
      ctx.fail(counts, error);
    }
  }

  return { id: "discrepancies", label: "Discrepancies", needs: ["READ_AUDIT", "READ_CATALOG"], panel, show: refresh };
}
