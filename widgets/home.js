// ProjectsHome (cvbench/ui/home.py): the projects of a folder as cards (thumbnail, name,
// kind, domain, images, newest iteration), the New project and Import forms, and per project
// Open, Rename, Duplicate and Delete (confirmed here). While a project is open the home is
// a bar above its Workbench, with the way back to the list.

import {
  h, cvbFill, cvbFmt, cvbIcon, cvbMount, cvbNotice, cvbPlural, cvbSelect, cvbWhen
} from "./common.js";

const CVB_KIND_LABELS = { multiclass: "Classification \u00b7 multiclass", multilabel: "Classification \u00b7 multilabel", detection: "Object detection" };
const CVB_FORMAT_LABELS = { imagefolder: "ImageFolder", csv: "CSV", coco: "COCO", voc: "Pascal VOC", yolo: "YOLO", archive: "cvbench project archive" };

function render({ model, el }) {
  const { on, root } = cvbMount(model, el, "home");
  const main = h("div", { class: "cvb-hm-main" });
  const busy = h("div", { class: "cvb-hm-busy", role: "status" });
  root.append(main, busy, cvbNotice(model, on));

  let panel = null; // "create" | "import" | null
  let renaming = null; // folder being renamed
  let confirming = null; // folder awaiting delete confirmation
  let duplicating = null; // folder whose duplicate form is open
  let draft = { name: "", description: "", kind: "multiclass", domain: "", format: "imagefolder", path: "", file: null };

  const projects = () => model.get("projects") || [];
  const domainsOf = (kind) => (model.get("domains") || {})[kind] || [];

  function renderBusy() {
    const text = model.get("busy");
    busy.className = `cvb-hm-busy${text ? " is-visible" : ""}`;
    cvbFill(busy, text ? [h("span", { class: "cvb-hm-spinner", "aria-hidden": "true" }), h("span", { text })] : null);
  }

  // -- the bar above an open project ----------------------------------------------------------
  function renderBar() {
    root.classList.add("is-bar");
    cvbFill(main, h("div", { class: "cvb-hm-bar" },
      h("button", { class: "cvb-btn is-quiet cvb-hm-back", dataset: { action: "back" }, on: { click: () => model.send({ type: "back" }) } }, "\u2190 All projects"),
      h("span", { class: "cvb-hm-crumbs" },
        h("span", { class: "cvb-subtle", text: "Projects" }), h("span", { class: "cvb-muted", text: " / " }),
        h("b", { text: model.get("opened_name") || model.get("opened") })),
      h("div", { class: "cvb-spacer" }),
      h("span", { class: "cvb-subtle cvb-hm-root", text: model.get("root"), title: model.get("root") })));
  }

  // -- the forms -------------------------------------------------------------------------------
  function kindChoice(onPick) {
    const classification = draft.kind !== "detection";
    const seg = (label, active, pick, action) => h("button", { type: "button", class: active ? "is-active" : "", dataset: { kind: action }, on: { click: () => { pick(); onPick(); } } }, label);
    return [
      h("label", { class: "cvb-hm-row" }, h("span", { class: "cvb-label", text: "Project type" }),
        h("div", { class: "cvb-seg" },
          seg("Classification", classification, () => { if (!classification) draft.kind = "multiclass"; }, "classification"),
          seg("Object detection", !classification, () => { draft.kind = "detection"; }, "detection"))),
      classification ? h("label", { class: "cvb-hm-row" }, h("span", { class: "cvb-label", text: "Classification type" }),
        h("div", { class: "cvb-seg" },
          seg("Multiclass (one tag per image)", draft.kind === "multiclass", () => { draft.kind = "multiclass"; }, "multiclass"),
          seg("Multilabel (several tags per image)", draft.kind === "multilabel", () => { draft.kind = "multilabel"; }, "multilabel"))) : null,
    ];
  }

  function domainChoice() {
    const options = domainsOf(draft.kind).map((d) => ({ value: d.name, label: d.offline ? d.name : `${d.name} (downloads its weights)` }));
    if (!options.some((o) => o.value === draft.domain)) draft.domain = options.some((o) => o.value === model.get("default_domain")) ? model.get("default_domain") : (options[0] || {}).value || "";
    return h("label", { class: "cvb-hm-row" }, h("span", { class: "cvb-label", text: "Domain" }),
      cvbSelect(options, draft.domain, (v) => { draft.domain = v; }, { name: "domain", "aria-label": "Domain", class: "cvb-select cvb-hm-domain" }));
  }

  function textField(label, key, props) {
    const input = h(props && props.rows ? "textarea" : "input", {
      class: props && props.rows ? "cvb-textarea cvb-hm-text" : "cvb-input cvb-hm-text", name: key, "aria-label": label, ...(props || {}),
      on: { input: (e) => { draft[key] = e.target.value; } },
    });
    input.value = draft[key] || "";
    return h("label", { class: "cvb-hm-row" }, h("span", { class: "cvb-label", text: label }), input);
  }

  function closePanel() { panel = null; renderList(); }

  function createForm() {
    return h("form", {
      class: "cvb-card cvb-hm-panel", dataset: { panel: "create" },
      on: { submit: (e) => {
        e.preventDefault();
        model.send({ type: "create", name: draft.name, description: draft.description, kind: draft.kind, domain: draft.domain });
      } },
    },
    h("div", { class: "cvb-section-title", text: "New project" }),
    textField("Name", "name", { placeholder: "e.g. Flowers", maxlength: "256", required: true }),
    textField("Description", "description", { rows: "2", placeholder: "What the project is for (optional)" }),
    kindChoice(renderList), domainChoice(),
    h("div", { class: "cvb-hm-row" }, h("span"), h("div", { class: "cvb-hm-actions" },
      h("button", { class: "cvb-btn is-primary", type: "submit", dataset: { action: "create" } }, "Create project"),
      h("button", { class: "cvb-btn", type: "button", on: { click: closePanel } }, "Cancel"))));
  }

  function importForm() {
    const archive = draft.format === "archive";
    const formats = (model.get("formats") || []).map((f) => ({ value: f.name, label: CVB_FORMAT_LABELS[f.name] || f.name }));
    const text = ((model.get("formats") || []).find((f) => f.name === draft.format) || {}).text || "";
    const file = h("input", { type: "file", accept: ".zip,application/zip", class: "cvb-hm-file", "aria-label": "Upload a .zip",
      on: { change: (e) => { draft.file = e.target.files[0] || null; renderList(); } } });
    return h("form", {
      class: "cvb-card cvb-hm-panel", dataset: { panel: "import" },
      on: { submit: async (e) => {
        e.preventDefault();
        const msg = { type: "import", name: draft.name, kind: draft.kind, domain: draft.domain, format: draft.format, path: draft.path, file_name: "" };
        if (draft.file) {
          msg.file_name = draft.file.name;
          model.send(msg, undefined, [await draft.file.arrayBuffer()]);
        } else model.send(msg);
      } },
    },
    h("div", { class: "cvb-section-title", text: "Import into a new project" }),
    textField("Name", "name", { placeholder: "The new project's name", maxlength: "256", required: true }),
    h("label", { class: "cvb-hm-row" }, h("span", { class: "cvb-label", text: "Format" }),
      h("div", null, cvbSelect(formats, draft.format, (v) => { draft.format = v; renderList(); }, { name: "format", "aria-label": "Format", class: "cvb-select cvb-hm-format" }),
        h("div", { class: "cvb-hm-hint", text: text }))),
    archive ? null : kindChoice(renderList), archive ? null : domainChoice(),
    h("div", { class: "cvb-hm-row" }, h("span", { class: "cvb-label", text: "From" }),
      h("div", { class: "cvb-hm-source" },
        draft.file
          ? h("div", { class: "cvb-hm-chosen" }, h("b", { text: draft.file.name }), h("span", { class: "cvb-subtle", text: ` ${(draft.file.size / 1e6).toFixed(1)} MB` }),
            h("button", { class: "cvb-btn is-quiet is-small", type: "button", on: { click: () => { draft.file = null; renderList(); } } }, "Remove"))
          : h("input", { class: "cvb-input cvb-hm-path", name: "path", value: draft.path, placeholder: archive ? "/path/to/project.zip" : "/path/to/dataset (a folder or a .zip)", spellcheck: "false", "aria-label": "Path of the dataset",
            on: { input: (e) => { draft.path = e.target.value; } } }),
        draft.file ? null : h("span", { class: "cvb-subtle", text: "or upload a .zip:" }), draft.file ? null : file)),
    h("div", { class: "cvb-hm-row" }, h("span"), h("div", { class: "cvb-hm-actions" },
      h("button", { class: "cvb-btn is-primary", type: "submit", dataset: { action: "import" }, disabled: !!model.get("busy") }, "Import"),
      h("button", { class: "cvb-btn", type: "button", on: { click: closePanel } }, "Cancel"))));
  }

  // -- the cards -----------------------------------------------------------------------------------
  function lastIteration(p) {
    const it = p.last_iteration || {};
    if (!it.name) return h("span", { class: "cvb-muted", text: "Not trained yet" });
    return h("span", null, h("span", { text: `${it.name} \u00b7 ${cvbWhen(it.created)}` }),
      it.published ? h("span", { class: "cvb-badge is-ok", text: `Published: ${it.published}` }) : null);
  }

  function cardBottom(p) {
    if (confirming === p.folder) {
      return h("div", { class: "cvb-hm-confirm", role: "alertdialog" },
        h("div", { text: `Delete \u201c${p.name}\u201d${p.error ? "" : ` and its ${cvbPlural(p.images, "image")} and ${cvbPlural(p.iterations, "iteration")}`}? Its folder goes too; this cannot be undone.` }),
        h("div", { class: "cvb-hm-actions" },
          h("button", { class: "cvb-btn is-danger is-solid is-small", dataset: { action: "confirm-delete" }, on: { click: () => { confirming = null; model.send({ type: "delete", folder: p.folder }); } } }, "Delete project"),
          h("button", { class: "cvb-btn is-small", on: { click: () => { confirming = null; renderList(); } } }, "Cancel")));
    }
    if (renaming === p.folder || duplicating === p.folder) {
      const dup = duplicating === p.folder;
      const input = h("input", { class: "cvb-input cvb-hm-newname", name: "name", value: dup ? `${p.name} (copy)` : p.name, maxlength: "256", "aria-label": dup ? "Name of the copy" : "New name" });
      requestAnimationFrame(() => { if (input.isConnected) { input.focus(); input.select(); } });
      return h("form", {
        class: "cvb-hm-rename",
        on: {
          submit: (e) => {
            e.preventDefault();
            renaming = duplicating = null;
            model.send(dup ? { type: "duplicate", folder: p.folder, name: input.value } : { type: "rename", folder: p.folder, name: input.value });
            renderList();
          },
          keydown: (e) => { if (e.key === "Escape") { renaming = duplicating = null; renderList(); } },
        },
      }, input,
      h("button", { class: "cvb-btn is-primary is-small", type: "submit", dataset: { action: dup ? "save-duplicate" : "save-rename" } }, dup ? "Duplicate" : "Rename"),
      h("button", { class: "cvb-btn is-small", type: "button", on: { click: () => { renaming = duplicating = null; renderList(); } } }, "Cancel"));
    }
    const act = (label, action, fn, cls) => h("button", { class: `cvb-btn is-small ${cls || ""}`, type: "button", dataset: { action }, on: { click: (e) => { e.stopPropagation(); fn(); } } }, label);
    return h("div", { class: "cvb-hm-card-actions" },
      p.error ? null : act("Open", "open", () => model.send({ type: "open", folder: p.folder }), "is-primary"),
      p.error ? null : act("Rename", "rename", () => { renaming = p.folder; duplicating = confirming = null; renderList(); }),
      p.error ? null : act("Duplicate", "duplicate", () => { duplicating = p.folder; renaming = confirming = null; renderList(); }),
      act("Delete", "delete", () => { confirming = p.folder; renaming = duplicating = null; renderList(); }, "is-danger"));
  }

  function card(p) {
    const thumb = p.thumbnail
      ? h("img", { class: "cvb-hm-thumb", src: p.thumbnail, alt: "", loading: "lazy" })
      : h("div", { class: "cvb-hm-thumb is-empty", "aria-hidden": "true" }, h("span", { text: p.error ? "!" : "No images" }));
    return h("article", {
      class: `cvb-hm-card${p.error ? " is-broken" : ""}`, dataset: { folder: p.folder, name: p.name },
      "aria-label": p.name,
    },
    h("div", { class: "cvb-hm-thumbwrap", title: p.error ? "" : "Open", on: { click: () => { if (!p.error) model.send({ type: "open", folder: p.folder }); } } }, thumb),
    h("div", { class: "cvb-hm-card-body" },
      h("div", { class: "cvb-hm-card-name", text: p.name, title: `${p.name} \u2014 folder ${p.folder}` }),
      p.error
        ? h("div", { class: "cvb-hm-error", text: p.error })
        : [
          h("div", { class: "cvb-hm-card-meta" }, h("span", { class: "cvb-badge is-kind", text: CVB_KIND_LABELS[p.kind] || p.kind }), h("span", { class: "cvb-subtle", text: p.domain })),
          h("div", { class: "cvb-hm-card-counts" }, h("span", { text: cvbPlural(p.images, "image") }), h("span", { class: "cvb-muted", text: "\u00b7" }), h("span", { text: cvbPlural(p.tags, "tag") })),
          h("div", { class: "cvb-hm-card-iter cvb-subtle" }, lastIteration(p)),
          p.description ? h("div", { class: "cvb-hm-card-desc cvb-subtle", text: p.description, title: p.description }) : null,
        ],
      cardBottom(p)));
  }

  function renderList() {
    root.classList.remove("is-bar");
    const list = projects();
    const header = h("div", { class: "cvb-header" },
      h("div", { class: "cvb-wb-logo cvb-hm-logo", "aria-hidden": "true" }, h("span", null, "cv")),
      h("div", { class: "cvb-hm-title" }, h("div", { class: "cvb-title", text: "Projects" }), h("div", { class: "cvb-subtle cvb-hm-root", text: `${cvbPlural(list.length, "project")} in ${model.get("root")}`, title: model.get("root") })),
      h("div", { class: "cvb-spacer" }),
      h("button", { class: `cvb-btn${panel === "create" ? " is-active" : " is-primary"}`, dataset: { action: "new" }, on: { click: () => { panel = panel === "create" ? null : "create"; renderList(); } } }, "+ New project"),
      h("button", { class: `cvb-btn${panel === "import" ? " is-active" : ""}`, dataset: { action: "show-import" }, on: { click: () => { panel = panel === "import" ? null : "import"; renderList(); } } }, "Import\u2026"),
      h("button", { class: "cvb-btn is-quiet", on: { click: () => model.send({ type: "refresh" }) } }, cvbIcon("refresh"), "Refresh"));
    const body = list.length
      ? h("div", { class: "cvb-hm-grid" }, list.map(card))
      : h("div", { class: "cvb-empty" }, h("div", { class: "cvb-empty-title", text: "No projects here yet" }),
        h("div", { text: "Create a project, or import a dataset (COCO, Pascal VOC, YOLO, CSV, ImageFolder) or a project archive." }));
    cvbFill(main, header, panel === "create" ? createForm() : panel === "import" ? importForm() : null, body);
  }

  function renderAll() {
    if (model.get("opened")) renderBar(); else renderList();
  }

  on("change:projects", () => {
    const folders = new Set(projects().map((p) => p.folder));
    if (renaming && !folders.has(renaming)) renaming = null;
    if (confirming && !folders.has(confirming)) confirming = null;
    if (duplicating && !folders.has(duplicating)) duplicating = null;
    if (!model.get("opened")) renderList();
  });
  on("change:opened change:opened_name", () => {
    if (model.get("opened")) { // a project opened: the forms are done with
      panel = null;
      draft = { ...draft, name: "", description: "", path: "", file: null };
    }
    renderAll();
  });
  on("change:busy", () => { renderBusy(); if (!model.get("opened") && panel === "import") renderList(); });
  on("change:notice", () => {
    const n = model.get("notice") || {};
    if (n.level === "success" && panel && !model.get("opened")) { // the form did its work
      panel = null;
      draft = { ...draft, name: "", description: "", path: "", file: null };
      renderList();
    }
  });
  renderBusy();
  renderAll();
  return () => on.dispose();
}

export default { render };
