// Shared by the app widgets (train panel, performance, quick test, predictions, export,
// workbench): number formatting, SVG images with boxes, tag pickers. The Python side puts
// this file after common.js and before the widget's own module (cvbench/ui/_app.py).

/** A fraction as a percentage ("87.5%"), or a dash for null. */
function cvbPct(x, digits) {
  return x === null || x === undefined || !isFinite(x) ? "\u2014" : `${(100 * x).toFixed(digits === undefined ? 1 : digits)}%`;
}

/** Seconds as m:ss (or h:mm:ss). */
function cvbClock(seconds) {
  if (seconds === null || seconds === undefined || !isFinite(seconds)) return "\u2014";
  const s = Math.max(0, Math.round(seconds));
  const m = Math.floor(s / 60);
  return m >= 60 ? `${Math.floor(m / 60)}:${String(m % 60).padStart(2, "0")}:${String(s % 60).padStart(2, "0")}` : `${m}:${String(s % 60).padStart(2, "0")}`;
}

/** An ISO time as "Jan 5, 14:03" in the reader's locale. */
function cvbWhen(iso) {
  const d = new Date(iso);
  return isNaN(d) ? "" : d.toLocaleString(undefined, { month: "short", day: "numeric", hour: "2-digit", minute: "2-digit" });
}

const CVB_SVG = "http://www.w3.org/2000/svg";

/** An SVG element: svg("rect", {x: 1, …}, children…). */
function svg(tag, attrs, ...children) {
  const node = document.createElementNS(CVB_SVG, tag);
  for (const [k, v] of Object.entries(attrs || {})) if (v !== undefined && v !== null && v !== false) node.setAttribute(k, String(v));
  for (const c of children.flat(Infinity)) if (c !== undefined && c !== null && c !== false) node.append(c instanceof Node ? c : document.createTextNode(String(c)));
  return node;
}

/**
 * An image with boxes on it, as one scalable SVG. ``boxes``: [{left, top, width, height
 * (normalized), color, label, dashed}]. The picture keeps its aspect ratio (width/height).
 */
function cvbBoxedImage(src, width, height, boxes, opts) {
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

/** A metric tile: big number and its name. */
function cvbTile(label, value, hint, extra) {
  return h("div", { class: "cvb-tile", title: hint || "" },
    h("div", { class: "cvb-tile-value", text: value }),
    h("div", { class: "cvb-tile-label", text: label }), extra);
}

/**
 * Tag buttons to choose an image's tags. ``chosen`` is a Set of tag ids; ``multi`` toggles
 * several, else one is chosen. ``onChange(newSet)`` is called after every click.
 */
function cvbTagPicker(tags, chosen, multi, onChange) {
  return h("div", { class: "cvb-tagpicker" }, tags.map((t) => {
    const on_ = chosen.has(t.id);
    return h("button", {
      class: `cvb-tagbtn is-small${on_ ? " is-active" : ""}`, type: "button",
      style: { "--tag": cvbTagColor(t.id) }, dataset: { tag: t.id, name: t.name }, "aria-pressed": on_ ? "true" : "false",
      on: { click: (e) => {
        e.stopPropagation();
        const next = new Set(multi ? chosen : []);
        if (on_) next.delete(t.id); else next.add(t.id);
        onChange(next);
      } },
    }, h("span", { class: "cvb-dot" }), h("span", { class: "cvb-tagbtn-name", text: t.name }));
  }));
}

/** The tag objects of some ids, in the project's order. */
function cvbTagsOf(model, ids) {
  const set = new Set(ids || []);
  return (model.get("tags") || []).filter((t) => set.has(t.id));
}

/** A probability bar with its value: [=====     ] 62.0% */
function cvbProbBar(p, color) {
  return h("div", { class: "cvb-probbar" },
    h("div", { class: "cvb-probbar-track" }, h("div", { class: "cvb-probbar-fill", style: { width: `${(100 * p).toFixed(1)}%`, background: color || "var(--cvb-blue)" } })),
    h("span", { class: "cvb-probbar-value", text: cvbPct(p) }));
}
