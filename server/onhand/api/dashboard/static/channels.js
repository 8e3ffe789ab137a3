// Channel sync status: when each channel last pulled, how far behind it is, and whether it
// has stalled. Asked again every few seconds while shown.
import { badge, duration, h, num, replace, table, when } from "./dom.js";
import { place } from "./search.js";

const CHANNELS = `query DashboardChannels { channels(first: 100) { nodes { id code name kind isActive } } }`;
const STATUS = `query DashboardChannelSync($id: ID!) {
  channelSyncStatus(channelId: $id) {
    lastPullAt lastPushAcceptedAt acknowledgedAt lagSeconds sequencesBehind pendingChanges stalled stalledSince
  }
}`;
const EVERY_MS = 5000;

export function channelsView(ctx) {
  const list = h("div", { class: "table-wrap" });
  const panel = h(
    "section",
    { "aria-labelledby": "channels-title" },
    h("h2", { id: "channels-title" }, "Channel sync"),
    h("p", { class: "hint" }, "Lag: how old the oldest change a channel has not yet taken is. Behind: events it has still to take."),
    list,
  );
  let timer = null;

  async function refresh() {
    try {
      const channels = (await ctx.api.query(CHANNELS)).channels.nodes;
      const statuses = await Promise.all(channels.map((c) => ctx.api.query(STATUS, { id: c.id }).then((d) => d.channelSyncStatus)));
      const rows = channels.map((channel, index) => {
        const s = statuses[index];
        const state = !channel.isActive
          ? badge("info", "Inactive")
          : s.stalled
            ? badge("stalled", `Stalled since ${when(s.stalledSince)}`)
            : badge("ok", "In sync");
        return {
          attrs: { dataset: { channel: channel.code, stalled: String(s.stalled) } },
          cells: [
            place(channel),
            channel.kind.toLowerCase(),
            when(s.lastPullAt || s.lastPushAcceptedAt),
            h("td", { class: "num" }, duration(s.lagSeconds)),
            h("td", { class: "num" }, num(s.sequencesBehind)),
            h("td", { class: "num" }, num(s.pendingChanges)),
            state,
          ],
        };
      });
      replace(
        list,
        table(
          "Channels",
          ["Channel", "Kind", "Last pull or push", { label: "Lag", num: true }, { label: "Behind", num: true }, { label: "Pending", num: true }, "State"],
          rows,
          "No channels yet.",
        ),
      );
    } catch (error) {
      ctx.fail(list, error);
    }
  }

  return {
    id: "channels",
    label: "Channels",
    needs: ["READ_CHANNEL"],
    panel,
    show: () => {
      refresh();
      clearInterval(timer);
      timer = setInterval(refresh, EVERY_MS);
    },
    hide: () => clearInterval(timer),
  };
}
