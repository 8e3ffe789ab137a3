// The dashboard: sign in with a token, then the views the token's role may use, kept live
// over one WebSocket.
import { alertsView } from "./alerts.js";
import { Api, ApiError } from "./api.js";
import { channelsView } from "./channels.js";
import { discrepanciesView } from "./discrepancies.js";
import { h, replace } from "./dom.js";
import { importsView } from "./imports.js";
import { Live } from "./live.js";
import { movementsView } from "./movements.js";
import { Names } from "./names.js";
import { overviewView } from "./overview.js";
import { searchView } from "./search.js";

// sessionStorage: the token lives as long as the tab, and never travels in a URL.
const TOKEN_KEY = "onhand.token";
// How far back, in sequences, the movement stream starts: the latest changes before the page
// opened are shown too.
const HISTORY = 200;
const VIEWS = [overviewView, searchView, movementsView, alertsView, discrepanciesView, channelsView, importsView];
const CONNECTION = {
  idle: "Not connected",
  connecting: "Connecting…",
  live: "Live",
  reconnecting: "Reconnecting…",
  offline: "Offline: catching up when back",
  refused: "Live updates refused: sign in again",
};

const VIEWER = `query DashboardViewer { viewer { name role permissions } }`;
const LATEST = `query DashboardLatestSequence { latestSequence }`;
const STOCK = `subscription DashboardStock($after: Long) {
  inventoryUpdated(after: $after) {
    sequence movementId movementType reason source actor referenceId occurredAt
    productId warehouseId
    before { onHand available } after { onHand available }
  }
}`;

const $ = (id) => document.getElementById(id);

function announce(text) {
  $("announcer").textContent = text;
}

function fail(where, error) {
  const text = error instanceof ApiError ? error.message : `Something went wrong: ${error}`;
  replace(where, h("p", { class: "error", role: "alert" }, text));
}

function setConnection(state) {
  const el = $("connection");
  el.dataset.state = state;
  el.textContent = CONNECTION[state];
}

function tabs(views) {
  const list = $("tabs");
  const container = $("views");
  let current = null;
  const buttons = views.map((view) => {
    const button = h("button", {
      type: "button",
      role: "tab",
      id: `tab-${view.id}`,
      "aria-controls": `view-${view.id}`,
      "aria-selected": "false",
      tabindex: "-1",
      onclick: () => select(view),
    }, view.label);
    view.panel.id = `view-${view.id}`;
    view.panel.setAttribute("role", "tabpanel");
    view.panel.setAttribute("aria-labelledby", `tab-${view.id}`);
    view.panel.hidden = true;
    container.append(view.panel);
    return button;
  });
  list.append(...buttons);
  // Arrow keys move between tabs, as in any tab list.
  list.addEventListener("keydown", (event) => {
    const index = buttons.indexOf(document.activeElement);
    if (index < 0) return;
    const next = { ArrowRight: index + 1, ArrowLeft: index - 1, Home: 0, End: buttons.length - 1 }[event.key];
    if (next === undefined) return;
    event.preventDefault();
    const view = views[(next + views.length) % views.length];
    select(view);
    buttons[views.indexOf(view)].focus();
  });

  function select(view) {
    if (current === view) return;
    if (current && current.hide) current.hide();
    views.forEach((each, index) => {
      const chosen = each === view;
      buttons[index].setAttribute("aria-selected", String(chosen));
      buttons[index].tabIndex = chosen ? 0 : -1;
      each.panel.hidden = !chosen;
    });
    current = view;
    history.replaceState(null, "", `#${view.id}`);
    view.show();
  }

  if (!views.length) {
    container.append(h("p", { class: "error" }, "This token's role may use none of these views."));
    return () => null;
  }
  const wanted = views.find((view) => `#${view.id}` === location.hash) || views[0];
  select(wanted);
  // Keyboard users land on the tab list, not at the top of an emptied page.
  buttons[views.indexOf(wanted)].focus();
  return () => current;
}

async function start(token, viewer) {
  const api = new Api(token);
  const scheme = location.protocol === "https:" ? "wss:" : "ws:";
  const live = new Live(token, `${scheme}//${location.host}/graphql`, setConnection);
  const permissions = new Set(viewer.permissions);
  const ctx = {
    api,
    live,
    announce,
    fail,
    can: (permission) => permissions.has(permission),
    latestSequence: async () => (await api.query(LATEST)).latestSequence,
    names: new Names(api),
  };
  $("sign-in").hidden = true;
  $("dashboard").hidden = false;
  $("who").hidden = false;
  $("who").textContent = `${viewer.name} · ${viewer.role.toLowerCase()}`;
  $("sign-out").hidden = false;
  $("sign-out").addEventListener("click", () => {
    sessionStorage.removeItem(TOKEN_KEY);
    live.stop();
    location.replace(location.pathname);
  });

  const views = VIEWS.map((make) => make(ctx)).filter((view) => view.needs.every(ctx.can));
  const current = tabs(views);
  live.start();
  if (ctx.can("READ_STOCK")) {
    // One stream of stock changes feeds every view; it resumes after the last sequence seen.
    let after = Math.max(0, (await ctx.latestSequence()) - HISTORY);
    const seen = new Set();
    live.subscribe(STOCK, () => ({ after }), (data) => {
      const event = data.inventoryUpdated;
      if (seen.has(event.sequence)) return;
      seen.add(event.sequence);
      if (seen.size > 5000) seen.delete(seen.values().next().value);
      after = Math.max(after, event.sequence);
      for (const view of views) if (view.onStock) view.onStock(event, view === current());
    });
  }
}

async function signIn(token) {
  const { viewer } = await new Api(token).query(VIEWER);
  sessionStorage.setItem(TOKEN_KEY, token);
  await start(token, viewer);
}

$("sign-in-form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const input = $("token");
  try {
    await signIn(input.value.trim());
    input.value = "";
  } catch (error) {
    $("sign-in-error").textContent = `Not signed in: ${error.message}`;
  }
});

const kept = sessionStorage.getItem(TOKEN_KEY);
if (kept) {
  signIn(kept).catch((error) => {
    sessionStorage.removeItem(TOKEN_KEY);
    $("sign-in-error").textContent = `Signed out: ${error.message}`;
  });
} else {
  $("token").focus();
}
