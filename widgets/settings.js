// ProjectSettings (cvbench/ui/settings.py): the project's name, description, domain,
// classification type and split, and its tags (rename, description, Negative, merge, delete).
// Merges and deletions are confirmed here, with the number of images they affect; every
// change is one message to Python, which answers with the project as it is then.

import {
  h, cvbFill, cvbFmt, cvbIcon, cvbInWorkbench, cvbMount, cvbNotice, cvbPlural, cvbSelect, cvbTagColors
} from "./common.js";

// The limits, in the order shown: their label, unit and how many bytes one unit is.
const CVB_LIMITS = [
  { key: "max_image_bytes", label: "File size", unit: "MB", scale: 1048576, hint: "per image file (1 MB = 1,048,576 bytes)" },
  { key: "max_image_pixels", label: "Pixels per image", unit: "pixels", hint: "width \u00d7 height" },
  { key: "max_image_side", label: "Longest side", unit: "pixels" },
  { key: "max_images", label: "Images", unit: "images", hint: "in the project" },
  { key: "max_tags", label: "Tags", unit: "tags", hint: "in the project" },
  { key: "max_tags_per_image", label: "Tags per image", unit: "tags" },
  { key: "max_regions_per_image", label: "Boxes per image", unit: "boxes" },
];

// A limit as shown in its input: MB with up to two decimals, counts as they are.
function cvbLimitShown(limit, value) {
  return limit.scale ? String(Math.round((100 * value) / limit.scale) / 100) : String(value);
}

function render({ model, el }) {
  const { on, root } = cvbMount(model, el, "settings");
  const color = cvbTagColors(model);
  const header = h("div", { class: "cvb-header" });
  const body = h("div", { class: "cvb-st-body" });
  const projectCard = h("section", { class: "cvb-card cvb-st-project", "aria-label": "Project settings" });
  const limitsCard = h("section", { class: "cvb-card cvb-st-limits-card", "aria-label": "Limits" });
  const tagsCard = h("section", { class: "cvb-card cvb-st-tags", "aria-label": "Tags" });
  body.append(projectCard, tagsCard, limitsCard);
  root.append(header, body, cvbNotice(model, on));

  let editing = null; // id of the tag whose row is a form
  let confirming = null; // {action: "delete"|"merge", tag, into}
  let dirty = false; // the project form holds edits not saved yet
  let limitsDirty = false; // the limits form holds edits not saved yet

  const detection = () => model.get("kind") === "detection";
  const tagName = (id) => ((model.get("tag_details") || []).find((t) => t.id === id) || {}).name || "";

  function renderHeader() {
    cvbFill(header,
      h("div", { class: "cvb-title" }, "Settings"),
      h("span", { class: "cvb-subtle" }, "The project and its tags"),
      h("div", { class: "cvb-spacer" }),
      h("button", { class: "cvb-btn is-quiet", on: { click: () => { dirty = false; limitsDirty = false; model.send({ type: "refresh" }); } } }, cvbIcon("refresh"), "Refresh"));
  }

  // -- the project ------------------------------------------------------------------------------
  function field(label, control, hint) {
    return h("label", { class: "cvb-st-row" }, h("span", { class: "cvb-label", text: label }),
      h("div", { class: "cvb-st-control" }, control, hint ? h("div", { class: "cvb-st-hint", text: hint }) : null));
  }

  function renderProject() {
    if (dirty && projectCard.contains(document.activeElement)) return; // keep what is being typed
    const s = model.get("settings") || {};
    const trained = model.get("trained_domain");
    const name = h("input", { class: "cvb-input cvb-st-name", name: "name", value: s.name || "", maxlength: "256", "aria-label": "Project name" });
    const description = h("textarea", { class: "cvb-textarea cvb-st-description", name: "description", rows: "3", maxlength: "4000", "aria-label": "Project description", placeholder: "What the project is for" });
    description.value = s.description || "";
    const domains = (model.get("domains") || []).map((d) => ({ value: d.name, label: d.offline ? d.name : `${d.name} (downloads its weights)` }));
    const domain = cvbSelect(domains, s.domain || "", () => { dirty = true; domainHint(); }, { name: "domain", "aria-label": "Domain", class: "cvb-select cvb-st-domain" });
    const hint = h("div", { class: "cvb-st-hint cvb-st-domain-hint" });
    function domainHint() {
      const changed = domain.value !== s.domain;
      const stale = trained && domain.value !== trained;
      hint.className = `cvb-st-hint cvb-st-domain-hint${changed || stale ? " is-warn" : ""}`;
      const where = cvbInWorkbench(model) ? "in the Train tab" : "with project.train()";
      hint.textContent = changed || stale
        ? `Changing the domain needs retraining: the next training ${where} uses ${domain.value}; existing iterations keep ${trained || "theirs"}.`
        : "The backbone the next training starts from.";
    }
    domainHint();
    const kind = detection() ? null : cvbSelect([{ value: "multiclass", label: "Multiclass (one tag per image)" }, { value: "multilabel", label: "Multilabel (several tags per image)" }],
      s.kind || "multiclass", () => { dirty = true; }, { name: "kind", "aria-label": "Classification type", class: "cvb-select cvb-st-kind" });
    const seed = h("input", { class: "cvb-input cvb-st-seed", name: "split_seed", type: "number", step: "1", value: String(s.split_seed ?? 0), "aria-label": "Split seed" });
    const share = h("input", { class: "cvb-input cvb-st-share", name: "validation_percent", type: "number", min: "1", max: "99", step: "1", value: String(Math.round(1000 * (s.validation_fraction ?? 0.2)) / 10), "aria-label": "Validation share (percent)" });
    const formError = h("div", { class: "cvb-st-error", role: "alert" });
    const form = h("form", {
      class: "cvb-st-form",
      on: {
        input: () => { dirty = true; },
        submit: (e) => {
          e.preventDefault();
          const seedValue = Number(seed.value);
          const pct = Number(share.value);
          const problem = seed.value.trim() === "" || !Number.isSafeInteger(seedValue) ? "The split seed should be a whole number, e.g. 0 or 42."
            : share.value.trim() === "" || !isFinite(pct) ? "The validation share should be a number of percent, e.g. 20." : "";
          cvbFill(formError, problem);
          if (problem) return;
          dirty = false;
          model.send({
            type: "save_settings", name: name.value, description: description.value, domain: domain.value,
            kind: kind ? kind.value : s.kind, split_seed: seedValue, validation_fraction: pct / 100,
          });
        },
      },
    },
    field("Name", name),
    field("Description", description),
    field("Domain", h("div", null, domain, hint)),
    kind ? field("Classification type", kind) : null,
    h("div", { class: "cvb-st-row" }, h("span", { class: "cvb-label", text: "Split" }),
      h("div", { class: "cvb-st-control" },
        h("div", { class: "cvb-st-split" },
          h("label", { class: "cvb-field" }, h("span", { class: "cvb-subtle", text: "Validation share" }), share, h("span", { class: "cvb-subtle", text: "%" })),
          h("label", { class: "cvb-field" }, h("span", { class: "cvb-subtle", text: "Seed" }), seed)),
        h("div", { class: "cvb-st-hint", text: `Now ${cvbFmt(s.train || 0)} training and ${cvbFmt(s.validation || 0)} validation images${s.untagged ? ` (${cvbFmt(s.untagged)} untagged images have no split)` : ""}. Each tag's images are split alike; the seed picks which.` }))),
    h("div", { class: "cvb-st-row" }, h("span"),
      h("div", { class: "cvb-st-actions" },
        h("button", { class: "cvb-btn is-primary", type: "submit", dataset: { action: "save-settings" } }, "Save"),
        h("button", { class: "cvb-btn is-quiet", type: "button", on: { click: () => { dirty = false; renderProject(); } } }, "Undo changes"),
        formError)));
    cvbFill(projectCard, h("div", { class: "cvb-st-card-title" }, h("span", { class: "cvb-section-title", text: "Project" }), h("span", { class: "cvb-subtle", text: s.path || "" })), form);
  }

  // -- the limits ----------------------------------------------------------------------------------
  function renderLimits(force) {
    if (!force && limitsDirty && limitsCard.contains(document.activeElement)) return; // keep what is being typed
    const limits = (model.get("settings") || {}).limits || {};
    const bounds = model.get("limit_bounds") || {};
    // boxes are for detection projects only (the limit stays as it is in the others)
    const shown = CVB_LIMITS.filter((l) => limits[l.key] !== undefined && bounds[l.key]
      && (detection() || l.key !== "max_regions_per_image"));
    const inputs = {};
    const error = h("div", { class: "cvb-st-error", role: "alert" });
    const rows = shown.map((l) => {
      const { default: def, ceiling } = bounds[l.key];
      const input = inputs[l.key] = h("input", {
        class: "cvb-input cvb-st-limit-input", name: l.key, type: "number", min: l.scale ? "0.01" : "1",
        max: cvbLimitShown(l, ceiling), step: l.scale ? "any" : "1", value: cvbLimitShown(l, limits[l.key]),
        "aria-label": `${l.label} (${l.unit})`, dataset: { limit: l.key },
      });
      const changed = limits[l.key] !== def;
      return h("label", { class: `cvb-st-limit-row${changed ? " is-changed" : ""}`, dataset: { limit: l.key } },
        h("span", { class: "cvb-st-limit-label" }, h("span", { text: l.label }), l.hint ? h("span", { class: "cvb-subtle", text: l.hint }) : null),
        h("span", { class: "cvb-st-limit-value" }, input, h("span", { class: "cvb-subtle", text: l.unit })),
        h("span", { class: "cvb-st-limit-default cvb-subtle", text: `Default ${l.scale ? cvbLimitShown(l, def) : cvbFmt(def)} ${l.unit}` }));
    });
    // every value, checked as Python will: a whole number (of bytes) from 1 to its ceiling
    function collect() {
      const values = {};
      for (const l of shown) {
        const text = inputs[l.key].value.trim();
        // a value left as shown keeps its exact bytes (the MB shown are rounded)
        if (text === cvbLimitShown(l, limits[l.key])) { values[l.key] = limits[l.key]; continue; }
        const number = Number(text);
        const value = l.scale ? Math.round(number * l.scale) : number;
        const { ceiling } = bounds[l.key];
        const most = `${l.scale ? cvbLimitShown(l, ceiling) : cvbFmt(ceiling)} ${l.unit}`;
        if (text === "" || !isFinite(number) || (!l.scale && !Number.isInteger(number))) {
          return [null, `${l.label} should be a ${l.scale ? "number of MB, e.g. 6" : "whole number"}.`];
        }
        if (value < 1) return [null, `${l.label} should be more than 0 ${l.unit}.`];
        if (value > ceiling) return [null, `${l.label} can be at most ${most}.`];
        values[l.key] = value;
      }
      return [values, ""];
    }
    const form = h("form", {
      class: "cvb-st-limits-form",
      novalidate: true, // checked below, with the reason in the form's error line
      on: {
        input: () => { limitsDirty = true; },
        submit: (e) => {
          e.preventDefault();
          const [values, problem] = collect();
          cvbFill(error, problem);
          if (problem) return;
          limitsDirty = false;
          model.send({ type: "save_limits", limits: values });
        },
      },
    },
    h("div", { class: "cvb-st-limit-grid" }, rows),
    h("div", { class: "cvb-st-actions" },
      h("button", { class: "cvb-btn is-primary", type: "submit", dataset: { action: "save-limits" } }, "Save limits"),
      h("button", {
        class: "cvb-btn", type: "button", dataset: { action: "reset-limits" }, title: "Put the defaults in the form; Save limits keeps them",
        on: { click: () => { for (const l of shown) inputs[l.key].value = cvbLimitShown(l, bounds[l.key].default); limitsDirty = true; cvbFill(error); } },
      }, "Reset to defaults"),
      h("button", { class: "cvb-btn is-quiet", type: "button", on: { click: () => { limitsDirty = false; renderLimits(true); } } }, "Undo changes"),
      error));
    cvbFill(limitsCard,
      h("div", { class: "cvb-st-card-title" }, h("span", { class: "cvb-section-title", text: "Limits" }),
        h("span", { class: "cvb-subtle", text: "What the project accepts. File size and pixels apply to images added from now on; a count cannot go below what the project holds." })),
      form);
  }

  // -- tags ---------------------------------------------------------------------------------------
  function affected(t) {
    return detection() ? `${cvbPlural(t.count, "image")} and ${cvbPlural(t.regions, "box", "boxes")}` : cvbPlural(t.count, "image");
  }

  function confirmBar(t) {
    if (!confirming || confirming.tag !== t.id) return null;
    const cancel = h("button", { class: "cvb-btn", type: "button", on: { click: () => { confirming = null; renderTags(); } } }, "Cancel");
    if (confirming.action === "delete") {
      return h("div", { class: "cvb-st-confirm", role: "alertdialog" },
        h("span", { text: `Delete the tag \u201c${t.name}\u201d? It is on ${affected(t)}: the images stay, ${detection() ? "its boxes go" : "without this tag"}. This cannot be undone.` }),
        h("div", { class: "cvb-spacer" }), cancel,
        h("button", { class: "cvb-btn is-danger is-solid", type: "button", dataset: { action: "confirm-delete" }, on: { click: () => { confirming = null; model.send({ type: "delete_tag", tag: t.id }); } } }, "Delete tag"));
    }
    const intoName = tagName(confirming.into);
    return h("div", { class: "cvb-st-confirm", role: "alertdialog" },
      h("span", { text: `Merge \u201c${t.name}\u201d into \u201c${intoName}\u201d? Its ${affected(t)} move to \u201c${intoName}\u201d and \u201c${t.name}\u201d is deleted. This cannot be undone.` }),
      h("div", { class: "cvb-spacer" }), cancel,
      h("button", { class: "cvb-btn is-primary", type: "button", dataset: { action: "confirm-merge" }, on: { click: () => { const c = confirming; confirming = null; model.send({ type: "merge_tags", sources: [c.tag], into: c.into }); } } }, "Merge"));
  }

  function editRow(t) {
    const name = h("input", { class: "cvb-input cvb-st-tag-name", name: "name", value: t.name, maxlength: "256", "aria-label": "Tag name" });
    const description = h("input", { class: "cvb-input cvb-st-tag-description", name: "description", value: t.description || "", placeholder: "Description", "aria-label": "Tag description" });
    const negative = detection() ? null : h("input", { type: "checkbox", name: "negative", checked: t.type === "Negative" });
    const form = h("form", {
      class: "cvb-st-tag-form",
      on: {
        submit: (e) => {
          e.preventDefault();
          editing = null;
          model.send({ type: "update_tag", tag: t.id, name: name.value, description: description.value, negative: negative ? negative.checked : false });
          renderTags();
        },
        keydown: (e) => { if (e.key === "Escape") { editing = null; renderTags(); root.focus(); } },
      },
    }, name, description,
    negative ? h("label", { class: "cvb-field cvb-st-negative", title: "A Negative tag marks images that show none of the other tags" }, negative, "Negative") : null,
    h("button", { class: "cvb-btn is-primary is-small", type: "submit", dataset: { action: "save-tag" } }, "Save"),
    h("button", { class: "cvb-btn is-small", type: "button", on: { click: () => { editing = null; renderTags(); } } }, "Cancel"));
    requestAnimationFrame(() => { if (name.isConnected) name.focus(); });
    return h("tr", { class: "cvb-st-tag is-editing", dataset: { tag: t.id, name: t.name } }, h("td", { colspan: "5" }, form));
  }

  function tagRow(t, tags) {
    if (editing === t.id) return [editRow(t)];
    const others = tags.filter((o) => o.id !== t.id && o.type === t.type);
    const merge = others.length ? cvbSelect([{ value: "", label: "Merge into\u2026" }, ...others.map((o) => ({ value: o.id, label: o.name }))], "",
      (v) => { if (v) { confirming = { action: "merge", tag: t.id, into: v }; renderTags(); } },
      { class: "cvb-select cvb-st-merge", "aria-label": `Merge ${t.name} into another tag` }) : null;
    const row = h("tr", { class: "cvb-st-tag", dataset: { tag: t.id, name: t.name } },
      h("td", null, h("div", { class: "cvb-st-tag-cell" }, h("span", { class: "cvb-dot", style: { "--tag": color(t.id) } }),
        h("span", { class: "cvb-st-tag-label", text: t.name }), t.type === "Negative" ? h("span", { class: "cvb-neg", text: "Negative" }) : null)),
      h("td", { class: "cvb-st-tag-desc cvb-subtle", text: t.description || "" }),
      h("td", { class: "is-num", text: cvbFmt(t.count) }),
      detection() ? h("td", { class: "is-num", text: cvbFmt(t.regions) }) : null,
      h("td", null, h("div", { class: "cvb-st-tag-actions" },
        h("button", { class: "cvb-btn is-small", type: "button", dataset: { action: "edit-tag" }, on: { click: () => { editing = t.id; confirming = null; renderTags(); } } }, "Edit"),
        merge,
        h("button", { class: "cvb-btn is-small is-danger", type: "button", dataset: { action: "delete-tag" }, on: { click: () => { confirming = { action: "delete", tag: t.id }; editing = null; renderTags(); } } }, "Delete"))));
    const bar = confirmBar(t);
    return bar ? [row, h("tr", { class: "cvb-st-confirm-row" }, h("td", { colspan: detection() ? "5" : "4" }, bar))] : [row];
  }

  function renderTags() {
    const tags = model.get("tag_details") || [];
    if (editing && !tags.some((t) => t.id === editing)) editing = null;
    if (confirming && !tags.some((t) => t.id === confirming.tag)) confirming = null;
    const title = h("div", { class: "cvb-st-card-title" }, h("span", { class: "cvb-section-title", text: "Tags" }),
      h("span", { class: "cvb-subtle", text: detection() ? "Rename, describe, merge or delete the tags of the boxes." : "Rename, describe, merge or delete tags; mark the Negative tag (images that show none of the others)." }));
    if (!tags.length) {
      cvbFill(tagsCard, title, h("div", { class: "cvb-empty cvb-empty-small" }, h("div", { class: "cvb-empty-title", text: "No tags yet" }),
        h("div", { text: cvbInWorkbench(model) ? "Add tags in the Images or Tag tab." : "Add tags with project.create_tag(name) or in the Gallery." })));
      return;
    }
    cvbFill(tagsCard, title,
      h("table", { class: "cvb-table cvb-st-tagtable" },
        h("thead", null, h("tr", null, h("th", { text: "Tag" }), h("th", { text: "Description" }), h("th", { class: "is-num", text: "Images" }),
          detection() ? h("th", { class: "is-num", text: "Boxes" }) : null, h("th", { text: "" }))),
        h("tbody", null, tags.map((t) => tagRow(t, tags)))));
  }

  on("change:settings change:domains change:trained_domain change:host change:kind", renderProject);
  on("change:settings change:limit_bounds change:kind", () => renderLimits(false));
  on("change:tag_details change:tags change:palette change:kind", renderTags);
  renderHeader();
  renderProject();
  renderLimits(true);
  renderTags();
  return () => on.dispose();
}

export default { render };
