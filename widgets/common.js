// Shared by every cvbench widget: the Python side puts this file before the widget's own
// module (see cvbench/ui/_base.py). Plain DOM, no dependencies.

const CVB_PALETTE = [
  "#0078d4", "#d83b01", "#107c10", "#8764b8", "#e3008c", "#008575",
  "#986f0b", "#4f6bed", "#a4262c", "#038387", "#c239b3", "#ca5010",
];

const CVB_COLORS = new Map();

/** Colour tags by their place in the project's tag list (the same in every widget). */
function cvbTrackTags(model, on) {
  const update = () => {
    CVB_COLORS.clear();
    (model.get("tags") || []).forEach((t, i) => CVB_COLORS.set(t.id, CVB_PALETTE[i % CVB_PALETTE.length]));
  };
  on("change:tags", update); // registered first: runs before the widget's own listeners
  update();
}

/** The colour of a tag id. */
function cvbTagColor(id) {
  if (CVB_COLORS.has(id)) return CVB_COLORS.get(id);
  let hash = 0;
  for (let i = 0; i < id.length; i++) hash = (hash * 31 + id.charCodeAt(i)) >>> 0;
  return CVB_PALETTE[hash % CVB_PALETTE.length];
}

/**
 * Create an element: h("button", {class: "cvb-btn", on: {click: fn}, title: "…"}, "text", child).
 * Props: class, text, style (object), on (events), dataset (object); others are attributes.
 */
function h(tag, props, ...children) {
  const node = document.createElement(tag);
  for (const [key, value] of Object.entries(props || {})) {
    if (value === undefined || value === null || value === false) continue;
    if (key === "class") node.className = value;
    else if (key === "text") node.textContent = value;
    else if (key === "style") {
      for (const [prop, v] of Object.entries(value)) {
        if (prop.startsWith("--")) node.style.setProperty(prop, v);
        else node.style[prop] = v;
      }
    }
    else if (key === "on") for (const [ev, fn] of Object.entries(value)) node.addEventListener(ev, fn);
    else if (key === "dataset") Object.assign(node.dataset, value);
    else if (key === "value") node.value = value;
    else node.setAttribute(key, value === true ? "" : String(value));
  }
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

/** Replace the children of ``node``; nested arrays are flattened, null/false/undefined skipped. */
function cvbFill(node, ...children) {
  node.replaceChildren();
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

function cvbFmt(n) {
  return Number(n).toLocaleString("en-US");
}

function cvbPlural(n, word, plural) {
  return `${cvbFmt(n)} ${n === 1 ? word : plural || word + "s"}`;
}

/** The root element of a widget: focusable, and JupyterLab's shortcuts stay out of it. */
function cvbRoot(el, name) {
  const root = h("div", {
    class: `cvb cvb-${name}`,
    tabindex: "0",
    "data-lm-suppress-shortcuts": "true",
  });
  cvbFill(el, root);
  return root;
}

/** Listen to model events; returns a function that removes every listener. */
function cvbListen(model) {
  const offs = [];
  const on = (events, fn) => {
    for (const ev of events.split(" ")) {
      model.on(ev, fn);
      offs.push(() => model.off(ev, fn));
    }
  };
  on.dispose = () => offs.splice(0).forEach((off) => off());
  return on;
}

/** True when a key event belongs to a text field (the widget's shortcuts then stay quiet). */
function cvbTyping(event) {
  const t = event.target;
  return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
}

/** The digit 1-9 of a key event, or 0 when it is not one. */
function cvbDigit(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return 0;
  const m = /^Digit([1-9])$/.exec(event.code || "");
  if (m) return Number(m[1]);
  return /^[1-9]$/.test(event.key) ? Number(event.key) : 0;
}

function cvbSet(model, values) {
  for (const [key, value] of Object.entries(values)) model.set(key, value);
  model.save_changes();
}

/** A small coloured tag chip: dot + name (+ count). */
function cvbTagChip(tag, extra) {
  return h(
    "span",
    { class: "cvb-chip", title: tag.name, style: { "--tag": cvbTagColor(tag.id) } },
    h("span", { class: "cvb-dot" }),
    h("span", { class: "cvb-chip-name", text: tag.name }),
    extra,
  );
}

/** The notice line (bottom of the widget): errors stay until closed, others fade. */
function cvbNotice(model, on) {
  const box = h("div", { class: "cvb-notice", role: "status", "aria-live": "polite" });
  let timer = null;
  const show = () => {
    const n = model.get("notice") || {};
    clearTimeout(timer);
    if (!n.text) {
      box.className = "cvb-notice";
      cvbFill(box);
      return;
    }
    box.className = `cvb-notice is-visible is-${n.level}`;
    const icon = { error: "!", success: "\u2713", info: "i" }[n.level] || "i";
    cvbFill(box,
      h("span", { class: "cvb-notice-icon", text: icon }),
      h("span", { class: "cvb-notice-text", text: n.text }),
      h("button", {
        class: "cvb-notice-close", title: "Dismiss", "aria-label": "Dismiss",
        on: { click: () => { box.className = "cvb-notice"; } },
      }, "\u00d7"),
    );
    if (n.level !== "error") timer = setTimeout(() => { box.className = "cvb-notice"; }, 5000);
  };
  on("change:notice", show);
  show();
  return box;
}

const CVB_ICONS = {
  draw: '<rect x="3.5" y="3.5" width="13" height="13" rx="1" fill="none" stroke="currentColor" stroke-width="1.6" stroke-dasharray="3 2"/><path d="M10 7v6M7 10h6" stroke="currentColor" stroke-width="1.6" stroke-linecap="round"/>',
  pan: '<path d="M10 2.5v15M2.5 10h15M10 2.5 7.8 4.7M10 2.5l2.2 2.2M10 17.5l-2.2-2.2M10 17.5l2.2-2.2M2.5 10l2.2-2.2M2.5 10l2.2 2.2M17.5 10l-2.2-2.2M17.5 10l-2.2 2.2" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round"/>',
  refresh: '<path d="M16 10a6 6 0 1 1-1.8-4.3M16 3.5v3.2h-3.2" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round"/>',
};

/** A small inline SVG icon (no icon font is needed). */
function cvbIcon(name) {
  const span = h("span", { class: "cvb-icon", "aria-hidden": "true" });
  span.innerHTML = `<svg viewBox="0 0 20 20" width="16" height="16">${CVB_ICONS[name]}</svg>`;
  return span;
}

/** A compact key hint: kbd("1-9") */
function kbd(text) {
  return h("kbd", { class: "cvb-kbd", text });
}

/** A select element from [{value, label}] with the current value chosen. */
function cvbSelect(options, value, onChange, props) {
  const select = h(
    "select",
    { class: "cvb-select", ...(props || {}), on: { change: (e) => onChange(e.target.value) } },
    options.map((o) => h("option", { value: o.value, text: o.label, disabled: o.disabled })),
  );
  select.value = value;
  return select;
}

/** The filter choices of a widget: all, untagged, each tag, and the Python-side filters. */
function cvbShowOptions(model, labels) {
  const opts = [
    { value: "all", label: labels.all || "All images" },
    { value: "untagged", label: labels.untagged || "Untagged" },
  ];
  for (const f of model.get("filter_options") || []) opts.push({ value: f.key, label: f.label });
  for (const t of model.get("tags") || []) opts.push({ value: `tag:${t.id}`, label: `Tag: ${t.name}` });
  return opts;
}
