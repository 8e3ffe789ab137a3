// Small DOM helpers. Elements are built with textContent and attributes, never from HTML
// strings: whatever a SKU, reason or message holds is shown, not run.

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag);
  for (const [key, value] of Object.entries(attrs)) {
    if (value === null || value === undefined || value === false) continue;
    if (key === "class") el.className = value;
    else if (key === "dataset") Object.assign(el.dataset, value);
    else if (key.startsWith("on") && typeof value === "function") {
      el.addEventListener(key.slice(2), value);
    } else if (value === true) el.setAttribute(key, "");
    else el.setAttribute(key, String(value));
  }
  append(el, children);
  return el;
}

function append(el, children) {
  for (const child of children.flat(Infinity)) {
    if (child === null || child === undefined || child === false) continue;
    el.append(child instanceof Node ? child : String(child));
  }
}

const NUMBER = new Intl.NumberFormat("en");

export function num(value) {
  return value === null || value === undefined ? "—" : NUMBER.format(value);
}

export function signed(value) {
  return value > 0 ? `+${num(value)}` : value < 0 ? `−${num(-value)}` : "0";
}

const TIME = new Intl.DateTimeFormat("en-GB", {
  day: "2-digit",
  month: "short",
  hour: "2-digit",
  minute: "2-digit",
  second: "2-digit",
});

export function when(iso) {
  return iso ? TIME.format(new Date(iso)) : "—";
}

// A duration in seconds, as a person reads it: 42 s, 3 min, 2 h.
export function duration(seconds) {
  if (seconds === null || seconds === undefined) return "—";
  if (seconds < 90) return `${Math.round(seconds)} s`;
  if (seconds < 5400) return `${Math.round(seconds / 60)} min`;
  return `${Math.round(seconds / 3600)} h`;
}

// A table: headers are strings or {label, num}; rows are arrays of cells (a cell is an
// element, or a value shown as text; numbers are right-aligned in tabular figures).
export function table(caption, headers, rows, empty = "Nothing to show.") {
  const head = h(
    "tr",
    {},
    headers.map((header) => {
      const label = typeof header === "string" ? header : header.label;
      return h("th", { scope: "col", class: header.num ? "num" : null }, label);
    }),
  );
  const body = rows.map((row) =>
    h(
      "tr",
      row.attrs || {},
      (row.cells || row).map((cell, index) => {
        if (cell instanceof Node && cell.tagName === "TD") return cell;
        const numeric = headers[index] && headers[index].num;
        return h("td", { class: numeric ? "num" : null }, numeric && typeof cell === "number" ? num(cell) : cell);
      }),
    ),
  );
  if (!rows.length) {
    body.push(h("tr", {}, h("td", { colspan: headers.length, class: "empty" }, empty)));
  }
  return h("table", {}, h("caption", {}, caption), h("thead", {}, head), h("tbody", {}, body));
}

// A status shown by shape and word as well as colour, so no one needs to tell red from green.
const MARKS = {
  out: "✖",
  low: "▲",
  healthy: "●",
  high: "▲",
  medium: "◆",
  info: "●",
  ok: "●",
  stalled: "■",
  running: "◐",
  failed: "✖",
  done: "✔",
  pending: "◆",
};

export function badge(kind, text) {
  return h("span", { class: `badge badge-${kind}` }, h("span", { "aria-hidden": "true" }, MARKS[kind] || "●"), ` ${text}`);
}

export function replace(el, ...children) {
  el.replaceChildren();
  append(el, children);
}

// Calls `fn` once, `ms` after the last of a burst of calls.
export function debounce(fn, ms) {
  let timer = null;
  return (...args) => {
    clearTimeout(timer);
    timer = setTimeout(() => fn(...args), ms);
  };
}
