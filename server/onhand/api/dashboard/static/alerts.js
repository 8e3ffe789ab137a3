// Open alerts, newest first, with acknowledge for those allowed to act on stock. The list
// follows alertRaised and alertResolved live.
import { ApiError } from "./api.js";
import { badge, debounce, h, replace, table, when } from "./dom.js";

const QUERY = `query DashboardAlerts {
  alerts(first: 100, filter: { status: [OPEN, ACKNOWLEDGED] }) {
    totalCount
    nodes {
      id kind severity status message raisedAt acknowledgedAt acknowledgedBy
      product { sku } warehouse { code } channel { code }
    }
  }
}`;
const ACKNOWLEDGE = `mutation DashboardAcknowledgeAlert($input: AcknowledgeAlertInput!) {
  acknowledgeAlert(input: $input) { alert { id status acknowledgedBy } errors { field message code } }
}`;
const RAISED = `subscription DashboardAlertRaised($after: Long) { alertRaised(after: $after) { sequence } }`;
const RESOLVED = `subscription DashboardAlertResolved($after: Long) { alertResolved(after: $after) { sequence } }`;

const SEVERITY = { HIGH: ["high", "High"], MEDIUM: ["medium", "Medium"], LOW: ["info", "Low"] };

export function alertsView(ctx) {
  const summary = h("p", { class: "hint", role: "status", "aria-live": "polite" });
  const list = h("div", { class: "table-wrap" });
  const panel = h("section", { "aria-labelledby": "alerts-title" }, h("h2", { id: "alerts-title" }, "Open alerts"), summary, list);
  const mayAct = ctx.can("MANAGE_STOCK");

  async function acknowledge(alert, button) {
    button.disabled = true;
    try {
      await ctx.api.mutate("acknowledgeAlert", ACKNOWLEDGE, { input: { alertId: alert.id } });
      ctx.announce(`Alert acknowledged: ${alert.message}`);
      await refresh();
    } catch (error) {
      button.disabled = false;
      ctx.announce(error instanceof ApiError ? `Not acknowledged: ${error.message}` : String(error));
    }
  }

  function render(found) {
    summary.textContent = found.totalCount ? `${found.totalCount} alert${found.totalCount === 1 ? "" : "s"} open or being dealt with.` : "No open alerts.";
    const headers = ["Severity", "Kind", "What", "Raised", "Status"];
    if (mayAct) headers.push("Action");
    const rows = found.nodes.map((alert) => {
      const [kind, label] = SEVERITY[alert.severity];
      const state = alert.status === "ACKNOWLEDGED" ? badge("pending", `Acknowledged by ${alert.acknowledgedBy}`) : badge("high", "Open");
      const cells = [badge(kind, label), alert.kind.replaceAll("_", " ").toLowerCase(), alert.message, h("time", { datetime: alert.raisedAt }, when(alert.raisedAt)), state];
      if (mayAct) {
        const button = h("button", { type: "button", class: "action", "aria-label": `Acknowledge: ${alert.message}` }, "Acknowledge");
        button.addEventListener("click", () => acknowledge(alert, button));
        cells.push(alert.status === "OPEN" ? button : "—");
      }
      return { attrs: { dataset: { alert: alert.id, status: alert.status } }, cells };
    });
    replace(list, table("Alerts", headers, rows, "Nothing needs attention."));
  }

  async function refresh() {
    try {
      render((await ctx.api.query(QUERY)).alerts);
    } catch (error) {
      ctx.fail(list, error);
    }
  }

  const later = debounce(refresh, 200);
  let started = false;
  return {
    id: "alerts",
    label: "Alerts",
    needs: ["READ_STOCK"],
    panel,
    show: async () => {
      await refresh();
      if (started) return;
      started = true;
      // Only news matters here (the list itself is queried), so the streams start now.
      const latest = await ctx.latestSequence();
      for (const [document, field] of [[RAISED, "alertRaised"], [RESOLVED, "alertResolved"]]) {
        let after = latest;
        ctx.live.subscribe(document, () => ({ after }), (data) => {
          after = Math.max(after, data[field].sequence);
          later();
        });
      }
    },
  };
}
