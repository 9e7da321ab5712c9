// The image detail view, one module for every widget that shows it (Gallery, Predictions,
// Performance): one image large with its tags or boxes, its split, and what each iteration
// predicted for it, with previous / next (the arrow keys) through the widget's list. Python
// answers each request by setting the widget's `detail` trait (cvbench/ui/_detail.py).

import {
  h, cvbBoxedImage, cvbFill, cvbFmt, cvbProbBar, cvbTagChip, cvbTagKbd, cvbWhen, kbd
} from "./common.js";

/** Predicted boxes at or above this probability are drawn on the image (detection). */
const CVB_DETAIL_BOX_AT = 0.5;
/** Predictions listed per iteration (classification). */
const CVB_DETAIL_TOP = 5;

const CVB_ROLES = {
  validation: "validation image: stored prediction",
  train: "learnt from this image (training split): no prediction is stored",
  absent: "not in this iteration (added after it was trained)",
  stored: "stored prediction",
};

/**
 * The detail view of a widget: ``const detail = cvbDetail(model, root, color)`` puts its
 * (hidden) dialog in ``root``; ``detail.open(source, id, ids)`` shows ``id`` ("image" or
 * "prediction" for a stored prediction) and lets the person move through ``ids``.
 * ``detail.dispose()`` removes its listeners.
 */
export function cvbDetail(model, root, color) {
  let list = [];
  let index = -1;
  let source = "image";
  let opener = null; // the element that had the focus, given it back on close
  let shownIteration = null; // detection: the iteration whose boxes are drawn

  const dialog = h("div", {
    class: "cvb-detail-panel", role: "dialog", "aria-modal": "true", "aria-label": "Image detail", tabindex: "-1",
  });
  const overlay = h("div", { class: "cvb-detail", hidden: true }, dialog);
  root.append(overlay);

  const current = () => list[index];
  const isOpen = () => !overlay.hidden;

  function request() {
    shownIteration = null;
    dialog.classList.add("is-loading");
    renderFrame();
    model.send({ type: "detail", source, id: current() });
    // shown before: drawn now (an answer that changes nothing sends no change)
    if ((model.get("detail") || {}).id === current()) render();
  }
  function open(src, id, ids) {
    source = src;
    list = ids && ids.includes(id) ? [...ids] : [id];
    index = list.indexOf(id);
    if (!isOpen()) opener = document.activeElement;
    overlay.hidden = false;
    root.classList.add("has-detail");
    request();
    dialog.focus({ preventScroll: true });
  }
  function close() {
    if (!isOpen()) return;
    overlay.hidden = true;
    root.classList.remove("has-detail");
    cvbFill(dialog);
    (opener && opener.isConnected ? opener : root).focus({ preventScroll: true });
  }
  function go(delta) {
    const next = index + delta;
    if (next < 0 || next >= list.length) return;
    index = next;
    request();
  }

  const tagById = () => new Map((model.get("tags") || []).map((t) => [t.id, t]));

  /** The header and footer, drawn at once (the picture follows from Python). */
  function renderFrame(body) {
    const d = model.get("detail") || {};
    const ready = d.id === current();
    cvbFill(dialog,
      h("div", { class: "cvb-detail-head" },
        h("div", { class: "cvb-detail-title", text: ready ? (d.name || cvbWhen(d.created)) : "Loading\u2026" }),
        list.length > 1 ? h("span", { class: "cvb-detail-pos", text: `${cvbFmt(index + 1)} of ${cvbFmt(list.length)}` }) : null,
        h("div", { class: "cvb-spacer" }),
        h("button", { class: "cvb-notice-close cvb-detail-close", type: "button", title: "Close (Esc)", "aria-label": "Close", dataset: { action: "close-detail" }, on: { click: close } }, "\u00d7")),
      body || h("div", { class: "cvb-detail-body" }, h("div", { class: "cvb-detail-stage" }), h("div", { class: "cvb-detail-side" })),
      h("div", { class: "cvb-detail-foot" },
        h("button", { class: "cvb-btn is-small", type: "button", disabled: index <= 0, dataset: { action: "detail-prev" }, on: { click: () => go(-1) } }, "\u2039 Previous"),
        h("button", { class: "cvb-btn is-small", type: "button", disabled: index >= list.length - 1, dataset: { action: "detail-next" }, on: { click: () => go(1) } }, "Next \u203a"),
        h("div", { class: "cvb-spacer" }),
        h("div", { class: "cvb-hints" }, h("span", null, kbd("\u2190"), kbd("\u2192"), "previous / next"), h("span", null, kbd("Esc"), "close"))));
  }

  function render() {
    const d = model.get("detail") || {};
    if (!isOpen() || d.id !== current()) return;
    dialog.classList.remove("is-loading");
    const byId = tagById();
    const detection = model.get("kind") === "detection";
    const its = d.iterations || [];
    if (detection && shownIteration === null) {
      const first = its.find((it) => it.predictions.length);
      shownIteration = first ? first.id : "";
    }
    const name = (id, fallback) => (byId.get(id) || {}).name || fallback || "?";
    const boxes = (d.regions || []).map((r) => ({ ...r, color: color(r.tag), label: name(r.tag) }));
    const shown = its.find((it) => it.id === shownIteration);
    if (detection && shown) {
      for (const p of shown.predictions) {
        if (p.box && p.probability >= CVB_DETAIL_BOX_AT) {
          boxes.push({ ...p.box, color: color(p.tag), dashed: true, label: `${name(p.tag, p.name)} ${Math.round(100 * p.probability)}%` });
        }
      }
    }
    const stage = h("div", { class: "cvb-detail-stage" },
      cvbBoxedImage(d.src, d.width, d.height, boxes, { alt: d.name || "", class: "cvb-detail-img" }));
    const truth = new Set(d.tags || []);
    const chips = (d.tags || []).map((id) => byId.has(id) ? cvbTagChip(byId.get(id), color(id), cvbTagKbd(byId.get(id))) : null);
    const facts = h("dl", { class: "cvb-detail-facts" },
      h("dt", null, "Size"), h("dd", { text: `${d.width}\u00d7${d.height} px` }),
      d.source === "image" ? [h("dt", null, "Split"), h("dd", null, d.split ? h("span", { class: `cvb-badge cvb-detail-split${d.split === "validation" ? " is-warn" : ""}`, text: d.split }) : h("span", { class: "cvb-muted", text: "none yet" }))] : null,
      d.source === "image"
        ? [h("dt", null, detection ? "Boxes" : "Tags"), h("dd", { class: "cvb-detail-tags" },
          detection
            ? (d.regions || []).length ? cvbFmt(d.regions.length) : h("span", { class: "cvb-muted", text: "no box" })
            : chips.length ? chips : h("span", { class: "cvb-muted", text: "untagged" }))]
        : [h("dt", null, "Added"), h("dd", { text: cvbWhen(d.created) })]);
    const itBlocks = its.length
      ? its.map((it) => {
        const preds = detection ? it.predictions.filter((p) => p.probability >= CVB_DETAIL_BOX_AT) : it.predictions.slice(0, CVB_DETAIL_TOP);
        const selectable = detection && it.predictions.length;
        return h("div", {
          class: `cvb-detail-it${selectable && it.id === shownIteration ? " is-shown" : ""}`, dataset: { iteration: it.id, role: it.role },
          on: selectable ? { click: () => { shownIteration = it.id; render(); } } : undefined,
          title: selectable ? "Draw this iteration's boxes on the image" : null,
        },
        h("div", { class: "cvb-detail-it-head" },
          h("b", { text: it.name }),
          it.published_name ? h("span", { class: "cvb-badge is-ok", text: it.published_name }) : null,
          h("span", { class: "cvb-muted", text: CVB_ROLES[it.role] || it.role })),
        it.predictions.length
          ? detection
            ? h("div", { class: "cvb-subtle", text: `${cvbFmt(preds.length)} box${preds.length === 1 ? "" : "es"} at or above ${Math.round(100 * CVB_DETAIL_BOX_AT)}%${it.id === shownIteration ? " \u00b7 drawn dashed" : " \u00b7 click to draw them"}` })
            : h("div", { class: "cvb-detail-preds" }, preds.map((p) => h("div", { class: `cvb-detail-pred${truth.has(p.tag) ? " is-true" : ""}` },
              h("span", { class: "cvb-detail-pred-name", title: truth.has(p.tag) ? "A tag of this image" : null, text: `${truth.has(p.tag) ? "\u2713 " : ""}${name(p.tag, p.name)}` }),
              cvbProbBar(p.probability, color(p.tag)))))
          : null);
      })
      : [h("div", { class: "cvb-muted", text: "No iteration yet: train one to see its predictions here." })];
    const side = h("div", { class: "cvb-detail-side" }, facts,
      h("div", { class: "cvb-label" }, d.source === "image" ? "Predictions per iteration" : "Prediction"), itBlocks);
    renderFrame(h("div", { class: "cvb-detail-body" }, stage, side));
  }

  overlay.addEventListener("click", (e) => { if (e.target === overlay) close(); });
  // the dialog's keys stay in it: the widget's own shortcuts (arrows, tag keys) stay quiet
  overlay.addEventListener("keydown", (e) => {
    if (e.ctrlKey || e.metaKey || e.altKey) return;
    if (e.key === "Escape") close();
    else if (e.key === "ArrowLeft" || e.key === "ArrowUp") go(-1);
    else if (e.key === "ArrowRight" || e.key === "ArrowDown") go(1);
    else if (e.key === "Tab") { e.stopPropagation(); return; }
    else { e.stopPropagation(); return; }
    e.preventDefault();
    e.stopPropagation();
  });
  const onDetail = () => render();
  // a request Python refused (the image was deleted meanwhile): its message, in the dialog
  const onNotice = () => {
    const n = model.get("notice") || {};
    if (!isOpen() || !dialog.classList.contains("is-loading") || n.level !== "error") return;
    dialog.classList.remove("is-loading");
    renderFrame(h("div", { class: "cvb-detail-body is-error" }, h("div", { class: "cvb-detail-error", role: "alert", text: n.text })));
  };
  model.on("change:detail", onDetail);
  model.on("change:notice", onNotice);
  return {
    open, close, isOpen, el: overlay,
    dispose: () => { model.off("change:detail", onDetail); model.off("change:notice", onNotice); },
  };
}
