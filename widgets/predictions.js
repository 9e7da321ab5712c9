// Predictions: stored predictions and the smart labeler. Each card shows an image with the
// tags (boxes) the model suggests, preselected; the person corrects them here, in the
// browser, and one click sends the confirmed tags to Python (cvbench/ui/predictions.py).
// "Why?" on a card shows the heatmap of its top prediction (widgets/saliency.js).

import {
  h, cvbBoxedImage, cvbFill, cvbFmt, cvbIcon, cvbInWorkbench, cvbIterationSelect, cvbMount, cvbNotice, cvbPct,
  cvbPlural, cvbProbBar, cvbSelect, cvbSet, cvbTagPicker, cvbWhen
} from "./common.js";
import { cvbDetail } from "./image_detail.js";
import { cvbWhy } from "./saliency.js";

function render({ model, el }) {
  const { on, root, color } = cvbMount(model, el, "predictions");
  const detection = () => model.get("kind") === "detection";
  const multilabel = () => model.get("kind") === "multilabel";
  const stored = () => model.get("view") === "stored";
  const choices = new Map(); // card id -> {key, tags: Set, boxes: [{...box, keep}]}
  const why = cvbWhy(model, on);
  const whyShown = new Set(); // card ids whose heatmap is shown

  const header = h("div", { class: "cvb-header" });
  const toolbar = h("div", { class: "cvb-toolbar" });
  const grid = h("div", { class: "cvb-pr-gridwrap" });
  root.append(header, toolbar, grid, cvbNotice(model, on));
  const detail = cvbDetail(model, root, color);
  const openDetail = (item) => detail.open(stored() ? "prediction" : "image", item.id, (model.get("items") || []).map((it) => it.id));

  function choiceOf(item) {
    const key = JSON.stringify([item.suggested_tags, item.suggested_regions]);
    let c = choices.get(item.id);
    if (!c || c.key !== key) {
      c = { key, tags: new Set(item.suggested_tags), boxes: item.suggested_regions.map((b) => ({ ...b, keep: true })) };
      choices.set(item.id, c);
    }
    return c;
  }
  function labelOf(item) {
    const c = choiceOf(item);
    return {
      id: item.id,
      tags: detection() ? [] : [...c.tags],
      regions: detection() ? c.boxes.filter((b) => b.keep).map((b) => ({ tag: b.tag, left: b.left, top: b.top, width: b.width, height: b.height })) : [],
    };
  }
  const ready = (item) => detection() || choiceOf(item).tags.size > 0;
  function send(items) {
    const labels = items.filter(ready).map(labelOf);
    if (!labels.length) {
      model.set("notice", { level: "error", text: "Choose a tag for the image first.", id: Date.now() });
      return;
    }
    root.classList.add("is-loading");
    model.send({ type: stored() ? "add_predictions" : "confirm_suggestions", items: labels });
  }

  function renderHeader() {
    const counts = model.get("counts") || {};
    const seg = (value, label, n) => h("button", {
      class: model.get("view") === value ? "is-active" : "", dataset: { view: value },
      on: { click: () => { if (model.get("view") !== value) { root.classList.add("is-loading"); cvbSet(model, { view: value }); } } },
    }, label, h("span", { class: "cvb-count", text: n === undefined ? "" : cvbFmt(n) }));
    cvbFill(header,
      h("div", { class: "cvb-title" }, "Predictions"),
      h("div", { class: "cvb-seg" },
        seg("stored", "Stored predictions", counts.stored),
        seg("suggested", "Smart labeler \u00b7 untagged", counts.suggested)),
      h("div", { class: "cvb-spacer" }),
      h("button", { class: "cvb-btn is-quiet", title: "Read the project again", on: { click: () => { root.classList.add("is-loading"); model.send({ type: "refresh" }); } } }, cvbIcon("refresh"), "Refresh"),
    );
  }

  function renderToolbar() {
    const items = model.get("items") || [];
    const total = model.get("total");
    const page = model.get("page");
    const size = model.get("page_size");
    const its = model.get("iterations") || [];
    const thr = model.get("threshold");
    const out = h("span", { class: "cvb-slider-value", text: cvbPct(thr, 0) });
    const showThreshold = detection() || multilabel();
    const n = items.filter(ready).length;
    // the toolbar is drawn again after each move: the new slider takes the focus back, so the
    // next arrow key moves it too
    const sliding = document.activeElement && document.activeElement.matches(".cvb-pr-threshold");
    cvbFill(toolbar,
      !stored() && its.length
        ? h("label", { class: "cvb-field" }, h("span", { class: "cvb-label" }, "Suggested by"),
          cvbIterationSelect(model, (v) => { root.classList.add("is-loading"); cvbSet(model, { iteration: v }); }))
        : null,
      showThreshold
        ? h("label", { class: "cvb-slider", title: detection() ? "Boxes at or above this probability are suggested" : "Tags at or above this probability are suggested" },
          h("span", { class: "cvb-label" }, "Suggest at or above"),
          h("input", { type: "range", min: "0.05", max: "0.95", step: "0.05", value: String(thr), "aria-label": "Suggestion threshold", class: "cvb-pr-threshold",
            on: { input: (e) => { out.textContent = cvbPct(Number(e.target.value), 0); }, change: (e) => cvbSet(model, { threshold: Number(e.target.value) }) } }),
          out)
        : h("span", { class: "cvb-subtle" }, stored() ? "Most uncertain first: the images that teach the model most." : "Most uncertain first. The suggested tag is preselected."),
      h("div", { class: "cvb-spacer" }),
      total > size
        ? h("div", { class: "cvb-group cvb-pager" },
          h("span", { class: "cvb-subtle" }, `${cvbFmt(page * size + 1)}\u2013${cvbFmt(Math.min(total, (page + 1) * size))} of ${cvbFmt(total)}`),
          h("button", { class: "cvb-btn is-icon", title: "Previous page", disabled: page <= 0, on: { click: () => cvbSet(model, { page: page - 1 }) } }, "\u2039"),
          h("button", { class: "cvb-btn is-icon", title: "Next page", disabled: (page + 1) * size >= total, on: { click: () => cvbSet(model, { page: page + 1 }) } }, "\u203a"))
        : null,
      items.length
        ? h("button", { class: "cvb-btn is-primary", dataset: { action: "all" }, disabled: !n, on: { click: () => send(items) } },
          stored() ? `Add ${cvbPlural(n, "image")} to training` : `Confirm ${cvbPlural(n, "image")}`)
        : null,
    );
    if (sliding) toolbar.querySelector(".cvb-pr-threshold")?.focus({ preventScroll: true });
  }

  function boxRows(item, c) {
    const tags = model.get("tags") || [];
    return h("div", { class: "cvb-pr-boxes" },
      c.boxes.length ? c.boxes.map((b, i) => h("div", { class: `cvb-pr-boxrow${b.keep ? "" : " is-dropped"}` },
        h("input", { type: "checkbox", checked: b.keep, title: b.keep ? "Drop this box" : "Keep this box",
          on: { change: (e) => { b.keep = e.target.checked; renderGrid(); } } }),
        h("span", { class: "cvb-dot", style: { "--tag": color(b.tag) } }),
        cvbSelect(tags.map((t) => ({ value: t.id, label: t.name })), b.tag, (v) => { b.tag = v; renderGrid(); }, { class: "cvb-select cvb-pr-boxtag", "aria-label": `Tag of box ${i + 1}` }),
        h("span", { class: "cvb-muted", text: cvbPct(b.probability, 0) })))
        : h("div", { class: "cvb-muted", text: "No box at or above the threshold: confirming saves it with no box." }));
  }

  function card(item) {
    const c = choiceOf(item);
    const tags = model.get("tags") || [];
    const boxes = detection() ? c.boxes.filter((b) => b.keep).map((b) => ({ ...b, color: color(b.tag) })) : [];
    const top = item.predictions.slice(0, 3);
    // a stored prediction is explained by the iteration that made it, an untagged image by
    // the one that suggests its tags
    const whyReq = { source: stored() ? "prediction" : "image", id: item.id, iteration: stored() ? "" : model.get("iteration"), tag: (item.predictions[0] || {}).tag || "" };
    const whyOn = whyShown.has(item.id);
    const answer = whyOn ? why.known(whyReq) : null;
    if (whyOn && !answer) why.ask(whyReq, (a) => { if (a.error) whyShown.delete(item.id); renderGrid(); });
    return h("div", { class: "cvb-pr-card", dataset: { id: item.id } },
      h("div", { class: `cvb-pr-thumb cvb-has-expand${whyOn ? " is-why" : ""}`, title: "Show it large", on: { click: () => openDetail(item) } },
        item.src ? cvbBoxedImage(answer ? answer.src : item.src, item.width, item.height, boxes, { alt: item.name, labels: false }) : null,
        h("button", { class: "cvb-expand", type: "button", title: "Show it large", "aria-label": "Show it large", dataset: { action: "detail" },
          on: { click: (e) => { e.stopPropagation(); openDetail(item); } } }, "\u2922")),
      h("div", { class: "cvb-pr-meta" },
        h("div", { class: "cvb-pr-name", title: item.name || item.created, text: item.name || cvbWhen(item.created) }),
        h("span", { class: `cvb-badge${item.uncertainty > 0.5 ? " is-warn" : ""}`, title: "How unsure the model is (0: sure, 1: a coin flip)" }, `uncertainty ${item.uncertainty.toFixed(2)}`)),
      whyOn ? why.caption(answer) : null,
      detection() ? null : h("div", { class: "cvb-pr-top" }, top.map((p) => h("div", { class: "cvb-pr-toprow" },
        h("span", { class: "cvb-pr-topname", text: p.name }), cvbProbBar(p.probability, color(p.tag))))),
      detection()
        ? boxRows(item, c)
        : cvbTagPicker(tags, c.tags, multilabel(), (next) => { c.tags = next; renderGrid(); renderToolbar(); }, color),
      h("div", { class: "cvb-pr-actions" },
        h("button", { class: "cvb-btn is-small is-primary", dataset: { action: stored() ? "add" : "confirm" }, disabled: !ready(item), on: { click: () => send([item]) } },
          stored() ? "\u2713 Add to training" : "\u2713 Confirm"),
        item.predictions.length ? why.button(whyReq, whyOn, (next) => { if (next) whyShown.add(item.id); else whyShown.delete(item.id); renderGrid(); }) : null,
        !stored() && detection() ? h("button", { class: "cvb-btn is-small", dataset: { action: "edit-boxes" }, title: "Draw the boxes the model missed, in the box editor",
          on: { click: () => model.send({ type: "edit_boxes", image_id: item.id, suggestions: c.boxes.filter((b) => b.keep).map((b) => ({ tag: b.tag, left: b.left, top: b.top, width: b.width, height: b.height, probability: b.probability })) }) } }, "Edit boxes") : null,
        stored() ? h("button", { class: "cvb-btn is-small is-quiet is-danger", dataset: { action: "delete" }, on: { click: () => { root.classList.add("is-loading"); model.send({ type: "delete_predictions", ids: [item.id] }); } } }, "Delete") : null));
  }

  function renderGrid() {
    const items = model.get("items") || [];
    root.classList.remove("is-loading");
    if (!items.length) {
      const counts = model.get("counts") || {};
      const title = stored() ? "No stored predictions" : !model.get("iteration") ? "Train an iteration to get suggestions" : counts.suggested ? "No suggestions" : "Every image is tagged";
      const text = stored()
        ? "Test images in Quick test with \u201cSave to Predictions\u201d on, or predict with store=True; they show here, most uncertain first."
        : `Upload untagged images ${cvbInWorkbench(model) ? "in the Images tab" : "with Uploader(project) or project.add_images(...)"}: the smart labeler suggests their tags here.`;
      cvbFill(grid, h("div", { class: "cvb-empty" }, h("div", { class: "cvb-empty-title", text: title }), h("div", { text })));
      return;
    }
    cvbFill(grid, h("div", { class: "cvb-pr-grid cvb-loading-target" }, items.map(card)));
  }

  on("change:items", () => { renderGrid(); renderToolbar(); });
  on("change:counts change:view", () => { renderHeader(); renderToolbar(); });
  on("change:iterations change:iteration change:threshold change:total change:page", renderToolbar);
  on("change:tags change:host", renderGrid);
  // every read ends here, also one that changed nothing (a Refresh of the same page)
  on("change:notice change:loaded", () => root.classList.remove("is-loading"));

  renderHeader();
  renderToolbar();
  renderGrid();
  return () => { detail.dispose(); on.dispose(); };
}

export default { render };
