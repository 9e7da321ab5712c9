// Tagger: one image at a time, tagged with each tag's key (1-9, 0, Shift+1-0; cvbench/ui/tagger.py).
// The position in the queue is a trait; tag changes are messages, saved at once by Python.

import {
  h, cvbFill, cvbFmt, cvbIcon, cvbKeyHint, cvbKeys, cvbMount, cvbNewTag, cvbNotice, cvbSelect, cvbSet,
  cvbShowOptions, cvbTagChip, cvbTagKbd, cvbTagOfKey, kbd
} from "./common.js";

function render({ model, el }) {
  const { on, root, color } = cvbMount(model, el, "tagger");

  const tags = () => model.get("tags") || [];
  const image = () => model.get("image") || {};
  const multilabel = () => model.get("kind") === "multilabel";

  const header = h("div", { class: "cvb-header" });
  const img = h("img", { class: "cvb-tagger-img", alt: "", draggable: "false" });
  const imgName = h("div", { class: "cvb-imgname" });
  const frame = h("div", { class: "cvb-frame" }, img);
  const stage = h("div", { class: "cvb-stage cvb-loading-target" }, frame, imgName);
  const side = h("div", { class: "cvb-side" });
  const body = h("div", { class: "cvb-body" }, stage, side);
  const footer = h("div", { class: "cvb-footer" });
  const progress = h("div", { class: "cvb-progress" }, h("div"));
  root.append(header, progress, body, footer, cvbNotice(model, on));

  function go(position) {
    const total = model.get("total");
    const p = Math.max(0, Math.min(position, total));
    if (p === model.get("position")) return;
    root.classList.add("is-loading");
    cvbSet(model, { position: p });
  }
  const toggle = (tagId) => {
    if (image().id) model.send({ type: "toggle_tag", tag: tagId });
  };

  function renderHeader() {
    const total = model.get("total");
    const position = model.get("position");
    cvbFill(header,
      h("div", { class: "cvb-title" }, "Tag images"),
      cvbSelect(cvbShowOptions(model, { untagged: "Untagged images" }), model.get("show"),
        (v) => cvbSet(model, { show: v }), { "aria-label": "Images to go through" }),
      h("span", { class: "cvb-counter" },
        total ? (position < total ? `Image ${cvbFmt(position + 1)} of ${cvbFmt(total)}` : `${cvbFmt(total)} of ${cvbFmt(total)} done`) : "No images"),
      h("div", { class: "cvb-spacer" }),
      h("button", { class: "cvb-btn is-quiet", title: "Take the queue again from the project", on: { click: () => model.send({ type: "refresh" }) } }, cvbIcon("refresh"), "Refresh"),
    );
    progress.firstChild.style.width = total ? `${(100 * position) / total}%` : "0%";
  }

  let emptyKey = null; // what the empty screen shows: drawn again only when that changes
  function renderStage() {
    const im = image();
    const total = model.get("total");
    const key = im.id ? null : `${total}|${model.get("show")}`;
    if (key !== null && key === emptyKey) { root.classList.remove("is-loading"); return; } // its buttons keep the focus
    emptyKey = key;
    stage.querySelectorAll(".cvb-empty").forEach((n) => n.remove());
    // the frame holds the picture; with none it goes, or it would cover the buttons below
    frame.style.display = im.id ? "" : "none";
    if (im.id) {
      img.style.display = "";
      if (img.getAttribute("src") !== model.get("src")) img.src = model.get("src");
      img.alt = im.name;
      img.style.setProperty("--ar", String((im.width || 1) / (im.height || 1)));
      imgName.style.display = "";
      imgName.textContent = `${im.name} \u00b7 ${im.width}\u00d7${im.height}` + (im.split ? ` \u00b7 ${im.split}` : "");
    } else {
      img.style.display = "none";
      img.removeAttribute("src");
      imgName.style.display = "none";
      const show = model.get("show");
      stage.append(h("div", { class: "cvb-empty" },
        h("div", { class: "cvb-empty-title", text: total ? "Done \u2014 every image in this queue has been seen" : (show === "untagged" ? "Every image is tagged" : "No images to show") }),
        h("div", { text: total ? "Go back with \u2190, or choose other images." : "Choose other images to go through." }),
        h("div", { class: "cvb-group" },
          total ? h("button", { class: "cvb-btn", on: { click: () => go(total - 1) } }, "\u2039 Back to the last image") : null,
          show !== "all" ? h("button", { class: "cvb-btn is-primary", on: { click: () => cvbSet(model, { show: "all" }) } }, "Show all images") : null)));
    }
    root.classList.remove("is-loading");
  }

  const newTag = cvbNewTag({
    redraw: () => renderSide(), root, props: { class: "cvb-addtag" },
    create: (name) => model.send({ type: "create_tag", name, ids: [] }),
  });

  function renderSide() {
    const im = image();
    const on_ = new Set(im.tags || []);
    const list = tags();
    const buttons = list.map((t) =>
      h("button", {
        class: `cvb-tagbtn cvb-tagrow${on_.has(t.id) ? " is-active" : ""}`,
        style: { "--tag": color(t.id) }, dataset: { tag: t.id }, disabled: !im.id,
        title: (on_.has(t.id) ? "Remove " : multilabel() ? "Add " : "Set ") + t.name + cvbKeyHint(t),
        "aria-pressed": on_.has(t.id) ? "true" : "false",
        on: { click: () => { toggle(t.id); root.focus(); } },
      },
      cvbTagKbd(t) || h("span", { class: "cvb-kbd is-blank" }),
      h("span", { class: "cvb-dot" }),
      h("span", { class: "cvb-tagbtn-name", text: t.name }),
      t.type === "Negative" ? h("span", { class: "cvb-neg", text: "neg" }) : null,
      h("span", { class: "cvb-count", text: cvbFmt(t.count) }),
      h("span", { class: "cvb-tick", text: on_.has(t.id) ? "\u2713" : "" })),
    );
    const current = list.filter((t) => on_.has(t.id));
    cvbFill(side,
      h("div", { class: "cvb-side-head" },
        h("span", { class: "cvb-label" }, "Tags"),
        h("span", { class: "cvb-muted" }, multilabel() ? "several per image" : "one per image")),
      h("div", { class: "cvb-taglist" }, list.length ? buttons : h("div", { class: "cvb-muted", text: "No tags yet: add one below." })),
      newTag(),
      h("div", { class: "cvb-current" },
        h("div", { class: "cvb-label" }, "This image"),
        h("div", { class: "cvb-current-tags" },
          current.length ? current.map((t) => cvbTagChip(t, color(t.id))) : h("span", { class: "cvb-untagged", text: im.id ? "No tag yet" : "\u2014" })),
        current.length ? h("button", { class: "cvb-btn is-quiet is-small", title: "Remove its tags (key U or Delete)", on: { click: () => { model.send({ type: "clear_tags" }); root.focus(); } } }, "Clear tags") : null),
    );
  }

  function renderFooter() {
    const position = model.get("position");
    const total = model.get("total");
    cvbFill(footer,
      h("button", { class: "cvb-btn", disabled: position <= 0, dataset: { action: "prev" }, on: { click: () => go(position - 1) } }, "\u2039 Previous"),
      h("button", { class: "cvb-btn is-primary", disabled: position >= total, dataset: { action: "next" }, on: { click: () => { go(position + 1); root.focus(); } } }, "Accept & next ", kbd("Enter")),
      h("div", { class: "cvb-spacer" }),
      h("div", { class: "cvb-hints" },
        h("span", null, kbd("1\u20139"), kbd("0"), kbd("\u21e7 1\u20130"), multilabel() ? "toggle tag" : "set tag"),
        h("span", null, kbd("U"), "clear"),
        h("span", null, kbd("Enter"), "next"),
        h("span", null, kbd("\u2190"), kbd("\u2192"), "move")),
    );
  }

  cvbKeys(root, (e, key) => {
    const position = model.get("position");
    if (key) {
      const tag = cvbTagOfKey(tags(), key);
      if (!tag) return false;
      toggle(tag.id);
    } else if ((e.key === "u" || e.key === "U" || e.key === "Delete") && !e.ctrlKey && !e.metaKey) {
      if (image().id) model.send({ type: "clear_tags" });
    } else if (e.key === "Enter" || e.key === "ArrowRight" || e.key === "ArrowDown") go(position + 1);
    else if (e.key === "ArrowLeft" || e.key === "ArrowUp" || e.key === "Backspace") go(position - 1);
    else if (e.key === "Home") go(0);
    else if (e.key === "End") go(model.get("total"));
    else return false;
    return true;
  });
  stage.addEventListener("click", () => root.focus({ preventScroll: true }));

  on("change:image change:src", () => { renderStage(); renderSide(); });
  on("change:tags", renderSide);
  on("change:position change:total", () => { renderHeader(); renderFooter(); });
  on("change:show change:filter_options", () => { renderHeader(); renderStage(); });
  on("change:tags", renderHeader);

  renderHeader();
  renderStage();
  renderSide();
  renderFooter();
  return () => on.dispose();
}

export default { render };
