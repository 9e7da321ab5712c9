// Two iterations side by side, one module for every widget that shows it (Insight,
// Performance): the totals of both, per-tag precision / recall / AP of both with their
// difference (green up, red down), both PR curves overlaid, and the images one got right and
// the other wrong. Python shapes the widget's `comparison` trait (cvbench/ui/_compare.py).

import { h, cvbPct, cvbPlural, cvbTagChip } from "./common.js";

const CVB_CMP_METRICS = [["precision", "Precision"], ["recall", "Recall"], ["ap", "AP"]];
/** A difference smaller than this (in [0, 1]) reads as no change. */
const CVB_CMP_SAME = 0.0005;

/** A difference in percentage points, signed: "+3.2", "-1.0", "0.0". */
function cvbPts(v) {
  return `${v > 0 ? "+" : ""}${(100 * v).toFixed(1)}`;
}

function cvbDiffClass(v) {
  return v > CVB_CMP_SAME ? "is-better" : v < -CVB_CMP_SAME ? "is-worse" : "";
}

/**
 * The comparison ``c`` (a widget's ``comparison`` trait) as one element, or null when there
 * is none. ``color`` gives a tag id its colour (cvbMount's); ``open(imageId, ids)``, when
 * given, makes each fixed or broken image open (the detail view), ``ids`` being all of them.
 */
export function cvbComparison(model, color, c, open) {
  if (!c || (!c.error && !c.per_tag)) return null;
  if (c.error) return h("div", { class: "cvb-cmp-refused", role: "alert", text: c.error });
  const tags = model.get("tags") || [];
  const chip = (name) => {
    const tag = tags.find((t) => t.name === name);
    return cvbTagChip({ name }, tag ? color(tag.id) : color(name));
  };
  const diffCell = (v) => (v === null || v === undefined
    ? h("td", { class: "is-num cvb-muted-cell", text: "\u2014" })
    : h("td", { class: `is-num cvb-cmp-diff ${cvbDiffClass(v)}`, title: `${cvbPts(v)} percentage points`, text: cvbPts(v) }));
  const tt = c.totals || {};
  const total = (label, key) => {
    const a = (tt.this || {})[key];
    const b = (tt.other || {})[key];
    const d = a === null || a === undefined || b === null || b === undefined ? null : a - b;
    return h("span", { class: "cvb-cmp-total", dataset: { total: key } },
      h("span", { class: "cvb-label", text: label }), h("b", { text: cvbPct(a) }),
      h("span", { class: "cvb-muted", text: `vs ${cvbPct(b)}` }),
      d === null ? null : h("span", { class: `cvb-cmp-diff ${cvbDiffClass(d)}`, text: cvbPts(d) }));
  };
  const at = `threshold ${cvbPct(c.threshold, 0)}${c.overlap === null || c.overlap === undefined ? "" : `, overlap ${cvbPct(c.overlap, 0)}`}`;
  const ids = [...(c.fixed || []), ...(c.broken || [])].map((img) => img.id);
  const thumb = (img) => h("figure", {
    class: `cvb-cmp-thumb${open ? " is-open" : ""}`, dataset: { image: img.id }, title: open ? `${img.name}: show it large` : img.name,
    tabindex: open ? "0" : null, role: open ? "button" : null,
    on: open ? { click: () => open(img.id, ids), keydown: (e) => { if (e.key === "Enter") open(img.id, ids); } } : null,
  },
  h("img", { src: img.src, alt: img.name, loading: "lazy" }),
  h("figcaption", null,
    h("span", { class: "cvb-cmp-name", text: img.name }),
    h("span", { class: "cvb-cmp-tags" }, (img.tags || []).length ? img.tags.map(chip) : h("span", { class: "cvb-muted", text: "untagged" }))));
  const changes = [["fixed", "Fixed", `right in ${c.this}, wrong in ${c.other}`], ["broken", "Broken", `wrong in ${c.this}, right in ${c.other}`]];
  return h("div", { class: "cvb-cmp", dataset: { this: c.this_id || "", other: c.other_id || "" } },
    h("div", { class: "cvb-subtle cvb-cmp-intro", text: `${c.this} against ${c.other} on ${cvbPlural(c.shared_images, "shared validation image")} at ${at}` }),
    h("div", { class: "cvb-cmp-sum" }, total("Precision", "precision"), total("Recall", "recall"), total("mAP", "map")),
    h("div", { class: "cvb-cmp-grid" },
      h("div", { class: "cvb-cmp-wrap" }, h("table", { class: "cvb-table cvb-cmp-table" },
        h("thead", null,
          h("tr", null, h("th", { rowspan: "2", text: "Tag" }), CVB_CMP_METRICS.map(([, label]) => h("th", { colspan: "3", class: "is-num is-group", text: label }))),
          h("tr", null, CVB_CMP_METRICS.map(() => [
            h("th", { class: "is-num is-first", text: c.this }), h("th", { class: "is-num", text: c.other }),
            h("th", { class: "is-num", title: "This minus the other, in percentage points", text: "\u0394 pts" })]))),
        h("tbody", null, c.per_tag.map((row) => h("tr", { dataset: { tag: row.tag } },
          h("td", null, chip(row.tag)),
          CVB_CMP_METRICS.map(([m]) => [
            h("td", { class: "is-num is-first", text: cvbPct(row[`${m}_this`]) }),
            h("td", { class: "is-num cvb-subtle", text: cvbPct(row[`${m}_other`]) }),
            diffCell(row[`${m}_diff`])])))))),
      c.plot ? h("img", { class: "cvb-cmp-plot", src: c.plot, alt: `Precision/recall curves: ${c.this} solid, ${c.other} dashed` }) : null),
    changes.map(([key, label, hint]) => {
      const shown = c[key] || [];
      const n = c[`n_${key}`] || 0;
      return [
        h("div", { class: "cvb-cmp-sub", dataset: { changes: key } },
          h("span", { class: "cvb-label" }, `${label} (${n})`), h("span", { class: "cvb-muted", text: hint }),
          n > shown.length ? h("span", { class: "cvb-muted", text: `\u00b7 the first ${shown.length}` }) : null),
        shown.length ? h("div", { class: `cvb-cmp-row cvb-cmp-${key}` }, shown.map(thumb)) : null];
    }));
}
