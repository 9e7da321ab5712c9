// BoxEditor: draw, move, resize and tag boxes; zoom and pan (cvbench/ui/box_editor.py).
// Boxes are normalized left, top, width, height in [0, 1] of the displayed image. Every
// finished edit is sent as a "set_boxes" message and saved by Python; the model's `boxes`
// (as stored) replace the local ones once Python has acknowledged the latest edit.

import {
  h, cvbFill, cvbFmt, cvbIcon, cvbKeyHint, cvbKeys, cvbMount, cvbNewTag, cvbNotice, cvbSelect, cvbSet,
  cvbShowOptions, cvbTagKbd, cvbTagOfKey, kbd
} from "./common.js";

const CVB_HANDLES = ["nw", "n", "ne", "e", "se", "s", "sw", "w"];
const CVB_MIN_PX = 4; // a drag smaller than this on screen is a click, not a box

function render({ model, el }) {
  const { on, root, color } = cvbMount(model, el, "boxeditor");

  // -- state ------------------------------------------------------------------------------
  let boxes = clone(model.get("boxes"));
  let edit = model.get("acked_edit"); // number of the last edit sent
  let sel = null; // {kind: "box" | "sugg", index}
  let drag = null;
  let mode = "draw"; // or "pan"
  let spaceHeld = false;
  let saveError = false;
  const view = { z: 1, tx: 0, ty: 0, bw: 0, bh: 0 };

  const tags = () => model.get("tags") || [];
  const tagById = () => new Map(tags().map((t) => [t.id, t]));
  const image = () => model.get("image") || {};
  const suggestions = () => model.get("suggestions") || [];

  function clone(list) {
    return (list || []).map((b) => ({ tag: b.tag, left: b.left, top: b.top, width: b.width, height: b.height }));
  }
  const clamp = (v, lo, hi) => Math.min(hi, Math.max(lo, v));

  // -- layout -------------------------------------------------------------------------------
  const header = h("div", { class: "cvb-header" });
  const toolbar = h("div", { class: "cvb-toolbar" });
  const img = h("img", { class: "cvb-be-img", alt: "", draggable: "false" });
  const layer = h("div", { class: "cvb-layer" });
  const stage = h("div", { class: "cvb-stage" }, img, layer);
  const empty = h("div", { class: "cvb-empty cvb-be-empty" });
  const viewport = h("div", { class: "cvb-viewport cvb-loading-target", dataset: { mode } }, stage, empty);
  const side = h("div", { class: "cvb-side" });
  const body = h("div", { class: "cvb-body" }, viewport, side);
  const footer = h("div", { class: "cvb-footer" });
  root.append(header, toolbar, body, footer, cvbNotice(model, on));

  // -- view: fit, zoom, pan ---------------------------------------------------------------------
  function applyView() {
    stage.style.width = `${view.bw}px`;
    stage.style.height = `${view.bh}px`;
    stage.style.transform = `translate(${view.tx}px, ${view.ty}px) scale(${view.z})`;
    stage.style.setProperty("--z", String(view.z));
    const label = toolbar.querySelector(".cvb-zoom");
    if (label) label.textContent = zoomText();
  }
  /** The zoom as the person reads it: screen pixels per pixel of the image (100%: one to one). */
  function zoomText() {
    const w = image().width;
    return w && view.bw ? `${Math.round((100 * view.bw * view.z) / w)}%` : "\u2014";
  }
  function fit() {
    const im = image();
    const vw = viewport.clientWidth;
    const vh = viewport.clientHeight;
    if (!im.id || !vw || !vh) return;
    const ar = (im.width || 1) / (im.height || 1);
    const pad = 20;
    view.bw = Math.max(1, Math.min(vw - 2 * pad, (vh - 2 * pad) * ar));
    view.bh = view.bw / ar;
    view.z = 1;
    view.tx = (vw - view.bw) / 2;
    view.ty = (vh - view.bh) / 2;
    applyView();
  }
  function zoomAt(clientX, clientY, factor) {
    const r = viewport.getBoundingClientRect();
    const px = clientX - r.left;
    const py = clientY - r.top;
    const z = clamp(view.z * factor, 0.5, 40);
    view.tx = px - ((px - view.tx) * z) / view.z;
    view.ty = py - ((py - view.ty) * z) / view.z;
    view.z = z;
    applyView();
  }
  function zoomCenter(factor) {
    const r = viewport.getBoundingClientRect();
    zoomAt(r.left + r.width / 2, r.top + r.height / 2, factor);
  }
  new ResizeObserver(() => fit()).observe(viewport);

  // -- pointer -> normalized image coordinates --------------------------------------------------
  function norm(e) {
    const r = img.getBoundingClientRect();
    return { x: (e.clientX - r.left) / r.width, y: (e.clientY - r.top) / r.height };
  }
  function screenSize(b) {
    const r = img.getBoundingClientRect();
    return { w: b.width * r.width, h: b.height * r.height };
  }

  // -- edits -------------------------------------------------------------------------------------
  function commit() {
    const im = image();
    if (!im.id) return;
    edit += 1;
    saveError = false;
    model.send({ type: "set_boxes", image_id: im.id, boxes: clone(boxes), edit });
    renderStatus();
    renderSide();
  }
  function adopt(force) {
    if (!force && (drag || model.get("acked_edit") < edit)) return;
    boxes = clone(model.get("boxes"));
    if (sel && sel.kind === "box" && sel.index >= boxes.length) sel = null;
    if (sel && sel.kind === "sugg" && sel.index >= suggestions().length) sel = null;
    renderLayer();
    renderSide();
  }
  function deleteSelected() {
    if (!sel) return;
    if (sel.kind === "box") {
      boxes.splice(sel.index, 1);
      sel = null;
      commit();
      renderLayer();
    } else {
      model.send({ type: "reject_suggestion", index: sel.index });
      sel = null;
    }
  }
  function setCurrentTag(tagId) {
    cvbSet(model, { current_tag: tagId });
    if (sel && sel.kind === "box" && boxes[sel.index] && boxes[sel.index].tag !== tagId) {
      boxes[sel.index].tag = tagId;
      commit();
      renderLayer();
    }
  }
  function go(position) {
    const total = model.get("total");
    const p = clamp(position, 0, Math.max(0, total - 1));
    if (drag || p === model.get("position")) return;
    viewport.classList.add("is-switching");
    root.classList.add("is-loading");
    cvbSet(model, { position: p });
  }

  // -- rendering -----------------------------------------------------------------------------------
  function boxEl(b, i, kind, extraClass, label) {
    const boxColor = color(b.tag);
    const selected = sel && sel.kind === kind && sel.index === i;
    const node = h("div", {
      class: `cvb-box${extraClass}${selected ? " is-selected" : ""}`,
      dataset: { kind, index: String(i) },
      style: { left: `${b.left * 100}%`, top: `${b.top * 100}%`, width: `${b.width * 100}%`, height: `${b.height * 100}%`, "--c": boxColor },
    }, h("div", { class: "cvb-box-label", text: label }));
    if (selected && kind === "box") for (const hd of CVB_HANDLES) node.append(h("div", { class: `cvb-handle is-${hd}`, dataset: { handle: hd } }));
    return node;
  }
  function renderLayer() {
    const byId = tagById();
    const nodes = [];
    suggestions().forEach((s, i) => {
      const t = byId.get(s.tag);
      nodes.push(boxEl(s, i, "sugg", " is-suggestion", `${t ? t.name : "?"} ${Math.round(s.probability * 100)}%`));
    });
    boxes.forEach((b, i) => {
      const t = byId.get(b.tag);
      nodes.push(boxEl(b, i, "box", "", t ? t.name : "unknown tag"));
    });
    if (drag && drag.type === "draw" && drag.box) {
      nodes.push(boxEl({ ...drag.box, tag: model.get("current_tag") || "" }, -1, "draft", " is-drawing", ""));
    }
    cvbFill(layer, ...nodes);
  }

  function renderHeader() {
    const im = image();
    const total = model.get("total");
    const position = model.get("position");
    cvbFill(header,
      h("div", { class: "cvb-title" }, "Draw boxes"),
      cvbSelect(cvbShowOptions(model, { untagged: "Images without boxes" }), model.get("show"),
        (v) => cvbSet(model, { show: v }), { "aria-label": "Images to go through" }),
      h("div", { class: "cvb-group cvb-nav" },
        h("button", { class: "cvb-btn is-icon", title: "Previous image (p or \u2190)", disabled: position <= 0, dataset: { action: "prev" }, on: { click: () => go(position - 1) } }, "\u2039"),
        h("span", { class: "cvb-counter" }, total ? `Image ${cvbFmt(position + 1)} of ${cvbFmt(total)}` : "No images"),
        h("button", { class: "cvb-btn is-icon", title: "Next image (n or \u2192)", disabled: position >= total - 1, dataset: { action: "next" }, on: { click: () => go(position + 1) } }, "\u203a")),
      im.id ? h("span", { class: "cvb-imgname", title: im.name }, im.name, h("span", { class: "cvb-muted" }, ` \u00b7 ${im.width}\u00d7${im.height}`)) : null,
      h("div", { class: "cvb-spacer" }),
      h("span", { class: "cvb-savestate" }),
      h("button", { class: "cvb-btn", title: "Save now (Ctrl+S); every edit is also saved at once", dataset: { action: "save" }, on: { click: () => { model.send({ type: "save" }); root.focus(); } } }, "Save"),
    );
    renderStatus();
  }

  function renderStatus() {
    const node = header.querySelector(".cvb-savestate");
    if (!node) return;
    const pending = model.get("acked_edit") < edit;
    node.className = `cvb-savestate ${saveError ? "is-error" : pending ? "is-saving" : "is-saved"}`;
    node.textContent = saveError ? "Not saved \u2014 see the message" : pending ? "Saving\u2026" : "All changes saved";
  }

  const newTag = cvbNewTag({
    redraw: () => renderToolbar(), root,
    create: (name) => model.send({ type: "create_tag", name, ids: [] }),
  });

  function renderToolbar() {
    const list = tags();
    const current = model.get("current_tag");
    const tagSelect = list.length
      ? cvbSelect(list.map((t) => ({ value: t.id, label: t.name })), current, (v) => { setCurrentTag(v); root.focus(); },
        { "aria-label": "Tag of new boxes", class: "cvb-select cvb-tagselect" })
      : h("span", { class: "cvb-muted", text: "No tags yet" });
    cvbFill(toolbar,
      h("span", { class: "cvb-label" }, "Tag"),
      tagSelect,
      h("div", { class: "cvb-group cvb-tagkeys" }, list.filter((t) => t.key).map((t) =>
        h("button", {
          class: `cvb-tagbtn is-small${t.id === current ? " is-active" : ""}`, style: { "--tag": color(t.id) },
          title: t.name + cvbKeyHint(t), dataset: { tag: t.id }, on: { click: () => { setCurrentTag(t.id); root.focus(); } },
        }, cvbTagKbd(t), h("span", { class: "cvb-dot" }), h("span", { class: "cvb-tagbtn-name", text: t.name })))),
      newTag(),
      h("div", { class: "cvb-spacer" }),
      h("div", { class: "cvb-seg", role: "group", "aria-label": "Mode" },
        h("button", { class: mode === "draw" ? "is-active" : "", title: "Draw and edit boxes (d)", dataset: { mode: "draw" }, on: { click: () => setMode("draw") } }, cvbIcon("draw"), "Draw"),
        h("button", { class: mode === "pan" ? "is-active" : "", title: "Move the view (h, or hold Space)", dataset: { mode: "pan" }, on: { click: () => setMode("pan") } }, cvbIcon("pan"), "Pan")),
      h("span", { class: "cvb-sep" }),
      h("div", { class: "cvb-group" },
        h("button", { class: "cvb-btn is-icon", title: "Zoom out (\u2212)", dataset: { action: "zoom-out" }, on: { click: () => zoomCenter(1 / 1.25) } }, "\u2212"),
        h("span", { class: "cvb-zoom", title: "Zoom: screen pixels per image pixel (100%: one to one)" }, zoomText()),
        h("button", { class: "cvb-btn is-icon", title: "Zoom in (+)", dataset: { action: "zoom-in" }, on: { click: () => zoomCenter(1.25) } }, "+"),
        h("button", { class: "cvb-btn is-small", title: "Fit the image (F)", dataset: { action: "fit" }, on: { click: () => { fit(); root.focus(); } } }, "Fit")),
      h("span", { class: "cvb-sep" }),
      h("button", {
        class: "cvb-btn is-small is-danger", title: "Delete the selected box (Delete)", disabled: !(sel && sel.kind === "box"),
        dataset: { action: "delete-box" }, on: { click: () => { deleteSelected(); root.focus(); } },
      }, "Delete box"),
    );
  }
  function setMode(m) {
    mode = m;
    viewport.dataset.mode = m;
    renderToolbar();
    root.focus();
  }

  function renderSide() {
    const byId = tagById();
    const list = tags();
    const sugg = suggestions();
    const boxRows = boxes.map((b, i) => {
      const selected = sel && sel.kind === "box" && sel.index === i;
      return h("div", {
        class: `cvb-row${selected ? " is-selected" : ""}`, dataset: { index: String(i) },
        on: { click: () => { sel = { kind: "box", index: i }; renderAll(); root.focus(); } },
      },
      h("span", { class: "cvb-swatch", style: { "--c": color(b.tag) } }),
      selected && list.length
        ? cvbSelect(list.map((t) => ({ value: t.id, label: t.name })), b.tag, (v) => { boxes[i].tag = v; commit(); renderLayer(); root.focus(); },
          { "aria-label": "Tag of this box", class: "cvb-select is-inline" })
        : h("span", { class: "cvb-row-name", text: byId.get(b.tag) ? byId.get(b.tag).name : "unknown tag" }),
      h("span", { class: "cvb-row-meta", text: `${Math.round(b.width * image().width || 0)}\u00d7${Math.round(b.height * image().height || 0)}` }),
      h("button", { class: "cvb-x", title: "Delete this box", on: { click: (e) => { e.stopPropagation(); boxes.splice(i, 1); sel = null; commit(); renderAll(); root.focus(); } } }, "\u00d7"));
    });
    const suggRows = sugg.map((s, i) => {
      const selected = sel && sel.kind === "sugg" && sel.index === i;
      const t = byId.get(s.tag);
      return h("div", {
        class: `cvb-row is-sugg${selected ? " is-selected" : ""}`, dataset: { index: String(i) },
        on: { click: () => { sel = { kind: "sugg", index: i }; renderAll(); root.focus(); } },
      },
      h("span", { class: "cvb-swatch is-dashed", style: { "--c": color(s.tag) } }),
      h("span", { class: "cvb-row-name", text: t ? t.name : "?" }),
      h("span", { class: "cvb-row-meta", text: `${Math.round(s.probability * 100)}%` }),
      h("button", { class: "cvb-ok", title: "Accept (Enter)", dataset: { action: "accept" }, on: { click: (e) => { e.stopPropagation(); model.send({ type: "accept_suggestion", index: i }); sel = null; } } }, "\u2713"),
      h("button", { class: "cvb-x", title: "Reject (Delete)", on: { click: (e) => { e.stopPropagation(); model.send({ type: "reject_suggestion", index: i }); sel = null; } } }, "\u00d7"));
    });
    const notes = model.get("notes") || [];
    cvbFill(side,
      h("div", { class: "cvb-side-head" }, h("span", { class: "cvb-label" }, "Boxes"), h("span", { class: "cvb-muted", text: String(boxes.length) })),
      boxes.length ? h("div", { class: "cvb-rows" }, boxRows) : h("div", { class: "cvb-muted cvb-hint", text: image().id ? "Drag on the image to draw a box." : "" }),
      sugg.length ? h("div", { class: "cvb-side-head cvb-sugg-head" }, h("span", { class: "cvb-label" }, "Suggestions"), h("span", { class: "cvb-muted", text: String(sugg.length) })) : null,
      sugg.length ? h("div", { class: "cvb-rows" }, suggRows) : null,
      sugg.length ? h("div", { class: "cvb-group" },
        h("button", { class: "cvb-btn is-primary is-small", dataset: { action: "accept-all" }, title: "Accept every suggestion (a)", on: { click: () => { model.send({ type: "accept_all" }); root.focus(); } } }, "Accept all"),
        h("button", { class: "cvb-btn is-small", dataset: { action: "reject-all" }, on: { click: () => { model.send({ type: "reject_suggestion", index: null }); root.focus(); } } }, "Reject all")) : null,
      notes.length ? h("div", { class: "cvb-notes" }, notes.map((n) => h("div", { text: n }))) : null,
    );
  }

  function renderFooter() {
    cvbFill(footer, h("div", { class: "cvb-hints" },
      h("span", null, "Drag to draw \u00b7 drag a box to move \u00b7 drag a handle to resize"),
      h("span", null, kbd("1\u20139"), kbd("0"), kbd("\u21e7 1\u20130"), "choose tag"),
      h("span", null, kbd("Del"), "delete"),
      h("span", null, kbd("n"), kbd("p"), "next / previous"),
      h("span", null, kbd("Wheel"), kbd("+"), kbd("\u2212"), kbd("F"), "zoom"),
      h("span", null, kbd("Space"), "+ drag pan"),
      h("span", null, kbd("Enter"), "accept suggestion")));
  }

  function renderImage() {
    const im = image();
    if (im.id) {
      empty.style.display = "none";
      stage.style.display = "";
      if (img.getAttribute("src") !== model.get("src")) img.src = model.get("src");
      img.alt = im.name;
    } else {
      stage.style.display = "none";
      empty.style.display = "";
      const total = model.get("total");
      cvbFill(empty,
        h("div", { class: "cvb-empty-title", text: total ? "Nothing to show" : (model.get("show") === "untagged" ? "Every image has boxes" : "No images to show") }),
        model.get("show") !== "all" ? h("button", { class: "cvb-btn is-primary", on: { click: () => cvbSet(model, { show: "all" }) } }, "Show all images") : null);
    }
    viewport.classList.remove("is-switching");
    root.classList.remove("is-loading");
  }

  function renderAll() {
    renderLayer();
    renderSide();
    renderToolbar();
  }

  // -- pointer interaction ------------------------------------------------------------------------
  viewport.addEventListener("pointerdown", (e) => {
    if (!image().id) return;
    root.focus({ preventScroll: true });
    const panning = e.button === 1 || mode === "pan" || spaceHeld;
    if (!panning && e.button !== 0) return;
    e.preventDefault();
    viewport.setPointerCapture(e.pointerId);
    if (panning) {
      drag = { type: "pan", x: e.clientX, y: e.clientY, tx: view.tx, ty: view.ty };
      viewport.classList.add("is-panning");
      return;
    }
    const handle = e.target.closest(".cvb-handle");
    const node = e.target.closest(".cvb-box");
    const p = norm(e);
    if (handle && node) {
      const index = Number(node.dataset.index);
      drag = { type: "resize", index, handle: handle.dataset.handle, orig: { ...boxes[index] }, p0: p, changed: false };
    } else if (node && node.dataset.kind === "box") {
      const index = Number(node.dataset.index);
      sel = { kind: "box", index };
      drag = { type: "move", index, orig: { ...boxes[index] }, p0: p, changed: false };
      renderAll();
    } else if (node && node.dataset.kind === "sugg") {
      sel = { kind: "sugg", index: Number(node.dataset.index) };
      drag = null;
      renderAll();
    } else {
      const hadSel = sel !== null;
      sel = null;
      if (hadSel) renderAll();
      if (!model.get("current_tag")) {
        model.set("notice", { level: "error", text: "Create a tag first (+ Add tag): every box needs a tag.", id: Date.now() });
        return;
      }
      const start = { x: clamp(p.x, 0, 1), y: clamp(p.y, 0, 1) };
      drag = { type: "draw", p0: start, box: null };
    }
  });

  let frame = 0;
  viewport.addEventListener("pointermove", (e) => {
    if (!drag) return;
    if (drag.type === "pan") {
      view.tx = drag.tx + (e.clientX - drag.x);
      view.ty = drag.ty + (e.clientY - drag.y);
      applyView();
      return;
    }
    const p = norm(e);
    if (drag.type === "draw") {
      const x = clamp(p.x, 0, 1);
      const y = clamp(p.y, 0, 1);
      drag.box = { left: Math.min(drag.p0.x, x), top: Math.min(drag.p0.y, y), width: Math.abs(x - drag.p0.x), height: Math.abs(y - drag.p0.y) };
    } else if (drag.type === "move") {
      const o = drag.orig;
      const b = boxes[drag.index];
      b.left = clamp(o.left + p.x - drag.p0.x, 0, 1 - o.width);
      b.top = clamp(o.top + p.y - drag.p0.y, 0, 1 - o.height);
      drag.changed = drag.changed || b.left !== o.left || b.top !== o.top;
    } else if (drag.type === "resize") {
      const o = drag.orig;
      let x1 = o.left, y1 = o.top, x2 = o.left + o.width, y2 = o.top + o.height;
      const dx = p.x - drag.p0.x, dy = p.y - drag.p0.y;
      if (drag.handle.includes("w")) x1 = clamp(x1 + dx, 0, 1);
      if (drag.handle.includes("e")) x2 = clamp(x2 + dx, 0, 1);
      if (drag.handle.includes("n")) y1 = clamp(y1 + dy, 0, 1);
      if (drag.handle.includes("s")) y2 = clamp(y2 + dy, 0, 1);
      const b = boxes[drag.index];
      b.left = Math.min(x1, x2);
      b.top = Math.min(y1, y2);
      b.width = Math.max(Math.abs(x2 - x1), 1e-4);
      b.height = Math.max(Math.abs(y2 - y1), 1e-4);
      drag.changed = true;
    }
    if (!frame) frame = requestAnimationFrame(() => { frame = 0; renderLayer(); });
  });

  function endDrag(e) {
    if (!drag) return;
    const d = drag;
    drag = null;
    viewport.classList.remove("is-panning");
    if (e && viewport.hasPointerCapture(e.pointerId)) viewport.releasePointerCapture(e.pointerId);
    if (d.type === "draw" && d.box) {
      const s = screenSize(d.box);
      if (s.w >= CVB_MIN_PX && s.h >= CVB_MIN_PX) {
        boxes.push({ tag: model.get("current_tag"), ...d.box });
        sel = { kind: "box", index: boxes.length - 1 };
        commit();
      }
    } else if ((d.type === "move" || d.type === "resize") && d.changed) {
      const s = screenSize(boxes[d.index]);
      if (s.w < 2 || s.h < 2) boxes[d.index] = d.orig; // collapsed: undo the resize
      commit();
    }
    renderAll();
  }
  viewport.addEventListener("pointerup", endDrag);
  viewport.addEventListener("pointercancel", endDrag);
  viewport.addEventListener("auxclick", (e) => e.preventDefault());
  viewport.addEventListener("wheel", (e) => {
    if (!image().id) return;
    e.preventDefault();
    const delta = e.deltaMode === 1 ? e.deltaY * 16 : e.deltaY;
    zoomAt(e.clientX, e.clientY, Math.exp(-delta * 0.0015));
  }, { passive: false });

  // -- keyboard ------------------------------------------------------------------------------------
  cvbKeys(root, (e, key) => {
    const position = model.get("position");
    if (key) {
      const t = cvbTagOfKey(tags(), key);
      if (!t) return false;
      setCurrentTag(t.id);
    } else if ((e.key === "s" || e.key === "S") && (e.ctrlKey || e.metaKey)) model.send({ type: "save" });
    else if (e.ctrlKey || e.metaKey || e.altKey) return false;
    else if (e.key === "n" || e.key === "ArrowRight" || e.key === "PageDown") go(position + 1);
    else if (e.key === "p" || e.key === "ArrowLeft" || e.key === "PageUp") go(position - 1);
    else if (e.key === "Delete" || e.key === "Backspace") deleteSelected();
    else if (e.key === "Enter") {
      if (sel && sel.kind === "sugg") {
        model.send({ type: "accept_suggestion", index: sel.index });
        sel = null;
      }
    } else if (e.key === "a" || e.key === "A") {
      if (suggestions().length) model.send({ type: "accept_all" });
    } else if (e.key === "Escape") {
      sel = null;
      if (drag && drag.type === "draw") drag = null;
      renderAll();
    } else if (e.key === "+" || e.key === "=") zoomCenter(1.25);
    else if (e.key === "-" || e.key === "_") zoomCenter(1 / 1.25);
    else if (e.key === "f" || e.key === "F") fit();
    else if (e.key === "d") setMode("draw");
    else if (e.key === "h") setMode("pan");
    else if (e.key === " ") {
      spaceHeld = true;
      viewport.classList.add("is-space");
    } else if (e.key === "Tab" && boxes.length) {
      const i = sel && sel.kind === "box" ? sel.index : -1;
      sel = { kind: "box", index: (i + (e.shiftKey ? boxes.length - 1 : 1)) % boxes.length };
      renderAll();
    } else return false;
    return true;
  });
  root.addEventListener("keyup", (e) => {
    if (e.key === " ") {
      spaceHeld = false;
      viewport.classList.remove("is-space");
    }
  });
  root.addEventListener("blur", () => {
    spaceHeld = false;
    viewport.classList.remove("is-space");
  });

  // -- model events --------------------------------------------------------------------------------
  on("change:image", () => {
    sel = null;
    drag = null;
    renderImage();
    adopt(true);
    fit();
    renderHeader();
    renderToolbar();
  });
  on("change:src", renderImage);
  on("change:boxes", () => adopt(false));
  on("change:acked_edit", () => { renderStatus(); adopt(false); });
  on("change:suggestions", () => {
    if (sel && sel.kind === "sugg") sel = null;
    renderLayer();
    renderSide();
  });
  on("change:notes", renderSide);
  on("change:tags change:current_tag", () => { renderToolbar(); renderLayer(); renderSide(); });
  on("change:position change:total change:show change:filter_options", renderHeader);
  on("change:notice", () => {
    const n = model.get("notice") || {};
    if (n.level === "error" && model.get("acked_edit") < edit) {
      saveError = true;
      edit = model.get("acked_edit");
      renderStatus();
    }
  });

  renderHeader();
  renderToolbar();
  renderImage();
  renderLayer();
  renderSide();
  renderFooter();
  requestAnimationFrame(fit);
  return () => on.dispose();
}

export default { render };
