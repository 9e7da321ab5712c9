// The helpers every cvbench widget imports by name: DOM building, model listeners, tag
// colours, the notice line, the new-tag form, pickers, number formatting, images with boxes.
// An ES module of its own: widgets/<name>.js imports from "./common.js", and
// cvbench/ui/_assets.py links the import (no bundler). It holds no state: colours come from
// each widget's `palette` and `tags` traits. Plain DOM, no dependencies.

// -- DOM ----------------------------------------------------------------------------------------

/**
 * Create an element: h("button", {class: "cvb-btn", on: {click: fn}, title: "…"}, "text", child).
 * Props: class, text, style (object), on (events), dataset (object); others are attributes.
 */
export function h(tag, props, ...children) {
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
export function cvbFill(node, ...children) {
  node.replaceChildren();
  for (const child of children.flat(Infinity)) {
    if (child === undefined || child === null || child === false) continue;
    node.append(child instanceof Node ? child : document.createTextNode(String(child)));
  }
  return node;
}

const CVB_SVG = "http://www.w3.org/2000/svg";

/** An SVG element: svg("rect", {x: 1, …}, children…). */
export function svg(tag, attrs, ...children) {
  const node = document.createElementNS(CVB_SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null && v !== false) node.setAttribute(k, String(v));
  for (const c of children.flat(Infinity)) if (c !== undefined && c !== null && c !== false) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

// -- the widget and its model ---------------------------------------------------------------------

/**
 * The root element of a widget: focusable, and the keys pressed in it stay in it.
 *
 * JupyterLab reads keys on the document once they have bubbled up, and a notebook in command
 * mode takes the arrows, Enter and single letters for itself. The data-lm-suppress-shortcuts
 * attribute alone is not enough: Lumino tests the focused element itself against selectors such
 * as `.jp-Notebook.jp-mod-commandMode:not(.jp-mod-readWrite) :focus` before it looks for the
 * attribute on its parents, so a focused slider lost its arrows to the notebook (they moved the
 * active cell) and Enter in a text field of a notebook's output never submitted its form. So the
 * root stops every key without Ctrl, Cmd or Alt on its way up: the widget's own handlers and
 * the browser's defaults (a slider's arrows, a form's Enter) still see it, JupyterLab does not;
 * Ctrl/Cmd/Alt shortcuts (save, the command palette, run the cell) still reach JupyterLab.
 */
export function cvbRoot(el, name) {
  const root = h("div", {
    class: `cvb cvb-${name}`,
    tabindex: "0",
    "data-lm-suppress-shortcuts": "true",
    on: { keydown: (e) => { if (!e.ctrlKey && !e.metaKey && !e.altKey) e.stopPropagation(); } },
  });
  cvbFill(el, root);
  return root;
}

/** Listen to model events; returns a function that removes every listener. */
export function cvbListen(model) {
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

/**
 * What every widget's render starts with: ``on`` (model listeners, disposed together),
 * ``root`` (the widget's element, class cvb-<name>) and ``color`` (tag id -> colour).
 */
export function cvbMount(model, el, name) {
  return { on: cvbListen(model), root: cvbRoot(el, name), color: cvbTagColors(model) };
}

function cvbHash(text) {
  let hash = 0;
  for (let i = 0; i < text.length; i++) hash = (hash * 31 + text.charCodeAt(i)) >>> 0;
  return hash;
}

/**
 * The colour of each tag of a widget: tag id -> colour. A tag's ``slot`` (its place in the
 * order the tags were created in, sent by Python) picks its colour of the model's ``palette``,
 * the same in every widget and in Python's figures, and the same when other tags are added;
 * an id that is not a tag (yet) gets a colour of the palette picked by its text.
 */
export function cvbTagColors(model) {
  let tags = null;
  let palette = null;
  let byId = new Map();
  return (id) => {
    const t = model.get("tags") || [];
    const p = model.get("palette") || [];
    if (t !== tags || p !== palette) {
      tags = t;
      palette = p;
      byId = new Map(p.length ? t.map((tag, i) => [tag.id, p[(Number.isInteger(tag.slot) ? tag.slot : i) % p.length]]) : []);
    }
    if (byId.has(id)) return byId.get(id);
    return p.length ? p[cvbHash(String(id)) % p.length] : "#8a8886";
  };
}

/**
 * True when the Workbench shows the widget (its ``host`` trait): its texts then name the
 * Workbench's tabs ("the Train tab"); in a notebook they name the widget to open instead.
 */
export function cvbInWorkbench(model) {
  return model.get("host") === "workbench";
}

/** Set model values from the browser and send them to Python. */
export function cvbSet(model, values) {
  for (const [key, value] of Object.entries(values)) model.set(key, value);
  model.save_changes();
}

/** True when a key event belongs to a text field (the widget's shortcuts then stay quiet). */
export function cvbTyping(event) {
  const t = event.target;
  return t && (t.tagName === "INPUT" || t.tagName === "TEXTAREA" || t.tagName === "SELECT" || t.isContentEditable);
}

/**
 * The tag key of a key event, as the tags' ``key`` names it: "1"-"9", "0", or "\u21e71"-"\u21e70"
 * for Shift with a digit; "" for any other key. The digit is read from the key's place
 * (event.code), so Shift+1 is "\u21e71" whatever the keyboard layout prints.
 */
export function cvbTagKey(event) {
  if (event.ctrlKey || event.metaKey || event.altKey) return "";
  let m = /^(?:Digit|Numpad)([0-9])$/.exec(event.code || "");
  if (!m && !event.shiftKey) m = /^([0-9])$/.exec(event.key || "");
  if (!m) return "";
  return event.shiftKey ? `\u21e7${m[1]}` : m[1];
}

/** The tag whose key is ``key`` (from cvbTagKey), or undefined. */
export function cvbTagOfKey(tags, key) {
  return key ? (tags || []).find((t) => t.key === key) : undefined;
}

/** The key hint of a tag: its key as a <kbd>, or null when it has none. */
export function cvbTagKbd(tag) {
  return tag && tag.key ? h("kbd", { class: "cvb-kbd cvb-tagkey", title: `Key ${tag.key.replace("\u21e7", "Shift+")}`, text: tag.key }) : null;
}

/** A tag's key in words for a tooltip: " (key 3)", " (key Shift+1)", or "". */
export function cvbKeyHint(tag) {
  return tag && tag.key ? ` (key ${tag.key.replace("\u21e7", "Shift+")})` : "";
}

/** True when Enter or Space belongs to the focused control (a button, a link, a checkbox):
 * the browser's own action (a click) then happens, and the widget's shortcuts stay quiet. */
function cvbControlKey(event, root) {
  if (event.key !== "Enter" && event.key !== " " && event.key !== "Spacebar") return false;
  const t = event.target;
  if (!t || t === root || !(t instanceof Element)) return false;
  return t.matches("button, a[href], summary, input, select, textarea, [role=button], [role=checkbox]");
}

/**
 * The widget's keyboard shortcuts: ``handle(event, key)`` (``key``: the tag key of the event,
 * see cvbTagKey, else "") returns true when it used the key, which then goes no further. Keys
 * typed into a text field are left to the field, and Enter or Space on a focused button to
 * the button.
 */
export function cvbKeys(root, handle) {
  root.addEventListener("keydown", (e) => {
    if (cvbTyping(e) || cvbControlKey(e, root)) return;
    if (handle(e, cvbTagKey(e))) {
      e.preventDefault();
      e.stopPropagation();
    }
  });
}

// -- numbers and words ----------------------------------------------------------------------------

export function cvbFmt(n) {
  return Number(n).toLocaleString("en-US");
}

export function cvbPlural(n, word, plural) {
  return `${cvbFmt(n)} ${n === 1 ? word : plural || word + "s"}`;
}

/** A size in bytes for a person: "0 bytes", "512 bytes", "1.5 KB", "2.3 MB". */
export function cvbBytes(n) {
  const b = Math.max(0, Number(n) || 0);
  if (b < 1024) return `${cvbFmt(b)} ${b === 1 ? "byte" : "bytes"}`;
  if (b < 1024 * 1024) return `${(b / 1024).toFixed(b < 10 * 1024 ? 1 : 0)} KB`;
  return `${(b / (1024 * 1024)).toFixed(1)} MB`;
}

/** A fraction as a percentage ("87.5%"), or a dash for null. */
export function cvbPct(x, digits) {
  return x === null || x === undefined || !isFinite(x) ? "\u2014" : `${(100 * x).toFixed(digits === undefined ? 1 : digits)}%`;
}

/** Seconds as m:ss (or h:mm:ss). */
export function cvbClock(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "\u2014";
  const s = Math.max(0, Math.round(seconds));
  const m = Math.floor(s / 60);
  return m >= 60 ? `${Math.floor(m / 60)}:${String(m % 60).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}` : `${m}:${String(s % 60).padStart(2, "0")}`;
}

/** An ISO time as "Jan 5, 14:03" in the reader's locale. */
export function cvbWhen(iso) {
  const d = new Date(iso);
  return isNaN(d) ? "" : d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

// -- small pieces ----------------------------------------------------------------------------------

/** How long a notice stays, in milliseconds: errors a bit longer (they have a close button). */
export const CVB_NOTICE_MS = { info: 4000, success: 4000, error: 9000 };

/**
 * The notice line: a line of its own at the bottom of the widget (in the flow of the page, so
 * it covers nothing), with a close button; it goes after a few seconds (CVB_NOTICE_MS), and
 * stays while the pointer is on it.
 */
export function cvbNotice(model, on) {
  const box = h("div", { class: "cvb-notice", role: "status", "aria-live": "polite" });
  let timer = null;
  let level = "info";
  const hide = () => { clearTimeout(timer); box.className = "cvb-notice"; cvbFill(box); };
  const later = () => { clearTimeout(timer); timer = setTimeout(hide, CVB_NOTICE_MS[level] || CVB_NOTICE_MS.info); };
  box.addEventListener("mouseenter", () => clearTimeout(timer));
  box.addEventListener("mouseleave", () => { if (box.classList.contains("is-visible")) later(); });
  const show = () => {
    const n = model.get("notice") || {};
    if (!n.text) { hide(); return; }
    level = n.level in CVB_NOTICE_MS ? n.level : "info";
    box.className = `cvb-notice is-visible is-${level}`;
    box.dataset.level = level;
    const icon = { error: "!", success: "\u2713", info: "i" }[level];
    cvbFill(box,
      h("span", { class: "cvb-notice-icon", text: icon }),
      h("span", { class: "cvb-notice-text", text: n.text }),
      h("button", { class: "cvb-notice-close", type: "button", title: "Dismiss", "aria-label": "Dismiss", on: { click: hide } }, "\u00d7"),
    );
    later();
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
export function cvbIcon(name) {
  const span = h("span", { class: "cvb-icon", "aria-hidden": "true" });
  span.innerHTML = `<svg viewBox="0 0 20 20" width="16" height="16">${CVB_ICONS[name]}</svg>`;
  return span;
}

/** A compact key hint: kbd("1-9") */
export function kbd(text) {
  return h("kbd", { class: "cvb-kbd", text });
}

/** A metric tile: big number and its name. */
export function cvbTile(label, value, hint, extra) {
  return h("div", { class: "cvb-tile", title: hint || "" },
    h("div", { class: "cvb-tile-value", text: value }),
    h("div", { class: "cvb-tile-label", text: label }), extra);
}

/** A probability bar with its value: [=====     ] 62.0% */
export function cvbProbBar(p, color) {
  return h("div", { class: "cvb-probbar" },
    h("div", { class: "cvb-probbar-track" }, h("div", { class: "cvb-probbar-fill", style: { width: `${(100 * p).toFixed(1)}%`, background: color || "var(--cvb-blue)" } })),
    h("span", { class: "cvb-probbar-value", text: cvbPct(p) }));
}

// -- choosing ----------------------------------------------------------------------------------------

/** A select element from [{value, label}] with the current value chosen. */
export function cvbSelect(options, value, onChange, props) {
  const select = h(
    "select",
    { class: "cvb-select", ...(props || {}), on: { change: (e) => onChange(e.target.value) } },
    options.map((o) => h("option", { value: o.value, text: o.label, disabled: o.disabled })),
  );
  select.value = value;
  return select;
}

/** The picker of the model's ``iterations`` showing its ``iteration``. */
export function cvbIterationSelect(model, onChange, props) {
  return cvbSelect((model.get("iterations") || []).map((o) => ({ value: o.id, label: o.label })),
    model.get("iteration"), onChange, { "aria-label": "Iteration", class: "cvb-select cvb-iterpick", ...(props || {}) });
}

/** The filter choices of a widget: all, untagged, each tag, and the Python-side filters. */
export function cvbShowOptions(model, labels) {
  const opts = [
    { value: "all", label: labels.all || "All images" },
    { value: "untagged", label: labels.untagged || "Untagged" },
  ];
  for (const f of model.get("filter_options") || []) opts.push({ value: f.key, label: f.label });
  for (const t of model.get("tags") || []) opts.push({ value: `tag:${t.id}`, label: `Tag: ${t.name}` });
  return opts;
}

// -- tags ----------------------------------------------------------------------------------------------

/** A small coloured tag chip: dot + name (+ extra), in the colour ``color``. */
export function cvbTagChip(tag, color, extra) {
  return h(
    "span",
    { class: "cvb-chip", title: tag.name, style: { "--tag": color } },
    h("span", { class: "cvb-dot" }),
    h("span", { class: "cvb-chip-name", text: tag.name }),
    extra,
  );
}

/**
 * Tag buttons to choose an image's tags. ``chosen`` is a Set of tag ids; ``multi`` toggles
 * several, else one is chosen. ``onChange(newSet)`` is called after every click; ``color``
 * gives each tag id its colour.
 */
export function cvbTagPicker(tags, chosen, multi, onChange, color) {
  return h("div", { class: "cvb-tagpicker" }, tags.map((t) => {
    const on_ = chosen.has(t.id);
    return h("button", {
      class: `cvb-tagbtn is-small${on_ ? " is-active" : ""}`, type: "button",
      style: { "--tag": color(t.id) }, dataset: { tag: t.id, name: t.name }, "aria-pressed": on_ ? "true" : "false",
      on: { click: (e) => {
        e.stopPropagation();
        const next = new Set(multi ? chosen : []);
        if (on_) next.delete(t.id); else next.add(t.id);
        onChange(next);
      } },
    }, h("span", { class: "cvb-dot" }), h("span", { class: "cvb-tagbtn-name", text: t.name }));
  }));
}

/**
 * The "+ Add tag" button, which opens a one-field form for a new tag's name. Returns a
 * function that gives the button, or the form while it is open, each time the part of the
 * widget that holds it is drawn. ``redraw()`` draws that part again; ``create(name)`` gets
 * the name typed (trimmed, never empty); ``root`` gets the focus back when the form closes.
 * ``props``: more attributes of the button (title, an extra class).
 */
export function cvbNewTag({ redraw, create, root, props }) {
  let open = false;
  let input = null;
  const close = () => {
    open = false;
    redraw();
    root.focus();
  };
  return () => {
    if (!open) {
      const extra = props || {};
      return h("button", {
        ...extra, class: `cvb-btn is-quiet is-small${extra.class ? ` ${extra.class}` : ""}`,
        on: { click: () => { open = true; redraw(); input.focus(); } },
      }, "+ Add tag");
    }
    input = h("input", {
      class: "cvb-input", name: "name", placeholder: "New tag name", "aria-label": "New tag name",
      on: { keydown: (e) => { if (e.key === "Escape") close(); } },
    });
    return h("form", {
      class: "cvb-newtag",
      on: {
        submit: (e) => {
          e.preventDefault();
          const name = e.target.elements.name.value.trim();
          open = false;
          if (name) create(name);
          redraw();
          root.focus();
        },
      },
    }, input, h("button", { class: "cvb-btn is-primary is-small", type: "submit" }, "Add"));
  };
}

// -- images with boxes ------------------------------------------------------------------------------

/**
 * An image with boxes on it, as one scalable SVG. ``boxes``: [{left, top, width, height
 * (normalized), color, label, dashed}]. The picture keeps its aspect ratio (width/height).
 */
export function cvbBoxedImage(src, width, height, boxes, opts) {
  const o = opts || {};
  const w = Math.max(1, width || 1);
  const hgt = Math.max(1, height || 1);
  const unit = Math.max(w, hgt) / 100; // 1% of the longest side
  const stroke = o.stroke || 2; // screen pixels: the boxes' strokes do not scale
  const font = o.font || 2.6 * unit;
  const shapes = (boxes || []).map((b) => {
    const x = b.left * w;
    const y = b.top * hgt;
    const g = svg("g", { class: "cvb-box" },
      svg("rect", { x, y, width: b.width * w, height: b.height * hgt, fill: "none", stroke: b.color || "#0078d4",
        "stroke-width": stroke, "stroke-dasharray": b.dashed ? "5 3" : null }));
    if (b.label && o.labels !== false) {
      const ty = y > font * 1.4 ? y - 0.3 * font : y + font * 1.1;
      const label = svg("text", { x: x + 0.3 * font, y: ty, "font-size": font, fill: "#fff", "font-weight": "600", "font-family": "inherit" }, b.label);
      const bg = svg("rect", { class: "cvb-labelbg", x, y: ty - font, width: (b.label.length * 0.62 + 0.6) * font, height: font * 1.3, fill: b.color || "#0078d4", opacity: 0.9 });
      g.append(bg, label);
      // once drawn, fit the label's background to the text's real width
      requestAnimationFrame(() => {
        const width = label.isConnected ? label.getComputedTextLength() : 0;
        if (width > 0) bg.setAttribute("width", String(width + 0.6 * font));
      });
    }
    return g;
  });
  return svg("svg", { class: `cvb-boxed ${o.class || ""}`, viewBox: `0 0 ${w} ${hgt}`, preserveAspectRatio: "xMidYMid meet", role: "img", "aria-label": o.alt || "" },
    svg("image", { href: src, x: 0, y: 0, width: w, height: hgt, preserveAspectRatio: "none" }),
    shapes);
}

// What a person can do when the camera does not open: ``err`` is getUserMedia's error
// (null when the browser offers no camera API here), ``instead`` the other way in
// ("upload files", "choose an image file").
export function cvbCameraError(err, instead) {
  const name = (err && err.name) || "";
  if (!err) return `This browser gives no camera access here (it needs https or localhost): ${instead} instead`;
  if (name === "NotAllowedError" || name === "SecurityError") {
    return `The browser was not allowed to use the camera: allow it in the address bar, or ${instead}`;
  }
  if (name === "NotFoundError" || name === "OverconstrainedError" || name === "DevicesNotFoundError") {
    return `No camera was found: connect one (and close other programs using it), or ${instead}`;
  }
  if (name === "NotReadableError" || name === "AbortError") {
    return `The camera is busy in another program or tab: close it there, or ${instead}`;
  }
  return `The camera did not open (${err.message || err.name || err}): ${instead} instead`;
}
