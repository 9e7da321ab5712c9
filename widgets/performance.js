// Performance: iteration picker, probability (and overlap) threshold sliders that update the
// numbers live, per-tag table, PR curves with live operating points, confusion matrix, and
// the images it got wrong, clickable to retag (cvbench/ui/performance.py); "Why?" on a wrong
// image shows the heatmap of the tag it predicted (widgets/saliency.js). "Compare with…" puts
// another iteration beside it (widgets/compare.js); its fixed and broken images open large.
//
// The root element carries data-rtt-ms: the time from the last threshold move to the
// numbers computed for it coming back, in milliseconds (what the slider feels like).

import {
  h, cvbBoxedImage, cvbFill, cvbFmt, cvbIcon, cvbInWorkbench, cvbIterationSelect, cvbMount, cvbNotice, cvbPct,
  cvbPlural, cvbSelect, cvbSet, cvbTagChip, cvbTagPicker, cvbTile
} from "./common.js";
import { cvbComparison } from "./compare.js";
import { cvbDetail } from "./image_detail.js";
import { cvbWhy } from "./saliency.js";

function render({ model, el }) {
  const { on, root, color } = cvbMount(model, el, "performance");
  const detection = () => model.get("kind") === "detection";
  const multilabel = () => model.get("kind") === "multilabel";
  const sent = []; // [threshold, overlap, time] of moves not yet answered
  let openCard = null; // image id whose tag picker is open
  let hoverTag = null;
  const why = cvbWhy(model, on);
  const whyShown = new Set(); // image ids whose heatmap is shown

  const header = h("div", { class: "cvb-header" });
  const controls = h("div", { class: "cvb-toolbar cvb-perf-controls" });
  const tiles = h("div", { class: "cvb-tiles cvb-perf-tiles" });
  const table = h("div", { class: "cvb-card cvb-perf-table" });
  const pr = h("div", { class: "cvb-card cvb-perf-pr" });
  const cm = h("div", { class: "cvb-card cvb-perf-cm" });
  const calib = h("div", { class: "cvb-card cvb-perf-calib" });
  const wrong = h("div", { class: "cvb-perf-wrong" });
  const compare = h("section", { class: "cvb-card cvb-perf-compare", dataset: { section: "compare" } });
  const body = h("div", { class: "cvb-perf-body" },
    tiles, compare, h("div", { class: "cvb-perf-grid" }, table, pr), cm, calib, wrong);
  root.append(header, controls, body, cvbNotice(model, on));
  const detail = cvbDetail(model, root, color); // the wrong images, shown large

  // -- header and sliders -----------------------------------------------------------------------
  function renderHeader() {
    const its = model.get("iterations") || [];
    cvbFill(header,
      h("div", { class: "cvb-title" }, "Performance"),
      its.length
        ? cvbIterationSelect(model, (v) => { root.classList.add("is-loading"); cvbSet(model, { iteration: v }); })
        : null,
      its.length ? comparePicker(its) : null,
      h("div", { class: "cvb-spacer" }),
      h("button", { class: "cvb-btn is-quiet", title: "Read the iterations again", on: { click: () => model.send({ type: "refresh" }) } }, cvbIcon("refresh"), "Refresh"),
    );
  }

  // -- another iteration beside this one ------------------------------------------------------
  function comparePicker(its) {
    const options = model.get("compare_options") || [];
    const why = options.length ? "" : its.length < 2
      ? `Train another iteration ${cvbInWorkbench(model) ? "in the Train tab" : "with project.train()"} to compare it with this one`
      : `The other ${cvbPlural(its.length - 1, "iteration is", "iterations are")} of another kind: only iterations of one kind compare`;
    const select = cvbSelect([{ value: "", label: options.length ? "Compare with\u2026" : "Compare with\u2026 (none)" },
      ...options.map((o) => ({ value: o.id, label: o.label }))],
    model.get("compare_with") || "", (v) => cvbSet(model, { compare_with: v }),
    { "aria-label": "Compare with", class: "cvb-select cvb-perf-cmppick", disabled: !options.length, title: why || "Show another iteration beside this one" });
    return h("span", { class: "cvb-group cvb-perf-cmpwith" },
      model.get("compare_with") ? h("span", { class: "cvb-muted", text: "compared with" }) : null, select,
      why ? h("span", { class: "cvb-muted cvb-perf-cmpwhy", text: why }) : null);
  }

  function renderCompare() {
    const other = model.get("compare_with");
    if (!other || !model.get("iteration")) { compare.style.display = "none"; cvbFill(compare); return; }
    compare.style.display = "";
    const c = model.get("comparison") || {};
    const ready = c.other_id === other && c.this_id === model.get("iteration");
    const name = ((model.get("compare_options") || []).find((o) => o.id === other) || {}).name || "";
    cvbFill(compare,
      h("div", { class: "cvb-card-title cvb-perf-cmphead" },
        h("span", null, `Compared with ${name}`),
        h("span", { class: "cvb-muted" }, " \u00b7 follows the threshold"), detection() ? h("span", { class: "cvb-muted" }, " and the overlap") : null,
        h("div", { class: "cvb-spacer" }),
        h("button", { class: "cvb-btn is-quiet is-small", dataset: { action: "compare-close" }, title: "Hide the comparison",
          on: { click: () => cvbSet(model, { compare_with: "" }) } }, "Hide")),
      ready
        ? cvbComparison(model, color, c, (id, ids) => detail.open("image", id, ids))
        : h("div", { class: "cvb-muted cvb-perf-wait", text: "Comparing\u2026" }));
  }

  function slider(name, label, hint) {
    const value = model.get(name);
    const out = h("span", { class: "cvb-slider-value", text: cvbPct(value, 0) });
    const input = h("input", {
      type: "range", min: "0", max: "1", step: "0.01", value: String(value), "aria-label": label,
      class: `cvb-range-${name}`,
      on: {
        input: (e) => {
          const v = Number(e.target.value);
          out.textContent = cvbPct(v, 0);
          sent.push([name, v, performance.now()]);
          if (sent.length > 200) sent.splice(0, sent.length - 200);
          cvbSet(model, { [name]: v });
        },
      },
    });
    return h("label", { class: "cvb-slider", title: hint, dataset: { slider: name } },
      h("span", { class: "cvb-label", text: label }), input, out);
  }

  const sliders = h("div", { class: "cvb-group cvb-perf-sliders" });
  const controlInfo = h("div", { class: "cvb-group cvb-perf-info" });
  controls.append(sliders, controlInfo);
  function renderSliders() {
    // built once per iteration: re-creating a range input while it is dragged would drop it
    cvbFill(sliders,
      slider("threshold", "Probability threshold", "Predictions at or above this probability count"),
      detection() ? slider("overlap", "Overlap threshold", "A predicted box is correct when its IoU with a true box reaches this") : null);
  }
  function setSlider(name, v) {
    sent.push([name, v, performance.now()]);
    cvbSet(model, { [name]: v });
  }
  function renderControls() {
    const m = model.get("metrics") || {};
    if (!model.get("iteration")) { controls.style.display = "none"; return; }
    controls.style.display = "";
    const sug = m.suggested;
    cvbFill(controlInfo,
      sug !== null && sug !== undefined
        ? h("button", { class: "cvb-btn is-quiet is-small cvb-suggested", title: "The threshold with the best F1 over all tags",
          on: { click: () => setSlider("threshold", sug) } },
        `Suggested threshold: ${cvbPct(sug, 0)}`)
        : null,
      h("span", { class: "cvb-muted cvb-perf-count" }, m.n_images !== undefined ? `${cvbPlural(m.n_images, "validation image")}` : ""),
    );
  }

  // -- numbers ------------------------------------------------------------------------------------
  function renderTiles() {
    const m = model.get("metrics") || {};
    if (!model.get("iteration")) {
      cvbFill(tiles, h("div", { class: "cvb-empty", style: { width: "100%" } },
        h("div", { class: "cvb-empty-title", text: "No iteration to evaluate yet" }),
        h("div", { text: `Train one ${cvbInWorkbench(model) ? "in the Train tab" : "with project.train() or TrainPanel(project)"}; its precision, recall and mAP show here.` })));
      return;
    }
    const iv = m.intervals || {};
    // how sure the number is: its 95% bootstrap interval over the validation images
    const sure = (name) => {
      const i = iv[name];
      if (!i || i.low === null || i.high === null) return null;
      return h("div", { class: "cvb-tile-interval", "data-interval": name,
        title: `95% of ${i.resamples} redraws of the ${i.n_images} validation images fall in ${cvbPct(i.low)}–${cvbPct(i.high)}: ` +
          "a wide interval means: measure on more images before trusting a small difference",
        text: `${cvbPct(i.low, 0)}–${cvbPct(i.high, 0)}` });
    };
    cvbFill(tiles,
      cvbTile("Precision", cvbPct(m.precision), "Of the predictions at or above the threshold, the share that is correct", sure("precision")),
      cvbTile("Recall", cvbPct(m.recall), "Of the true tags, the share found at the threshold", sure("recall")),
      cvbTile(detection() ? `mAP@${cvbPct(m.overlap, 0)}` : "mAP", cvbPct(m.map), "Mean over tags of the area under the precision/recall curve (does not depend on the threshold)", sure("map")),
      detection()
        ? cvbTile("mAP@[.5:.95]", cvbPct(m.coco_map), "COCO's mean AP over overlaps 0.5 to 0.95", null)
        : cvbTile("F1", cvbPct(m.f1), "Harmonic mean of precision and recall", sure("f1")),
      h("div", { class: "cvb-tile-note", text: `on ${m.n_images} validation images; ranges: 95% intervals` }),
    );
    tiles.dataset.precision = m.precision === null || m.precision === undefined ? "" : String(m.precision);
    tiles.dataset.recall = m.recall === null || m.recall === undefined ? "" : String(m.recall);
  }

  function renderTable() {
    const m = model.get("metrics") || {};
    const rows = m.per_tag || [];
    if (!model.get("iteration")) { table.style.display = "none"; return; }
    table.style.display = "";
    const colors = (model.get("pr_plot") || {}).colors || {};
    cvbFill(table,
      h("div", { class: "cvb-card-title" }, "Performance per tag"),
      h("div", { class: "cvb-table-wrap" },
        h("table", { class: "cvb-table" },
          h("thead", null, h("tr", null, h("th", null, "Tag"), h("th", { class: "is-num" }, "Precision"), h("th", { class: "is-num" }, "Recall"),
            h("th", { class: "is-num" }, "AP"), h("th", { class: "is-num" }, detection() ? "Boxes" : "Images"), h("th", { class: "is-num", title: "The threshold with the best F1 for this tag" }, "Suggested"))),
          h("tbody", null, rows.map((r) => h("tr", {
            class: r.in_map ? "" : "is-out", dataset: { tag: r.tag },
            on: { mouseenter: () => { hoverTag = r.tag; renderDots(); }, mouseleave: () => { hoverTag = null; renderDots(); } },
          },
          h("td", null, h("div", { class: "cvb-tagcell" },
            h("span", { class: "cvb-dot", style: { background: colors[r.tag] || "#c8c6c4" } }),
            h("span", { class: "cvb-tagname", text: r.tag }))),
          h("td", { class: "is-num", text: cvbPct(r.precision) }),
          h("td", { class: "is-num", text: cvbPct(r.recall) }),
          h("td", { class: "is-num", text: cvbPct(r.ap) }),
          h("td", { class: "is-num cvb-subtle", text: cvbFmt(r.n_true) }),
          h("td", { class: "is-num" }, r.suggested === null || r.suggested === undefined ? h("span", { class: "cvb-muted", text: "\u2014" })
            : h("button", { class: "cvb-linkbtn", title: "Use this threshold", on: { click: () => setSlider("threshold", r.suggested) } }, cvbPct(r.suggested, 0)))))))),
    );
  }

  // -- PR curves with live operating points ------------------------------------------------
  const prImg = h("img", { class: "cvb-perf-primg", alt: "Precision/recall curves per tag" });
  const dots = h("div", { class: "cvb-perf-dots" });
  const prFrame = h("div", { class: "cvb-perf-prframe" }, prImg, dots);
  function renderPr() {
    const p = model.get("pr_plot") || {};
    if (!model.get("iteration")) { pr.style.display = "none"; return; }
    pr.style.display = "";
    if (p.src && prImg.getAttribute("src") !== p.src) prImg.src = p.src;
    cvbFill(pr,
      h("div", { class: "cvb-card-title" }, "Precision / recall", h("span", { class: "cvb-muted" }, " \u00b7 dots: the threshold")),
      p.src ? prFrame : h("div", { class: "cvb-muted cvb-perf-wait", text: "Drawing\u2026" }));
    renderDots();
  }
  function renderDots() {
    const p = model.get("pr_plot") || {};
    const m = model.get("metrics") || {};
    if (!p.axes) { cvbFill(dots); return; }
    const [x0, y0, x1, y1] = p.axes;
    const [xa, xb] = p.xlim;
    const [ya, yb] = p.ylim;
    cvbFill(dots, (m.per_tag || []).filter((r) => r.recall !== null && p.colors && p.colors[r.tag]).map((r) => {
      const fx = x0 + ((r.recall - xa) / (xb - xa)) * (x1 - x0);
      const fy = 1 - (y0 + ((r.precision - ya) / (yb - ya)) * (y1 - y0));
      return h("span", {
        class: `cvb-opdot${hoverTag === r.tag ? " is-hover" : ""}${hoverTag && hoverTag !== r.tag ? " is-dim" : ""}`,
        title: `${r.tag}: precision ${cvbPct(r.precision)}, recall ${cvbPct(r.recall)}`,
        style: { left: `${(100 * fx).toFixed(2)}%`, top: `${(100 * fy).toFixed(2)}%`, background: p.colors[r.tag] },
      });
    }));
  }

  // -- confusion matrix ----------------------------------------------------------------------
  const cmImg = h("img", { class: "cvb-perf-cmimg", alt: "Confusion matrix" });
  function renderCm() {
    const src = model.get("cm_plot");
    if (detection() || !model.get("iteration")) { cm.style.display = "none"; return; }
    cm.style.display = "";
    if (src && cmImg.getAttribute("src") !== src) cmImg.src = src;
    const at = (model.get("plotted") || {}).threshold;
    cvbFill(cm,
      h("div", { class: "cvb-card-title" }, "Confusion matrix", h("span", { class: "cvb-muted" }, at === undefined ? "" : ` \u00b7 at threshold ${cvbPct(at, 0)}`)),
      src ? h("div", { class: "cvb-perf-cmframe" }, cmImg) : h("div", { class: "cvb-muted", text: "Drawing\u2026" }));
  }

  // -- calibration: do 90 % predictions come true 90 % of the time? -------------------------
  const calibImg = h("img", { class: "cvb-perf-calibimg", alt: "Reliability diagram" });
  function renderCalib() {
    const c = model.get("calibration") || {};
    if (detection() || !model.get("iteration")) { calib.style.display = "none"; return; }
    calib.style.display = "";
    if (c.src && calibImg.getAttribute("src") !== c.src) calibImg.src = c.src;
    const ece = c.ece === null || c.ece === undefined ? "n/a" : `${(100 * c.ece).toFixed(1)}%`;
    const scaled = c.temperature
      ? ` Training divided the model's logits by ${c.temperature.toFixed(2)}, fitted on these same validation images, so the diagram flatters it a little; the Train tab gives the error measured on held-out halves.`
      : "";
    cvbFill(calib,
      h("div", { class: "cvb-card-title" }, "Calibration", h("span", { class: "cvb-muted" }, c.src ? ` \u00b7 calibration error ${ece}` : "")),
      c.src
        ? h("div", { class: "cvb-perf-calibbody" }, calibImg,
          h("p", { class: "cvb-subtle" },
            "Of the predictions made at about 90 %, about 90 % should be right: the bars are how often they were, the diagonal is where they should be. ",
            `The calibration error is the average gap, over ${c.n} validation predictions.${scaled}`))
        : h("div", { class: "cvb-muted", text: "Drawing\u2026" }));
  }

  // -- the images it got wrong --------------------------------------------------------------
  function card(item) {
    const tags = model.get("tags") || [];
    const byId = new Map(tags.map((t) => [t.id, t]));
    const chips = (ids) => ids.map((id) => byId.has(id) ? cvbTagChip(byId.get(id), color(id)) : h("span", { class: "cvb-chip", text: id }));
    const retagged = !detection() && JSON.stringify([...item.current_tags].sort()) !== JSON.stringify([...item.true_tags].sort());
    const whyReq = { source: "image", id: item.image_id, iteration: model.get("iteration"), tag: item.predicted_tags[0] || "" };
    const whyOn = whyShown.has(item.image_id);
    const answer = whyOn ? why.known(whyReq) : null;
    if (whyOn && !answer) why.ask(whyReq, (a) => { if (a.error) whyShown.delete(item.image_id); renderWrong(); });
    const thumb = h("div", { class: `cvb-wthumb cvb-has-expand${whyOn ? " is-why" : ""}` },
      cvbBoxedImage(answer ? answer.src : item.src, item.width, item.height, item.boxes, { alt: item.name, labels: false }),
      h("button", {
        class: "cvb-expand", type: "button", title: "Show it large", "aria-label": `Show ${item.name} large`, dataset: { action: "detail" },
        on: { click: (e) => { e.stopPropagation(); detail.open("image", item.image_id, (model.get("mistakes") || []).map((m) => m.image_id)); } },
      }, "\u2922"));
    const picker = openCard === item.image_id && !detection()
      ? h("div", { class: "cvb-picker", on: { click: (e) => e.stopPropagation() } },
        h("div", { class: "cvb-picker-head" }, h("span", { class: "cvb-label", text: multilabel() ? "Tags of this image" : "Tag this image as" }),
          h("button", { class: "cvb-notice-close cvb-picker-close", title: "Close", on: { click: () => { openCard = null; renderWrong(); } } }, "\u00d7")),
        cvbTagPicker(tags, new Set(item.current_tags), multilabel(), (next) => {
          model.send({ type: "retag", image_id: item.image_id, tags: [...next] });
          if (!multilabel()) openCard = null;
        }, color))
      : null;
    return h("div", {
      class: `cvb-wcard${openCard === item.image_id ? " is-open" : ""}${retagged ? " is-retagged" : ""}`, tabindex: "0",
      dataset: { image: item.image_id }, title: detection() ? "Open in the box editor" : "Click to retag",
      on: {
        click: (e) => {
          e.stopPropagation();
          if (detection()) { model.send({ type: "open_image", image_id: item.image_id }); return; }
          openCard = openCard === item.image_id ? null : item.image_id;
          renderWrong();
        },
        keydown: (e) => { if (e.key === "Enter") e.currentTarget.click(); },
      },
    },
    thumb,
    h("div", { class: "cvb-wmeta" },
      detection()
        ? h("div", { class: "cvb-wdetail", text: item.detail })
        : [
          h("div", { class: "cvb-wrow" }, h("span", { class: "cvb-wkey", text: "Tagged" }), chips(item.true_tags)),
          h("div", { class: "cvb-wrow" }, h("span", { class: "cvb-wkey", text: "Predicted" }), item.predicted_tags.length ? chips(item.predicted_tags) : h("span", { class: "cvb-muted", text: "nothing" })),
          retagged ? h("div", { class: "cvb-wrow" }, h("span", { class: "cvb-badge is-ok", text: "Retagged" }), chips(item.current_tags)) : null,
        ],
      h("div", { class: "cvb-wrow cvb-why-row" },
        why.button(whyReq, whyOn, (next) => { if (next) whyShown.add(item.image_id); else whyShown.delete(item.image_id); renderWrong(); }),
        whyOn ? why.caption(answer) : null)),
    picker);
  }

  function renderWrong() {
    const items = model.get("mistakes") || [];
    if (!model.get("iteration")) { cvbFill(wrong); return; }
    const at = model.get("plotted") || {};
    cvbFill(wrong,
      h("div", { class: "cvb-section-head" },
        h("span", { class: "cvb-section-title" }, "Images it got wrong"),
        h("span", { class: "cvb-muted" }, at.threshold === undefined ? "" :
          `${items.length ? cvbPlural(items.length, "image") : "none"} at threshold ${cvbPct(at.threshold, 0)}${detection() ? `, overlap ${cvbPct(at.overlap, 0)}` : ""} \u00b7 ${detection() ? "click one to fix its boxes" : "click one to retag it"}`)),
      items.length
        ? h("div", { class: "cvb-wgrid" }, items.map(card))
        : h("div", { class: "cvb-muted cvb-perf-none", text: "No mistakes at this threshold." }),
      detection() && items.length
        ? h("div", { class: "cvb-hints cvb-perf-legend" },
          h("span", null, h("i", { class: "cvb-swatch", style: { borderColor: "#107c10" } }), "correct"),
          h("span", null, h("i", { class: "cvb-swatch", style: { borderColor: "#d13438" } }), "false positive"),
          h("span", null, h("i", { class: "cvb-swatch is-dashed", style: { borderColor: "#ff8c00" } }), "missed"))
        : null);
  }

  // -- the round trip of a slider move ------------------------------------------------------
  function measure() {
    const m = model.get("metrics") || {};
    const now = performance.now();
    for (let i = sent.length - 1; i >= 0; i--) {
      const [name, v, at] = sent[i];
      if (Math.abs((m[name] ?? NaN) - v) < 1e-9) {
        root.dataset.rttMs = (now - at).toFixed(1);
        sent.splice(0, i + 1);
        break;
      }
    }
  }

  on("change:metrics", () => { measure(); renderTiles(); renderTable(); renderDots(); renderControls(); root.classList.remove("is-loading"); });
  on("change:pr_plot", () => { renderPr(); renderTable(); });
  on("change:cm_plot change:plotted", () => { renderCm(); renderWrong(); });
  on("change:calibration", renderCalib);
  on("change:mistakes change:tags", renderWrong);
  on("change:iterations change:iteration change:host", () => { renderHeader(); renderSliders(); renderControls(); renderTiles(); renderTable(); renderPr(); renderCompare(); renderCm(); renderCalib(); renderWrong(); });
  on("change:compare_options change:compare_with", () => { renderHeader(); renderCompare(); });
  on("change:comparison change:tags", renderCompare);
  on("change:threshold change:overlap", () => {
    for (const name of ["threshold", "overlap"]) {
      const label = sliders.querySelector(`[data-slider="${name}"]`);
      if (!label) continue;
      const input = label.querySelector("input");
      if (document.activeElement !== input) input.value = String(model.get(name));
      label.querySelector(".cvb-slider-value").textContent = cvbPct(model.get(name), 0);
    }
  });
  root.addEventListener("click", () => { if (openCard) { openCard = null; renderWrong(); } });
  root.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && openCard) { openCard = null; renderWrong(); e.stopPropagation(); }
  });

  renderHeader();
  renderSliders();
  renderControls();
  renderTiles();
  renderTable();
  renderPr();
  renderCompare();
  renderCm();
  renderCalib();
  renderWrong();
  return () => { detail.dispose(); on.dispose(); };
}

export default { render };
