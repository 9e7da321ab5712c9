// Gallery: one paged grid of thumbnails (cvbench/ui/gallery.py). The page, the filter and
// the selection are traits; tagging, untagging and deleting are messages to Python.

import {
  h, cvbFill, cvbFmt, cvbIcon, cvbInWorkbench, cvbKeyHint, cvbKeys, cvbMount, cvbNewTag, cvbNotice, cvbPlural, cvbSelect,
  cvbSet, cvbTagChip, cvbTagKbd, cvbTagOfKey, kbd
} from "./common.js";
import { cvbDetail } from "./image_detail.js";

function render({ model, el }) {
  const { on, root, color } = cvbMount(model, el, "gallery");
  const detection = () => model.get("kind") === "detection";

  // view state that stays in the browser
  let focus = 0; // index of the focused thumbnail on the page
  let anchor = null; // index where a shift-range starts
  let confirming = null; // ids awaiting delete confirmation
  let shownPage = null; // the page the grid shows: a new one starts scrolled to its focus
  const cells = new Map(); // image id -> {cell, img, src}

  const selection = () => new Set(model.get("selected") || []);
  const items = () => model.get("items") || [];
  const tags = () => model.get("tags") || [];
  const tagById = () => new Map(tags().map((t) => [t.id, t]));

  const setSelected = (ids) => cvbSet(model, { selected: [...ids] });
  const send = (msg) => {
    root.classList.add("is-loading");
    model.send(msg);
  };

  // -- layout -------------------------------------------------------------------------------
  const header = h("div", { class: "cvb-header" });
  const tagbar = h("div", { class: "cvb-tagbar" });
  const actionbar = h("div", { class: "cvb-actionbar" });
  const grid = h("div", { class: "cvb-grid cvb-loading-target", role: "listbox", "aria-multiselectable": "true" });
  // the grid scrolls inside a bounded box (gallery.css): a page of 60 images is not 2,500 px
  // of notebook, and the tag bar, the selection's actions and the pager stay in sight
  const gridWrap = h("div", { class: "cvb-grid-wrap" }, grid);
  const footer = h("div", { class: "cvb-footer" });
  root.append(header, tagbar, actionbar, gridWrap, footer, cvbNotice(model, on));
  const detail = cvbDetail(model, root, color);
  const openDetail = (id) => detail.open("image", id, items().map((it) => it.id));

  // -- header: title, filters, split, refresh ------------------------------------------------
  function renderHeader() {
    const show = model.get("show");
    const seg = h("div", { class: "cvb-seg", role: "tablist" },
      [
        ["all", "All", model.get("image_count")],
        ["untagged", "Untagged", model.get("untagged_count")],
      ].map(([value, label, count]) =>
        h("button", {
          class: show === value ? "is-active" : "", role: "tab", dataset: { show: value },
          on: { click: () => cvbSet(model, { show: value }) },
        }, label, h("span", { class: "cvb-count", text: cvbFmt(count) })),
      ),
    );
    const custom = model.get("filter_options") || [];
    const more = custom.length
      ? cvbSelect(
        [{ value: "", label: "More filters\u2026" }, ...custom.map((f) => ({ value: f.key, label: f.label }))],
        custom.some((f) => f.key === show) ? show : "",
        (v) => v && cvbSet(model, { show: v }),
        { "aria-label": "More filters" },
      )
      : null;
    const split = cvbSelect(
      [{ value: "", label: "Train + validation" }, { value: "train", label: "Train" }, { value: "validation", label: "Validation" }],
      model.get("split"),
      (v) => cvbSet(model, { split: v }),
      { "aria-label": "Split", class: "cvb-select cvb-split" },
    );
    cvbFill(header,
      h("div", { class: "cvb-title" }, "Images"),
      seg,
      more,
      split,
      h("div", { class: "cvb-spacer" }),
      h("button", {
        class: "cvb-btn is-quiet", title: "Read the project again",
        on: { click: () => send({ type: "refresh" }) },
      }, cvbIcon("refresh"), "Refresh"),
    );
  }

  // -- tag bar: every tag with its count; a click filters by it ------------------------------
  const newTag = cvbNewTag({
    redraw: () => renderTagbar(), root, props: { title: "Create a tag" },
    create: (name) => send({ type: "create_tag", name, ids: [...selection()] }),
  });
  function renderTagbar() {
    const show = model.get("show");
    const list = tags();
    const buttons = list.map((t) =>
      h("button", {
        class: `cvb-tagbtn${show === `tag:${t.id}` ? " is-active" : ""}`,
        style: { "--tag": color(t.id) }, dataset: { tag: t.id },
        title: show === `tag:${t.id}` ? "Show all images" : `Show the images tagged ${t.name}`,
        on: { click: () => cvbSet(model, { show: show === `tag:${t.id}` ? "all" : `tag:${t.id}` }) },
      },
      h("span", { class: "cvb-dot" }),
      h("span", { class: "cvb-tagbtn-name", text: t.name }),
      t.type === "Negative" ? h("span", { class: "cvb-neg", text: "neg" }) : null,
      h("span", { class: "cvb-count", text: cvbFmt(t.count) }),
      cvbTagKbd(t)),
    );
    cvbFill(tagbar,
      h("span", { class: "cvb-label" }, "Tags"),
      list.length ? buttons : h("span", { class: "cvb-muted", text: "No tags yet" }),
      newTag(),
    );
  }

  // -- action bar: what to do with the selection ----------------------------------------------
  function renderActionbar() {
    const sel = selection();
    const n = sel.size;
    actionbar.classList.toggle("is-visible", n > 0 || confirming !== null);
    if (confirming) {
      actionbar.className = "cvb-actionbar is-visible is-confirm";
      cvbFill(actionbar,
        h("span", { class: "cvb-confirm-text" },
          `Delete ${cvbPlural(confirming.length, "image")}? Their tags and boxes go too; this cannot be undone.`),
        h("div", { class: "cvb-spacer" }),
        h("button", { class: "cvb-btn", on: { click: cancelDelete } }, "Cancel"),
        h("button", { class: "cvb-btn is-danger is-solid", dataset: { action: "confirm-delete" }, on: { click: confirmDelete } }, "Delete"),
      );
      return;
    }
    actionbar.className = `cvb-actionbar${n ? " is-visible" : ""}`;
    if (!n) {
      cvbFill(actionbar);
      return;
    }
    const total = model.get("total");
    const tagButtons = detection()
      ? [h("span", { class: "cvb-muted", text: cvbInWorkbench(model) ? "Detection images are tagged by drawing boxes in the Tag tab." : "Detection images are tagged by drawing boxes (BoxEditor)." })]
      : tags().map((t) =>
        h("button", {
          class: "cvb-tagbtn is-small", style: { "--tag": color(t.id) }, dataset: { tagAction: t.id },
          title: `Tag the selection as ${t.name}${cvbKeyHint(t)}`,
          on: { click: () => tagSelection(t.id) },
        }, h("span", { class: "cvb-dot" }), h("span", { class: "cvb-tagbtn-name", text: t.name }), cvbTagKbd(t)),
      );
    cvbFill(actionbar,
      h("span", { class: "cvb-selcount" }, cvbFmt(n), " selected"),
      n < total && items().every((it) => sel.has(it.id))
        ? h("button", { class: "cvb-btn is-quiet is-small", on: { click: () => send({ type: "select_matching" }) } },
          `Select all ${cvbFmt(total)}`)
        : null,
      h("span", { class: "cvb-sep" }),
      detection() ? null : h("span", { class: "cvb-label" }, "Tag as"),
      ...tagButtons,
      h("div", { class: "cvb-spacer" }),
      h("button", { class: "cvb-btn is-small", title: "Remove every tag (key U)", on: { click: () => untagSelection() } }, "Untag"),
      h("button", { class: "cvb-btn is-small is-danger", title: "Delete (key Delete)", dataset: { action: "delete" }, on: { click: askDelete } }, "Delete"),
      h("button", { class: "cvb-btn is-small is-quiet", title: "Clear the selection (Esc)", on: { click: () => setSelected([]) } }, "Clear"),
    );
  }

  // -- grid ------------------------------------------------------------------------------------
  function makeCell(item, src) {
    const img = h("img", { class: "cvb-img", alt: item.name, draggable: "false", decoding: "async" });
    if (src) img.src = src;
    const fit = h("div", { class: "cvb-fit" }, img);
    const check = h("span", { class: "cvb-check", "aria-hidden": "true" });
    const expand = h("button", { class: "cvb-expand", type: "button", tabindex: "-1", title: "Show it large (Enter, or a double click)", "aria-label": `Show ${item.name} large`, dataset: { action: "detail" } }, "\u2922");
    const caption = h("div", { class: "cvb-caption" });
    const cell = h("div", { class: "cvb-cell", role: "option", dataset: { id: item.id } },
      h("div", { class: "cvb-thumb cvb-has-expand" }, fit, check, expand), caption);
    return { cell, img, fit, caption, src };
  }

  function renderGrid() {
    const list = items();
    const byId = tagById();
    const sel = selection();
    const thumbs = model.get("thumbnails") || {};
    const seen = new Set();
    focus = Math.max(0, Math.min(focus, list.length - 1));
    const nodes = list.map((item, i) => {
      seen.add(item.id);
      const src = thumbs[item.id] || "";
      let c = cells.get(item.id);
      if (!c) {
        c = makeCell(item, src);
        cells.set(item.id, c);
      } else if (c.src !== src) {
        c.img.src = src;
        c.src = src;
      }
      const wide = (item.width || 1) >= (item.height || 1);
      c.fit.style.aspectRatio = `${item.width || 1} / ${item.height || 1}`;
      c.fit.classList.toggle("is-wide", wide);
      // boxes (detection) drawn over the thumbnail
      c.fit.querySelectorAll(".cvb-region").forEach((r) => r.remove());
      for (const [tagId, left, top, width, height] of item.regions || []) {
        c.fit.append(h("div", {
          class: "cvb-region",
          style: { left: `${left * 100}%`, top: `${top * 100}%`, width: `${width * 100}%`, height: `${height * 100}%`, borderColor: color(tagId) },
        }));
      }
      const itemTags = (item.tags || []).map((id) => byId.get(id)).filter(Boolean);
      cvbFill(c.caption,
        itemTags.length
          ? h("div", { class: "cvb-caption-tags" }, cvbTagChip(itemTags[0], color(itemTags[0].id)),
            itemTags.length > 1 ? h("span", { class: "cvb-more", title: itemTags.slice(1).map((t) => t.name).join(", "), text: `+${itemTags.length - 1}` }) : null)
          : h("span", { class: "cvb-untagged", text: "Untagged" }),
        item.split === "validation" ? h("span", { class: "cvb-split-badge", title: "Validation split", text: "val" }) : null,
      );
      c.cell.title = item.name + (itemTags.length ? ` \u2014 ${itemTags.map((t) => t.name).join(", ")}` : "");
      c.cell.classList.toggle("is-selected", sel.has(item.id));
      c.cell.classList.toggle("is-focused", i === focus);
      c.cell.setAttribute("aria-selected", sel.has(item.id) ? "true" : "false");
      c.cell.dataset.index = String(i);
      return c.cell;
    });
    for (const id of [...cells.keys()]) if (!seen.has(id)) cells.delete(id);
    if (list.length) {
      cvbFill(grid, ...nodes);
      if (shownPage !== model.get("page")) {
        shownPage = model.get("page");
        gridWrap.scrollTop = 0;
        keepInView(nodes[focus]);
      }
    } else {
      const show = model.get("show");
      cvbFill(grid, h("div", { class: "cvb-empty" },
        h("div", { class: "cvb-empty-title", text: model.get("image_count") ? "No images match this filter" : "No images yet" }),
        h("div", { text: model.get("image_count") ? "Choose another filter to see more." : "Add images with cvbench.ui.Uploader(project) or project.add_images(...)." }),
        show !== "all" ? h("button", { class: "cvb-btn", on: { click: () => cvbSet(model, { show: "all" }) } }, "Show all images") : null));
    }
    root.classList.remove("is-loading");
  }

  /** Scroll the grid's box (only it, not the page) so that ``cell`` is wholly in it. */
  function keepInView(cell) {
    if (!cell) return;
    const box = gridWrap.getBoundingClientRect();
    const r = cell.getBoundingClientRect();
    const margin = parseFloat(getComputedStyle(gridWrap).paddingTop) || 0; // room for the focus ring
    if (r.top < box.top + margin) gridWrap.scrollTop -= box.top + margin - r.top;
    else if (r.bottom > box.bottom - margin) gridWrap.scrollTop += Math.min(r.bottom - (box.bottom - margin), r.top - box.top - margin);
  }
  const keepFocusInView = () => {
    const item = items()[focus];
    if (item && cells.has(item.id)) keepInView(cells.get(item.id).cell);
  };

  function renderSelectionMarks() {
    const sel = selection();
    items().forEach((item, i) => {
      const c = cells.get(item.id);
      if (!c) return;
      c.cell.classList.toggle("is-selected", sel.has(item.id));
      c.cell.classList.toggle("is-focused", i === focus);
      c.cell.setAttribute("aria-selected", sel.has(item.id) ? "true" : "false");
    });
  }

  // -- footer: pager and keys --------------------------------------------------------------------
  function renderFooter() {
    const page = model.get("page");
    const size = model.get("page_size");
    const total = model.get("total");
    const pages = Math.max(1, Math.ceil(total / size));
    const first = total ? page * size + 1 : 0;
    const last = Math.min(total, (page + 1) * size);
    cvbFill(footer,
      h("div", { class: "cvb-pager" },
        h("button", { class: "cvb-btn is-small", disabled: page <= 0, title: "Previous page (PageUp)", dataset: { action: "prev-page" }, on: { click: () => goPage(page - 1) } }, "\u2039 Prev"),
        h("span", { class: "cvb-pageinfo" }, `Page ${cvbFmt(page + 1)} of ${cvbFmt(pages)}`),
        h("button", { class: "cvb-btn is-small", disabled: page >= pages - 1, title: "Next page (PageDown)", dataset: { action: "next-page" }, on: { click: () => goPage(page + 1) } }, "Next \u203a"),
        h("span", { class: "cvb-range" }, total ? `${cvbFmt(first)}\u2013${cvbFmt(last)} of ${cvbFmt(total)}` : "0 images"),
      ),
      h("div", { class: "cvb-spacer" }),
      h("div", { class: "cvb-hints" },
        h("span", null, kbd("\u2190\u2191\u2192\u2193"), "move"),
        h("span", null, kbd("Space"), "select"),
        h("span", null, kbd("Enter"), "show large"),
        h("span", null, kbd("1\u20139"), kbd("0"), kbd("\u21e7 1\u20130"), "tag"),
        h("span", null, kbd("U"), "untag"),
        h("span", null, kbd("Del"), "delete"),
        h("span", null, kbd("Ctrl+A"), "select page"),
      ),
    );
  }

  function goPage(p) {
    const pages = Math.max(1, Math.ceil(model.get("total") / model.get("page_size")));
    const page = Math.max(0, Math.min(p, pages - 1));
    if (page === model.get("page")) return;
    focus = 0;
    anchor = null;
    root.classList.add("is-loading");
    cvbSet(model, { page });
  }

  // -- actions -----------------------------------------------------------------------------------
  function targetIds() {
    const sel = selection();
    if (sel.size) return [...sel];
    const item = items()[focus];
    return item ? [item.id] : [];
  }
  function tagSelection(tagId) {
    const ids = targetIds();
    if (ids.length) send({ type: "tag", ids, tag: tagId });
  }
  function untagSelection() {
    const ids = targetIds();
    if (ids.length) send({ type: "untag", ids, tag: null });
  }
  function askDelete() {
    const ids = targetIds();
    if (!ids.length) return;
    confirming = ids;
    renderActionbar();
    actionbar.querySelector("[data-action=confirm-delete]").focus();
  }
  function confirmDelete() {
    const ids = confirming;
    confirming = null;
    renderActionbar();
    if (ids && ids.length) send({ type: "delete", ids });
    root.focus();
  }
  function cancelDelete() {
    confirming = null;
    renderActionbar();
    root.focus();
  }

  function selectRange(from, to, add) {
    const list = items();
    const sel = add ? selection() : new Set();
    const [a, b] = from <= to ? [from, to] : [to, from];
    for (let i = a; i <= b; i++) if (list[i]) sel.add(list[i].id);
    setSelected(sel);
  }

  grid.addEventListener("dblclick", (e) => {
    const cell = e.target.closest(".cvb-cell");
    if (cell && !e.target.closest(".cvb-check")) openDetail(cell.dataset.id);
  });
  grid.addEventListener("click", (e) => {
    const cell = e.target.closest(".cvb-cell");
    if (!cell) return;
    if (e.target.closest(".cvb-expand")) {
      e.stopPropagation();
      focus = Number(cell.dataset.index);
      renderSelectionMarks();
      openDetail(cell.dataset.id);
      return;
    }
    const i = Number(cell.dataset.index);
    const id = cell.dataset.id;
    if (e.shiftKey && anchor !== null) {
      selectRange(anchor, i, e.ctrlKey || e.metaKey);
    } else if (e.ctrlKey || e.metaKey || e.target.closest(".cvb-check")) {
      const sel = selection();
      sel.has(id) ? sel.delete(id) : sel.add(id);
      setSelected(sel);
      anchor = i;
    } else {
      const sel = selection();
      setSelected(sel.size === 1 && sel.has(id) ? [] : [id]);
      anchor = i;
    }
    focus = i;
    renderSelectionMarks();
    root.focus({ preventScroll: true });
  });

  function columns() {
    const cellsOnPage = grid.querySelectorAll(".cvb-cell");
    if (cellsOnPage.length < 2) return 1;
    const top = cellsOnPage[0].offsetTop;
    let n = 0;
    for (const c of cellsOnPage) {
      if (c.offsetTop !== top) break;
      n++;
    }
    return Math.max(1, n);
  }

  function moveFocus(delta, extend) {
    const list = items();
    if (!list.length) return;
    const next = focus + delta;
    if (next < 0 || next >= list.length) {
      if (delta > 0 && next >= list.length && model.get("page") < Math.ceil(model.get("total") / model.get("page_size")) - 1 && Math.abs(delta) === 1) goPage(model.get("page") + 1);
      else if (delta < 0 && next < 0 && model.get("page") > 0 && Math.abs(delta) === 1) { goPage(model.get("page") - 1); focus = model.get("page_size") - 1; }
      return;
    }
    if (extend) {
      if (anchor === null) anchor = focus;
      selectRange(anchor, next, false);
    }
    focus = next;
    renderSelectionMarks();
    keepFocusInView();
  }

  cvbKeys(root, (e, key) => {
    const list = items();
    if (confirming) {
      if (e.key === "Enter") confirmDelete();
      else if (e.key === "Escape") cancelDelete();
      else {
        e.stopPropagation();
        return false;
      }
      return true;
    }
    if (e.key === "ArrowRight") moveFocus(1, e.shiftKey);
    else if (e.key === "ArrowLeft") moveFocus(-1, e.shiftKey);
    else if (e.key === "ArrowDown") moveFocus(columns(), e.shiftKey);
    else if (e.key === "ArrowUp") moveFocus(-columns(), e.shiftKey);
    else if (e.key === "Home") { focus = 0; renderSelectionMarks(); keepFocusInView(); }
    else if (e.key === "End") { focus = Math.max(0, list.length - 1); renderSelectionMarks(); keepFocusInView(); }
    else if (e.key === " " || e.key === "Spacebar") {
      const item = list[focus];
      if (item) {
        const sel = selection();
        sel.has(item.id) ? sel.delete(item.id) : sel.add(item.id);
        anchor = focus;
        setSelected(sel);
      }
    } else if (key) {
      const tag = cvbTagOfKey(tags(), key);
      if (!tag || detection()) return false;
      tagSelection(tag.id);
    } else if ((e.key === "u" || e.key === "U") && !e.ctrlKey && !e.metaKey) untagSelection();
    else if (e.key === "Delete" || e.key === "Backspace") askDelete();
    else if ((e.key === "a" || e.key === "A") && (e.ctrlKey || e.metaKey)) setSelected(list.map((it) => it.id));
    else if (e.key === "Escape") setSelected([]);
    else if (e.key === "Enter") { const item = list[focus]; if (!item) return false; openDetail(item.id); }
    else if (e.key === "PageDown" || e.key === "]") goPage(model.get("page") + 1);
    else if (e.key === "PageUp" || e.key === "[") goPage(model.get("page") - 1);
    else return false;
    return true;
  });

  // -- model events -------------------------------------------------------------------------------
  on("change:items", () => { renderGrid(); renderActionbar(); });
  on("change:selected", () => { renderSelectionMarks(); renderActionbar(); });
  on("change:tags", () => { renderTagbar(); renderActionbar(); renderGrid(); });
  on("change:show change:split change:image_count change:untagged_count change:filter_options", () => { renderHeader(); renderTagbar(); });
  on("change:page change:total change:page_size", renderFooter);
  // every read ends here, also one that changed nothing (a Refresh of the same page)
  on("change:loaded change:notice", () => root.classList.remove("is-loading"));

  renderHeader();
  renderTagbar();
  renderActionbar();
  renderGrid();
  renderFooter();
  return () => { detail.dispose(); on.dispose(); };
}

export default { render };
