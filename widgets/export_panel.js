// ExportPanel: export an iteration to ONNX, TorchScript or fastai into a folder, and show the
// files and the parity check (cvbench/ui/workbench.py). The export runs in a Python thread.

import {
  h, cvbFill, cvbIcon, cvbInWorkbench, cvbIterationSelect, cvbMount, cvbNotice, cvbPlural, cvbSet, cvbTile
} from "./common.js";

const CVB_FORMAT_NAMES = { onnx: "ONNX", torchscript: "TorchScript", fastai: "fastai" };

function cvbKB(n) {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1e3))} KB`;
}

/** The parity check of an export: did the exported model give the in-app numbers? */
function cvbParity(report) {
  const p = report.parity;
  if (!p) {
    return h("div", { class: "cvb-card cvb-ex-parity" }, h("div", { class: "cvb-label" }, "Parity check"),
      h("div", { class: "cvb-subtle", text: "Not checked: a fastai export is a pickle, and cvbench never loads pickles. Load it only where you trust it." }));
  }
  const sci = (x) => (x === null || x === undefined ? "\u2014" : Number(x).toExponential(1));
  return h("div", { class: `cvb-card cvb-ex-parity ${p.ok ? "is-ok" : "is-bad"}` },
    h("div", { class: "cvb-ex-parity-head" },
      h("span", { class: "cvb-label" }, "Parity check"),
      h("span", { class: `cvb-badge ${p.ok ? "is-ok" : "is-error"}`, text: p.ok ? "Passed" : "Failed" })),
    h("div", { class: "cvb-ex-parity-text", text: `${p.ok ? "The exported model gives the in-app predictions" : "The exported model differs from the app"} on ${cvbPlural(p.images, `${p.source || ""} image`.trim())}.` }),
    h("div", { class: "cvb-tiles" },
      cvbTile("Largest probability difference", sci(p.max_abs_diff), "", null),
      cvbTile("Tolerance", sci(p.tolerance), "", null),
      cvbTile("Same top tag", p.same_top ? "Every image" : "No", "", null)));
}

function render({ model, el }) {
  const { on, root } = cvbMount(model, el, "export");
  const header = h("div", { class: "cvb-header" });
  const form = h("div", { class: "cvb-ex-form" });
  const result = h("div", { class: "cvb-ex-result" });
  root.append(header, form, result, cvbNotice(model, on));

  const folder = h("input", { class: "cvb-input cvb-ex-folder", "aria-label": "Folder to export into", spellcheck: "false" });
  folder.value = model.get("folder");
  folder.addEventListener("change", () => cvbSet(model, { folder: folder.value }));

  function renderHeader() {
    cvbFill(header,
      h("div", { class: "cvb-title" }, "Export"),
      h("span", { class: "cvb-subtle" }, "Run the model outside cvbench"),
      h("div", { class: "cvb-spacer" }),
      h("button", { class: "cvb-btn is-quiet", on: { click: () => model.send({ type: "refresh" }) } }, cvbIcon("refresh"), "Refresh"));
  }

  function renderForm() {
    const its = model.get("iterations") || [];
    const busy = model.get("busy");
    if (!its.length) {
      cvbFill(form, h("div", { class: "cvb-empty" }, h("div", { class: "cvb-empty-title", text: "No iteration to export" }), h("div", { text: `Train one first ${cvbInWorkbench(model) ? "in the Train tab" : "with project.train() or TrainPanel(project)"}.` })));
      return;
    }
    syncFolder();
    folder.disabled = busy;
    cvbFill(form,
      h("label", { class: "cvb-ex-row" }, h("span", { class: "cvb-label" }, "Iteration"),
        cvbIterationSelect(model, (v) => cvbSet(model, { iteration: v }), { disabled: busy })),
      h("div", { class: "cvb-ex-row" }, h("span", { class: "cvb-label" }, "Format"),
        h("div", { class: "cvb-ex-formats" }, (model.get("formats") || []).map((f) => h("label", { class: `cvb-ex-format${model.get("format") === f.name ? " is-active" : ""}`, dataset: { format: f.name } },
          h("input", { type: "radio", name: "cvb-ex-format", checked: model.get("format") === f.name, disabled: busy, on: { change: () => cvbSet(model, { format: f.name }) } }),
          h("span", null, h("b", { text: CVB_FORMAT_NAMES[f.name] || f.name }), h("div", { class: "cvb-subtle", text: f.text })))))),
      h("label", { class: "cvb-ex-row" }, h("span", { class: "cvb-label" }, "Folder"), folder),
      h("div", { class: "cvb-ex-row" }, h("span"),
        h("button", { class: "cvb-btn is-primary", dataset: { action: "export" }, disabled: busy,
          on: { click: () => model.send({ type: "export", iteration: model.get("iteration"), format: model.get("format"), folder: folder.value }) } },
        busy ? "Exporting\u2026" : "Export"),
        busy ? h("span", { class: "cvb-subtle" }, " Exporting and checking the export against the in-app predictions\u2026") : null));
  }

  function renderResult() {
    const r = model.get("result") || {};
    if (!r.status) { cvbFill(result); return; }
    cvbFill(result,
      h("div", { class: `cvb-ex-status is-${r.status}` }, h("b", { text: r.status === "done" ? "Exported" : "Export failed" }), h("span", { text: ` \u00b7 ${r.text}` })),
      r.status === "done" && r.report ? cvbParity(r.report) : null,
      r.files && r.files.length
        ? h("div", { class: "cvb-card" }, h("div", { class: "cvb-label" }, "Files"),
          h("table", { class: "cvb-table" }, h("tbody", null, r.files.map((f) => h("tr", null, h("td", { class: "cvb-ex-file", text: f.name }), h("td", { class: "is-num cvb-subtle", text: cvbKB(f.size) }))))))
        : null);
  }

  // The folder input lives across renders and is updated in place: re-rendering the form on
  // change:folder (which the input's own change event sets, on blur) would replace the Export
  // button between mousedown and click, and the click would be lost.
  function syncFolder() {
    if (document.activeElement !== folder && folder.value !== model.get("folder")) folder.value = model.get("folder");
  }

  on("change:iterations change:iteration change:format change:formats change:busy change:host", renderForm);
  on("change:folder", syncFolder);
  on("change:result", renderResult);
  renderHeader();
  renderForm();
  renderResult();
  return () => on.dispose();
}

export default { render };
