// Insight (cvbench/ui/insight.py): the dataset's health (tiles, near-duplicates to keep one
// of, likely mislabels to accept or dismiss), the embedding map drawn in a <canvas> (hover,
// click, lasso; tag or show the selection), and two iterations compared (widgets/compare.js).
//
// The map's points arrive as compact arrays: map_xy (float32 x, y pairs), map_tag (uint16
// tag index per point), map_outcome (uint8: 0 wrong, 1 right, 2 not validated). The root
// element carries data-paint-ms (how long the last paint of the points took), data-points
// (how many were painted) and data-painted-at (performance.now() at the end of that paint).

import {
  h, cvbFill, cvbFmt, cvbInWorkbench, cvbIterationSelect, cvbMount, cvbNotice, cvbPct, cvbPlural,
  cvbSelect, cvbSet, cvbTagChip, cvbTile
} from "./common.js";
import { cvbComparison } from "./compare.js";

const CVB_OUTCOME_COLORS = ["#d13438", "#107c10", "#c8c6c4"]; // wrong, right, not validated
const CVB_UNTAGGED = 0xffff;

/** The bytes of a binary trait (DataView, ArrayBuffer or typed array) as a typed array. */
function cvbArray(value, Type) {
  if (!value) return new Type(0);
  if (value instanceof ArrayBuffer) return new Type(value.slice(0));
  if (ArrayBuffer.isView(value)) return new Type(value.buffer.slice(value.byteOffset, value.byteOffset + value.byteLength));
  return new Type(0);
}

function render({ model, el }) {
  const { on, root, color } = cvbMount(model, el, "insight");
  const header = h("div", { class: "cvb-header" });
  const healthCard = h("section", { class: "cvb-card cvb-ins-health", dataset: { section: "health" } });
  const mapCard = h("section", { class: "cvb-card cvb-ins-map", dataset: { section: "map" } });
  const compareCard = h("section", { class: "cvb-card cvb-ins-compare", dataset: { section: "compare" } });
  root.append(header, h("div", { class: "cvb-ins-body" }, healthCard, mapCard, compareCard), cvbNotice(model, on));

  const running = () => model.get("state") !== "idle";
  const job = () => (model.get("progress") || {}).job || "";
  const tagByName = (name) => (model.get("tags") || []).find((t) => t.name === name);
  const tagColor = (name) => { const t = tagByName(name); return t ? color(t.id) : color(name); };
  const chip = (name) => cvbTagChip({ name }, tagColor(name));

  function renderHeader() {
    cvbFill(header,
      h("div", { class: "cvb-title" }, "Insight"),
      h("span", { class: "cvb-subtle" }, "What the data holds, how the images lie, what changed between iterations"),
      h("div", { class: "cvb-spacer" }));
  }

  // -- progress (health check or map) ---------------------------------------------------------
  function progressBox(which) {
    if (!running() || job() !== which) return null;
    const p = model.get("progress") || {};
    const pct = Math.round(100 * (p.fraction || 0));
    return h("div", { class: "cvb-ins-progress" },
      h("div", { class: "cvb-progress cvb-ins-bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(pct) },
        h("div", { style: { width: `${pct}%` } })),
      h("span", { class: "cvb-ins-pct", text: `${pct}%` }),
      h("span", { class: "cvb-subtle cvb-ins-msg", text: p.message || "" }),
      h("button", { class: "cvb-btn is-small is-danger", dataset: { action: "cancel" }, disabled: model.get("state") === "cancelling",
        on: { click: () => model.send({ type: "cancel" }) } }, model.get("state") === "cancelling" ? "Cancelling\u2026" : "Cancel"));
  }

  // -- health -----------------------------------------------------------------------------------
  let confirming = null; // [group, image id] awaiting "Delete N others?"

  function tile(key, label, value, hint, warn) {
    const node = cvbTile(label, value, hint);
    node.dataset.tile = key;
    if (warn) node.classList.add("is-warn");
    return node;
  }

  function balanceBars(rows) {
    if (!rows.length) return null;
    return h("div", { class: "cvb-ins-balance", dataset: { tile: "balance" } },
      h("div", { class: "cvb-label" }, "Class balance"),
      rows.map((b) => h("div", { class: "cvb-ins-balrow", title: `${b.tag}: ${b.images} images (${b.train} train, ${b.validation} validation), ${cvbPct(b.share)} of all` },
        h("span", { class: "cvb-ins-balname" }, chip(b.tag)),
        h("span", { class: "cvb-ins-baltrack" }, h("span", { class: "cvb-ins-balfill", style: { width: `${(100 * b.ratio).toFixed(1)}%`, background: tagColor(b.tag) } })),
        h("span", { class: "cvb-ins-balcount", text: cvbFmt(b.images) }))));
  }

  function thumb(img, extra) {
    return h("figure", { class: "cvb-ins-thumb", dataset: { image: img.id }, title: img.name },
      h("img", { src: img.src, alt: img.name, loading: "lazy" }),
      h("figcaption", null,
        h("span", { class: "cvb-ins-name", text: img.name }),
        h("span", { class: "cvb-ins-tags" }, (img.tags || []).length ? img.tags.map(chip) : h("span", { class: "cvb-muted", text: "untagged" }),
          img.split ? h("span", { class: "cvb-badge", text: img.split }) : null)),
      extra);
  }

  function groupRow(g) {
    const others = g.images.length - 1;
    return h("div", { class: "cvb-ins-group", dataset: { group: String(g.group) } },
      h("div", { class: "cvb-ins-group-head" },
        h("b", { text: `Group ${g.group}` }),
        h("span", { class: "cvb-muted", text: `${cvbPlural(g.images.length, "image")} \u00b7 similarity ${cvbPct(g.similarity)}` }),
        g.across_splits ? h("span", { class: "cvb-badge is-error", title: "In both train and validation: the validation numbers are flattered", text: "leak" }) : null,
        g.across_tags ? h("span", { class: "cvb-badge is-warn", title: "The copies carry different tags", text: "different tags" }) : null),
      h("div", { class: "cvb-ins-row" }, g.images.map((img) => {
        const asking = confirming && confirming[0] === g.group && confirming[1] === img.id;
        const action = asking
          ? h("div", { class: "cvb-ins-confirm" },
            h("span", { class: "cvb-ins-confirm-text", text: `Delete the ${others === 1 ? "other image" : `other ${others} images`}?` }),
            h("button", { class: "cvb-btn is-small is-danger is-solid", dataset: { action: "confirm-keep" },
              on: { click: () => { confirming = null; model.send({ type: "keep_duplicate", group: g.group, keep: img.id }); } } }, "Delete"),
            h("button", { class: "cvb-btn is-small is-quiet", on: { click: () => { confirming = null; renderHealth(); } } }, "Cancel"))
          : h("button", { class: `cvb-btn is-small${img.id === g.keep ? " is-primary" : ""}`, dataset: { action: "keep" },
            title: img.id === g.keep ? "Suggested: the most pixels" : "Keep this image, delete the others of the group",
            on: { click: () => { confirming = [g.group, img.id]; renderHealth(); } } }, "Keep this one");
        return thumb(img, h("div", { class: "cvb-ins-actions" }, action));
      })));
  }

  function mislabelRow(m) {
    return h("div", { class: "cvb-ins-mis", dataset: { image: m.image_id } },
      h("img", { class: "cvb-ins-mis-img", src: m.src, alt: m.name }),
      h("div", { class: "cvb-ins-mis-text" },
        h("div", { class: "cvb-ins-name", text: `${m.rank}. ${m.name}` }),
        h("div", { class: "cvb-ins-mis-tags" },
          h("span", { class: "cvb-muted", text: "tagged" }), m.tags.map(chip),
          h("span", { class: "cvb-ins-arrow", text: "\u2192" }),
          h("span", { class: "cvb-muted", text: "looks like" }), m.suggested.map(chip)),
        h("div", { class: "cvb-muted cvb-ins-mis-prob", text: `given tag ${cvbPct(m.given_probability)} \u00b7 suggested ${cvbPct(m.suggested_probability)}` })),
      h("div", { class: "cvb-group" },
        h("button", { class: "cvb-btn is-small is-primary", dataset: { action: "accept" }, disabled: !m.suggested.length,
          title: `Tag it ${m.suggested.join(", ")}`, on: { click: () => model.send({ type: "accept_tag", image_id: m.image_id }) } }, "Accept"),
        h("button", { class: "cvb-btn is-small is-quiet", dataset: { action: "dismiss" }, title: "Its tag is right: take it off the list",
          on: { click: () => model.send({ type: "dismiss", image_id: m.image_id }) } }, "Dismiss")));
  }

  function renderHealth() {
    const r = model.get("health") || {};
    const checked = r.n_images !== undefined;
    const t = r.tiles || {};
    const head = h("div", { class: "cvb-ins-head" },
      h("span", { class: "cvb-section-title" }, "Health"),
      h("span", { class: "cvb-muted", text: checked ? `${cvbPlural(r.n_images, "image")} checked` : "" }),
      h("div", { class: "cvb-spacer" }),
      h("button", { class: "cvb-btn is-primary", dataset: { action: "check" }, disabled: running(),
        on: { click: () => model.send({ type: "check" }) } }, checked ? "Check again" : "Check the data"));
    if (!checked) {
      cvbFill(healthCard, head, progressBox("health"),
        running() && job() === "health" ? null : h("div", { class: "cvb-empty cvb-empty-small" },
          h("div", { class: "cvb-empty-title", text: "Is the data sound?" }),
          h("div", { text: "Check the data for near-duplicates, leaks between train and validation, likely mislabelled images, outliers, and images too small or too dark." })));
      return;
    }
    const groups = r.groups || [];
    const mis = r.mislabels || [];
    cvbFill(healthCard, head, progressBox("health"),
      h("div", { class: "cvb-tiles cvb-ins-tiles" },
        tile("duplicates", "Near-duplicate groups", cvbFmt(groups.length), `${cvbPlural(t.to_delete || 0, "image")} to delete at the check; ${t.conflicts || 0} with different tags`, groups.length > 0),
        tile("leaks", "Leaks train \u2194 validation", cvbFmt(t.leaks || 0), "Groups with copies in both training and validation: they flatter the validation numbers", t.leaks > 0),
        tile("mislabels", "Likely mislabels", cvbFmt(mis.length), "Images whose tag the other images' features disagree with (confident learning)", mis.length > 0),
        tile("outliers", "Outliers", cvbFmt(t.outliers || 0), "Images far from the other images of their tag"),
        tile("too_small", "Too small", cvbFmt(t.too_small || 0), "Shorter side under a quarter of the model's input side", t.too_small > 0),
        tile("too_dark", "Too dark", cvbFmt(t.too_dark || 0), "Mean brightness under 10%", t.too_dark > 0),
        balanceBars(r.balance || [])),
      (r.notes || []).length ? h("ul", { class: "cvb-ins-notes" }, r.notes.map((n) => h("li", { text: n }))) : null,
      h("div", { class: "cvb-ins-sub" },
        h("span", { class: "cvb-label" }, "Near-duplicates"),
        h("span", { class: "cvb-muted", text: groups.length ? "Keep one image of each group; the others are deleted" : "none left" })),
      groups.length ? h("div", { class: "cvb-ins-groups" }, groups.map(groupRow)) : null,
      h("div", { class: "cvb-ins-sub" },
        h("span", { class: "cvb-label" }, "Likely mislabelled"),
        h("span", { class: "cvb-muted", text: mis.length ? "Most doubtful first" : "none left" })),
      mis.length ? h("div", { class: "cvb-ins-mislist" }, mis.map(mislabelRow)) : null);
  }

  // -- the map ----------------------------------------------------------------------------------
  let method = "pca";
  let colorBy = "tag";
  let xy = new Float32Array(0);
  let tagIdx = new Uint16Array(0);
  let outcome = new Uint8Array(0);
  let sx = new Float32Array(0);
  let sy = new Float32Array(0);
  let selected = new Set();
  let hoverIndex = -1;
  let hoverTimer = null;
  let lasso = null; // [[x, y], …] while dragging
  let receivedAt = 0;

  const canvas = h("canvas", { class: "cvb-ins-canvas", "aria-label": "Embedding map: drag to lasso-select, click to select one" });
  const overlay = h("canvas", { class: "cvb-ins-overlay" });
  const tip = h("div", { class: "cvb-ins-tip" });
  const plot = h("div", { class: "cvb-ins-plot" }, canvas, overlay, tip);
  const mapTools = h("div", { class: "cvb-toolbar cvb-ins-maptools" });
  const legend = h("div", { class: "cvb-ins-legend" });
  const selBar = h("div", { class: "cvb-ins-selbar" });
  const shownBox = h("div", { class: "cvb-ins-shown" });
  const mapProgress = h("div");
  const mapEmpty = h("div", { class: "cvb-empty cvb-empty-small" },
    h("div", { class: "cvb-empty-title", text: "Every image as a point" }),
    h("div", { text: "Make the map: images the backbone sees alike lie close. Hover a point to see it, click to select it, drag a lasso around many." }));
  cvbFill(mapCard,
    h("div", { class: "cvb-ins-head" }, h("span", { class: "cvb-section-title" }, "Map"), h("span", { class: "cvb-muted cvb-ins-mapinfo" })),
    mapTools, mapProgress, mapEmpty, plot, legend, selBar, shownBox);

  function renderMapTools() {
    const its = model.get("iterations") || [];
    cvbFill(mapTools,
      h("span", { class: "cvb-label" }, "Method"),
      cvbSelect([{ value: "pca", label: "PCA" }, { value: "umap", label: "UMAP" }], method, (v) => { method = v; }, { "aria-label": "Method", class: "cvb-select cvb-ins-method" }),
      h("span", { class: "cvb-label" }, "Colour by"),
      cvbSelect([{ value: "tag", label: "Tag" }, { value: "correct", label: "Correct / wrong", disabled: !its.length }], colorBy,
        (v) => { colorBy = v; renderMapTools(); }, { "aria-label": "Colour by", class: "cvb-select cvb-ins-colorby" }),
      colorBy === "correct" && its.length ? cvbIterationSelect(model, (v) => cvbSet(model, { iteration: v })) : null,
      h("button", { class: "cvb-btn is-primary", dataset: { action: "map" }, disabled: running(),
        on: { click: () => model.send({ type: "make_map", method, color_by: colorBy }) } }, xy.length ? "Make it again" : "Make the map"));
  }

  function size() {
    const width = Math.max(320, Math.floor(plot.clientWidth || 720));
    return [width, Math.round(Math.min(560, Math.max(300, width * 0.62)))];
  }

  /** Screen position of point i (one scale for both axes, as the map's coordinates). */
  function layout(w, hgt) {
    const pad = 14;
    const side = Math.min(w, hgt) - 2 * pad;
    const ox = (w - side) / 2;
    const oy = (hgt - side) / 2;
    const n = xy.length / 2;
    sx = new Float32Array(n);
    sy = new Float32Array(n);
    for (let i = 0; i < n; i++) {
      sx[i] = ox + xy[2 * i] * side;
      sy[i] = oy + (1 - xy[2 * i + 1]) * side;
    }
  }

  function pointColor(i) {
    const info = model.get("map_info") || {};
    if (info.color_by === "correct") return CVB_OUTCOME_COLORS[outcome[i]] || CVB_OUTCOME_COLORS[2];
    const k = tagIdx[i];
    return k === CVB_UNTAGGED ? "#8a8886" : tagColor((info.names || [])[k]);
  }

  function paint() {
    const started = performance.now();
    const n = xy.length / 2;
    const [w, hgt] = size();
    const dpr = window.devicePixelRatio || 1;
    for (const c of [canvas, overlay]) {
      c.width = Math.round(w * dpr);
      c.height = Math.round(hgt * dpr);
      c.style.width = `${w}px`;
      c.style.height = `${hgt}px`;
    }
    plot.style.height = `${hgt}px`;
    layout(w, hgt);
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, hgt);
    const r = n > 3000 ? 1.6 : n > 500 ? 2.4 : 3.5;
    // one fill colour at a time: points bucketed by colour
    const buckets = new Map();
    for (let i = 0; i < n; i++) {
      const c = pointColor(i);
      let b = buckets.get(c);
      if (!b) { b = []; buckets.set(c, b); }
      b.push(i);
    }
    ctx.globalAlpha = selected.size ? 0.35 : 0.85;
    for (const [c, idx] of buckets) {
      ctx.fillStyle = c;
      ctx.beginPath();
      for (const i of idx) { ctx.moveTo(sx[i] + r, sy[i]); ctx.arc(sx[i], sy[i], r, 0, 2 * Math.PI); }
      ctx.fill();
    }
    ctx.globalAlpha = 1;
    if (selected.size) {
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = "#201f1e";
      for (const i of selected) {
        if (i >= n) continue;
        ctx.fillStyle = pointColor(i);
        ctx.beginPath();
        ctx.arc(sx[i], sy[i], r + 1.5, 0, 2 * Math.PI);
        ctx.fill();
        ctx.stroke();
      }
    }
    drawOverlay();
    root.dataset.paintMs = (performance.now() - started).toFixed(1);
    root.dataset.firstPaintMs = receivedAt ? (performance.now() - receivedAt).toFixed(1) : root.dataset.paintMs;
    root.dataset.points = String(n);
    root.dataset.paintedAt = performance.now().toFixed(1);
  }

  function drawOverlay() {
    const dpr = window.devicePixelRatio || 1;
    const ctx = overlay.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, overlay.width, overlay.height);
    if (hoverIndex >= 0 && hoverIndex < sx.length) {
      ctx.strokeStyle = "#0078d4";
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.arc(sx[hoverIndex], sy[hoverIndex], 6, 0, 2 * Math.PI);
      ctx.stroke();
    }
    if (lasso && lasso.length > 1) {
      ctx.strokeStyle = "#0078d4";
      ctx.fillStyle = "rgba(0, 120, 212, 0.08)";
      ctx.lineWidth = 1.5;
      ctx.setLineDash([5, 3]);
      ctx.beginPath();
      ctx.moveTo(lasso[0][0], lasso[0][1]);
      for (const [x, y] of lasso) ctx.lineTo(x, y);
      ctx.closePath();
      ctx.fill();
      ctx.stroke();
      ctx.setLineDash([]);
    }
  }

  function nearest(x, y, within) {
    let best = -1;
    let bestD = within * within;
    for (let i = 0; i < sx.length; i++) {
      const dx = sx[i] - x;
      const dy = sy[i] - y;
      const d = dx * dx + dy * dy;
      if (d <= bestD) { bestD = d; best = i; }
    }
    return best;
  }

  function inside(poly) {
    let x0 = Infinity, y0 = Infinity, x1 = -Infinity, y1 = -Infinity;
    for (const [x, y] of poly) { x0 = Math.min(x0, x); y0 = Math.min(y0, y); x1 = Math.max(x1, x); y1 = Math.max(y1, y); }
    const out = [];
    for (let i = 0; i < sx.length; i++) {
      const px = sx[i];
      const py = sy[i];
      if (px < x0 || px > x1 || py < y0 || py > y1) continue;
      let c = false;
      for (let a = 0, b = poly.length - 1; a < poly.length; b = a++) {
        const [ax, ay] = poly[a];
        const [bx, by] = poly[b];
        if ((ay > py) !== (by > py) && px < ((bx - ax) * (py - ay)) / (by - ay) + ax) c = !c;
      }
      if (c) out.push(i);
    }
    return out;
  }

  const at = (e) => { const b = overlay.getBoundingClientRect(); return [e.clientX - b.left, e.clientY - b.top]; };

  function choose(indices, add) {
    selected = new Set(add ? [...selected, ...indices] : indices);
    paint();
    renderSelection();
    model.send({ type: "select", indices: [...selected] });
  }

  function setHover(i, x, y) {
    if (i === hoverIndex) return;
    hoverIndex = i;
    drawOverlay();
    clearTimeout(hoverTimer);
    if (i < 0) { tip.classList.remove("is-visible"); return; }
    tip.style.left = `${Math.min(x + 14, (plot.clientWidth || 600) - 190)}px`;
    tip.style.top = `${Math.max(0, y - 60)}px`;
    hoverTimer = setTimeout(() => model.send({ type: "hover", index: i }), 40);
  }

  function renderTip() {
    const hv = model.get("hover") || {};
    if (hv.index === undefined || hv.index !== hoverIndex) { if (hoverIndex < 0) tip.classList.remove("is-visible"); return; }
    cvbFill(tip,
      hv.src ? h("img", { src: hv.src, alt: hv.name }) : null,
      h("div", { class: "cvb-ins-tipname", text: hv.name + (hv.deleted ? " (deleted)" : "") }),
      h("div", { class: "cvb-ins-tags" }, (hv.tags || []).map(chip)));
    tip.classList.add("is-visible");
  }

  overlay.addEventListener("mousedown", (e) => {
    if (e.button !== 0 || !sx.length) return;
    e.preventDefault();
    lasso = [at(e)];
    setHover(-1);
  });
  overlay.addEventListener("mousemove", (e) => {
    const [x, y] = at(e);
    if (lasso) { lasso.push([x, y]); drawOverlay(); return; }
    const i = nearest(x, y, 8);
    setHover(i, x, y);
  });
  const finish = (e) => {
    if (!lasso) return;
    const poly = lasso;
    lasso = null;
    const xs = poly.map((p) => p[0]);
    const ys = poly.map((p) => p[1]);
    const add = e.shiftKey || e.ctrlKey || e.metaKey;
    if (Math.max(...xs) - Math.min(...xs) < 4 && Math.max(...ys) - Math.min(...ys) < 4) {
      const i = nearest(poly[0][0], poly[0][1], 8);
      choose(i >= 0 ? [i] : [], add);
    } else {
      choose(inside(poly), add);
    }
  };
  overlay.addEventListener("mouseup", finish);
  overlay.addEventListener("mouseleave", (e) => { if (lasso) finish(e); setHover(-1); });

  let chosenTag = "";
  function renderSelection() {
    const n = selected.size;
    const tags = model.get("tags") || [];
    if (!xy.length) { cvbFill(selBar); return; }
    if (!tags.some((t) => t.id === chosenTag)) chosenTag = tags.length ? tags[0].id : "";
    cvbFill(selBar,
      h("span", { class: "cvb-ins-selcount", dataset: { count: String(n) }, text: n ? `${cvbPlural(n, "image")} selected` : "Nothing selected: click a point or drag a lasso" }),
      n ? [
        h("span", { class: "cvb-sep" }),
        h("span", { class: "cvb-label" }, "Tag them"),
        cvbSelect(tags.map((t) => ({ value: t.id, label: t.name })), chosenTag, (v) => { chosenTag = v; }, { "aria-label": "Tag for the selection", class: "cvb-select cvb-ins-seltag" }),
        h("button", { class: "cvb-btn is-small is-primary", dataset: { action: "apply-tag" }, disabled: !chosenTag,
          on: { click: () => model.send({ type: "tag_selection", tag: chosenTag }) } }, "Apply"),
        h("button", { class: "cvb-btn is-small", dataset: { action: "show-selection" },
          on: { click: () => model.send({ type: "show_selection" }) } }, cvbInWorkbench(model) ? "Show in the gallery" : "Show the images"),
        h("button", { class: "cvb-btn is-small is-quiet", dataset: { action: "clear-selection" }, on: { click: () => choose([], false) } }, "Clear"),
      ] : null);
  }

  function renderLegend() {
    const info = model.get("map_info") || {};
    if (!xy.length) { cvbFill(legend); return; }
    if (info.color_by === "correct") {
      cvbFill(legend, [["right", 1], ["wrong", 0], ["not validated", 2]].map(([label, k]) =>
        h("span", { class: "cvb-ins-key" }, h("span", { class: "cvb-dot", style: { "--tag": CVB_OUTCOME_COLORS[k] } }), label)));
      return;
    }
    cvbFill(legend, (info.names || []).map((name) => chip(name)),
      tagIdx.some((k) => k === CVB_UNTAGGED) ? h("span", { class: "cvb-ins-key" }, h("span", { class: "cvb-dot", style: { "--tag": "#8a8886" } }), "untagged") : null);
  }

  function renderShown() {
    const shown = model.get("shown") || [];
    cvbFill(shownBox, shown.length ? [
      h("div", { class: "cvb-ins-sub" }, h("span", { class: "cvb-label" }, "The selection"),
        selected.size > shown.length ? h("span", { class: "cvb-muted", text: `the first ${shown.length} of ${selected.size}` }) : null),
      h("div", { class: "cvb-ins-row is-wrap" }, shown.map((img) => thumb(img)))] : null);
  }

  function loadMap() {
    receivedAt = performance.now();
    xy = cvbArray(model.get("map_xy"), Float32Array);
    tagIdx = cvbArray(model.get("map_tag"), Uint16Array);
    outcome = cvbArray(model.get("map_outcome"), Uint8Array);
    selected = new Set(model.get("selection") || []);
    hoverIndex = -1;
    const info = model.get("map_info") || {};
    const has = xy.length > 0;
    mapEmpty.style.display = has ? "none" : "";
    plot.style.display = has ? "" : "none";
    mapCard.querySelector(".cvb-ins-mapinfo").textContent = has
      ? `${cvbPlural(info.n, "image")} \u00b7 ${String(info.method || "").toUpperCase()} of the backbone's features${info.color_by === "correct" ? ` \u00b7 ${info.iteration_name} on its validation images` : ""}`
      : "";
    renderMapTools();
    renderLegend();
    renderSelection();
    if (has) requestAnimationFrame(() => { paint(); receivedAt = 0; });
  }

  // -- compare ----------------------------------------------------------------------------------
  let thisId = "";
  let otherId = "";
  function renderCompare() {
    const its = model.get("iterations") || [];
    const c = model.get("comparison") || {};
    if (!its.some((o) => o.id === thisId)) thisId = its.length ? its[0].id : "";
    if (!its.some((o) => o.id === otherId) || otherId === thisId) otherId = (its.find((o) => o.id !== thisId) || {}).id || "";
    const options = its.map((o) => ({ value: o.id, label: o.label }));
    const head = h("div", { class: "cvb-ins-head" },
      h("span", { class: "cvb-section-title" }, "Compare"),
      h("span", { class: "cvb-muted", text: "two iterations on their shared validation images" }));
    if (its.length < 2) {
      cvbFill(compareCard, head, h("div", { class: "cvb-empty cvb-empty-small" },
        h("div", { class: "cvb-empty-title", text: "Two iterations compare" }),
        h("div", { text: `Train ${its.length ? "another" : "two"} ${cvbInWorkbench(model) ? "in the Train tab" : "with project.train()"} to see what changed between them.` })));
      return;
    }
    const tools = h("div", { class: "cvb-toolbar cvb-ins-cmptools" },
      cvbSelect(options, thisId, (v) => { thisId = v; }, { "aria-label": "This iteration", class: "cvb-select cvb-ins-this" }),
      h("span", { class: "cvb-muted", text: "against" }),
      cvbSelect(options, otherId, (v) => { otherId = v; }, { "aria-label": "The other iteration", class: "cvb-select cvb-ins-other" }),
      h("button", { class: "cvb-btn is-primary", dataset: { action: "compare" }, disabled: !thisId || !otherId,
        on: { click: () => model.send({ type: "compare", this: thisId, other: otherId }) } }, "Compare"));
    cvbFill(compareCard, head, tools, cvbComparison(model, color, c));
  }

  on("change:state change:progress", () => { renderHealth(); renderMapTools(); cvbFill(mapProgress, progressBox("map")); });
  on("change:health", () => { confirming = null; renderHealth(); });
  on("change:tags", () => { renderHealth(); renderSelection(); renderLegend(); if (xy.length) paint(); });
  on("change:map_xy change:map_tag change:map_info", loadMap);
  on("change:selection", () => { selected = new Set(model.get("selection") || []); if (xy.length) paint(); renderSelection(); });
  on("change:shown", renderShown);
  on("change:hover", renderTip);
  on("change:iterations change:iteration", () => { renderMapTools(); renderCompare(); });
  on("change:comparison change:host", () => { renderCompare(); renderSelection(); });

  const resize = typeof ResizeObserver === "undefined" ? null : new ResizeObserver(() => { if (xy.length && Math.abs(canvas.clientWidth - (plot.clientWidth || 0)) > 2) paint(); });
  if (resize) resize.observe(plot);
  renderHeader();
  renderHealth();
  loadMap();
  renderShown();
  renderCompare();
  return () => { clearTimeout(hoverTimer); if (resize) resize.disconnect(); on.dispose(); };
}

export default { render };
