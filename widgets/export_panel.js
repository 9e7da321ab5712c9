// ExportPanel (cvbench/ui/export_panel.py): export an iteration into a folder with its parity
// check, download the model files, the dataset or the project archive, and publish the iteration
// with the snippets that call it. Exports run in Python threads.
//
// Downloads come over the widget's channel, never from a URL of the server: "download" {id}
// (an offer of the panel) -> "download_start" {transfer, name, size, chunks, window}; then the
// browser asks for "download_chunk" {transfer, index}, a window of them at a time, each
// answered by "download_data" {index} with the bytes as its buffer; the chunks make a Blob
// that an <a download> saves. "download_failed" ends a transfer; Cancel ends it here.

import {
  h, cvbFill, cvbIcon, cvbInWorkbench, cvbIterationSelect, cvbMount, cvbNotice, cvbPlural, cvbSet, cvbTile
} from "./common.js";

const CVB_FORMAT_NAMES = { onnx: "ONNX", torchscript: "TorchScript", fastai: "fastai", openvino: "OpenVINO IR", coreml: "Core ML", tflite: "TFLite" };
const CVB_DATASET_NAMES = { imagefolder: "ImageFolder", csv: "CSV", coco: "COCO", voc: "Pascal VOC", yolo: "YOLO", archive: "Project archive" };
const CVB_STALL_MS = 120000;

function cvbKB(n) {
  return n >= 1e6 ? `${(n / 1e6).toFixed(1)} MB` : `${Math.max(1, Math.round(n / 1e3))} KB`;
}

/** The parity check of an export: did the exported model give the in-app numbers? */
function cvbParity(report) {
  const p = report.parity;
  if (!p) {
    return h("div", { class: "cvb-card cvb-ex-parity is-unchecked" },
      h("div", { class: "cvb-ex-parity-head" }, h("span", { class: "cvb-label" }, "Parity check"),
        h("span", { class: "cvb-badge is-warn", text: "Unchecked" })),
      h("div", { class: "cvb-subtle", text: `Not checked: ${report.unchecked || "this export was made without its check"}.` }));
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

/** Copy ``text`` to the clipboard (a hidden textarea where the Clipboard API is refused). */
async function cvbCopy(text) {
  try {
    await navigator.clipboard.writeText(text);
    return true;
  } catch (err) {
    const area = h("textarea", { style: { position: "fixed", opacity: "0" } });
    area.value = text;
    document.body.append(area);
    area.select();
    const ok = document.execCommand("copy");
    area.remove();
    return ok;
  }
}

function cvbSnippet(label, text, action) {
  const button = h("button", { class: "cvb-btn is-quiet cvb-ex-copy", dataset: { copy: action }, title: `Copy ${label}` }, "Copy");
  button.addEventListener("click", async () => {
    const ok = await cvbCopy(text);
    button.textContent = ok ? "Copied" : "Select and copy";
    setTimeout(() => { button.textContent = "Copy"; }, 1500);
  });
  return h("div", { class: "cvb-ex-snippet", dataset: { snippet: action } },
    h("div", { class: "cvb-ex-snippet-head" }, h("span", { class: "cvb-label", text: label }), button),
    h("pre", { class: "cvb-ex-code", text }));
}

/** The downloads of one widget view: each transfer's progress, Cancel, and how it ended. */
function cvbDownloads(model, box) {
  const transfers = new Map();   // transfer id -> state
  const waiting = new Map();     // offer id -> row (asked, not started yet)

  function row(name) {
    const bar = h("div", { class: "cvb-ex-bar" }, h("div", { class: "cvb-ex-bar-fill" }));
    const text = h("span", { class: "cvb-ex-dl-text", text: `Preparing ${name}\u2026` });
    const cancel = h("button", { class: "cvb-btn is-quiet", dataset: { action: "cancel-download" } }, "Cancel");
    const node = h("div", { class: "cvb-ex-dl is-running", role: "status" }, h("b", { text: name }), bar, text, cancel);
    box.append(node);
    return { node, bar, text, cancel };
  }

  function finish(s, status, message) {
    s.done = true;
    clearTimeout(s.timer);
    transfers.delete(s.transfer);
    s.ui.node.className = `cvb-ex-dl is-${status}`;
    s.ui.node.dataset.status = status;
    s.ui.text.textContent = message;
    s.ui.cancel.remove();
  }

  function end(s, status, message) {
    finish(s, status, message);
    model.send({ type: "download_end", transfer: s.transfer, status, text: message });
  }

  function watchdog(s) {
    clearTimeout(s.timer);
    s.timer = setTimeout(() => { if (!s.done) end(s, "failed", `Download failed: the kernel stopped answering (${s.received} of ${s.size} bytes came)`); }, CVB_STALL_MS);
  }

  function ask(s) {
    while (s.next < s.chunks && s.next - s.got < s.window) {
      model.send({ type: "download_chunk", transfer: s.transfer, index: s.next });
      s.next += 1;
    }
  }

  function save(s) {
    const blob = new Blob(s.parts, { type: s.mime });
    if (blob.size !== s.size) { end(s, "failed", `Download failed: ${blob.size} bytes came, ${s.size} expected`); return; }
    const url = URL.createObjectURL(blob);
    const a = h("a", { href: url, download: s.name, style: { display: "none" } });
    document.body.append(a);
    a.click();
    a.remove();
    setTimeout(() => URL.revokeObjectURL(url), 60000);
    end(s, "done", `Downloaded ${s.name} (${cvbKB(s.size)})`);
  }

  function onMessage(msg, buffers) {
    if (!msg || typeof msg.type !== "string" || !msg.type.startsWith("download_")) return;
    if (msg.type === "download_start") {
      const ui = waiting.get(msg.id) || row(msg.name);
      waiting.delete(msg.id);
      const s = { transfer: msg.transfer, name: msg.name, size: msg.size, chunks: msg.chunks, window: msg.window || 3, mime: msg.mime, parts: new Array(msg.chunks), next: 0, got: 0, received: 0, ui, done: false, timer: null };
      ui.text.textContent = `0 of ${cvbKB(s.size)}`;
      ui.cancel.onclick = () => end(s, "cancelled", `Download of ${s.name} cancelled`);
      transfers.set(s.transfer, s);
      watchdog(s);
      ask(s);
    } else if (msg.type === "download_data") {
      const s = transfers.get(msg.transfer);
      if (!s || s.done) return;
      const buf = buffers && buffers[0];
      const bytes = buf ? new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength).slice() : new Uint8Array(0);
      if (s.parts[msg.index] === undefined) {
        s.parts[msg.index] = bytes;
        s.got += 1;
        s.received += bytes.byteLength;
      }
      s.ui.bar.firstChild.style.width = `${s.size ? (100 * s.received) / s.size : 100}%`;
      s.ui.text.textContent = `${cvbKB(s.received)} of ${cvbKB(s.size)}`;
      watchdog(s);
      if (s.got === s.chunks) save(s); else ask(s);
    } else if (msg.type === "download_failed") {
      const s = transfers.get(msg.transfer);
      if (s) { finish(s, "failed", `Download failed: ${msg.text}`); return; }
      const ui = waiting.get(msg.id);
      if (ui) {
        waiting.delete(msg.id);
        ui.node.className = "cvb-ex-dl is-failed";
        ui.node.dataset.status = "failed";
        ui.text.textContent = `Download failed: ${msg.text}`;
        ui.cancel.remove();
      }
    }
  }

  function start(offer, name) {
    const ui = row(name);
    ui.cancel.onclick = () => {
      waiting.delete(offer);
      ui.node.className = "cvb-ex-dl is-cancelled";
      ui.node.dataset.status = "cancelled";
      ui.text.textContent = `Download of ${name} cancelled`;
      ui.cancel.remove();
    };
    waiting.set(offer, ui);
    model.send({ type: "download", id: offer });
  }

  model.on("msg:custom", onMessage);
  return { start, dispose: () => { model.off("msg:custom", onMessage); transfers.forEach((s) => clearTimeout(s.timer)); } };
}

function render({ model, el }) {
  const { on, root } = cvbMount(model, el, "export");
  const header = h("div", { class: "cvb-header" });
  const form = h("div", { class: "cvb-ex-form" });
  const result = h("div", { class: "cvb-ex-result" });
  const dataset = h("div", { class: "cvb-card cvb-ex-section cvb-ex-dataset" });
  const publish = h("div", { class: "cvb-card cvb-ex-section cvb-ex-publish" });
  const transfers = h("div", { class: "cvb-ex-downloads", "aria-live": "polite" });
  const modelCard = h("div", { class: "cvb-card cvb-ex-section cvb-ex-model" }, h("div", { class: "cvb-ex-section-title", text: "Model" }), form, result);
  root.append(header, h("div", { class: "cvb-ex-body" }, modelCard, transfers, publish, dataset), cvbNotice(model, on));
  const downloads = cvbDownloads(model, transfers);

  const folder = h("input", { class: "cvb-input cvb-ex-folder", "aria-label": "Folder to export into", spellcheck: "false" });
  folder.value = model.get("folder");
  folder.addEventListener("change", () => cvbSet(model, { folder: folder.value }));

  function renderHeader() {
    cvbFill(header,
      h("div", { class: "cvb-title" }, "Export"),
      h("span", { class: "cvb-subtle" }, "Run the model outside cvbench, download the data, publish"),
      h("div", { class: "cvb-spacer" }),
      h("button", { class: "cvb-btn is-quiet", on: { click: () => model.send({ type: "refresh" }) } }, cvbIcon("refresh"), "Refresh"));
  }

  function formatOption(f, busy) {
    const active = model.get("format") === f.name;
    const off = !f.available;
    return h("label", { class: `cvb-ex-format${active ? " is-active" : ""}${off ? " is-off" : ""}`, dataset: { format: f.name }, title: off ? f.reason : "" },
      h("input", { type: "radio", name: "cvb-ex-format", checked: active, disabled: busy || off, on: { change: () => cvbSet(model, { format: f.name }) } }),
      h("span", null, h("b", { text: CVB_FORMAT_NAMES[f.name] || f.name }),
        h("div", { class: "cvb-subtle", text: off ? `Not available: ${f.reason}` : f.text })));
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
        h("div", { class: "cvb-ex-formats" }, (model.get("formats") || []).map((f) => formatOption(f, busy)))),
      h("label", { class: "cvb-ex-row" }, h("span", { class: "cvb-label" }, "Folder"), folder),
      h("div", { class: "cvb-ex-row" }, h("span"),
        h("button", { class: "cvb-btn is-primary", dataset: { action: "export" }, disabled: busy,
          on: { click: () => model.send({ type: "export", iteration: model.get("iteration"), format: model.get("format"), folder: folder.value }) } },
        busy ? "Exporting\u2026" : "Export"),
        busy ? h("span", { class: "cvb-subtle" }, " Exporting and checking the export against the in-app predictions\u2026") : null));
  }

  function downloadButton(offer, name, action) {
    return h("button", { class: "cvb-btn is-quiet", dataset: { action, offer }, on: { click: () => downloads.start(offer, name) } }, "Download");
  }

  function renderResult() {
    const r = model.get("result") || {};
    if (!r.status) { cvbFill(result); return; }
    cvbFill(result,
      h("div", { class: `cvb-ex-status is-${r.status}` }, h("b", { text: r.status === "done" ? "Exported" : "Export failed" }), h("span", { text: ` \u00b7 ${r.text}` })),
      r.status === "done" && r.report ? cvbParity(r.report) : null,
      r.files && r.files.length
        ? h("div", { class: "cvb-card" }, h("div", { class: "cvb-label" }, "Files"),
          h("table", { class: "cvb-table" }, h("tbody", null, r.files.map((f) => h("tr", null,
            h("td", { class: "cvb-ex-file", text: f.name }), h("td", { class: "is-num cvb-subtle", text: cvbKB(f.size) }),
            h("td", { class: "cvb-ex-file-action" }, f.download ? downloadButton(f.download, f.name.split("/").pop() + (f.name.endsWith(".mlpackage") ? ".zip" : ""), "download-model") : null))))))
        : null);
  }

  function renderDataset() {
    const busy = model.get("dataset_busy");
    const r = model.get("dataset_result") || {};
    const select = h("select", { class: "cvb-select cvb-ex-dataset-format", "aria-label": "Dataset format", disabled: busy },
      (model.get("dataset_formats") || []).map((f) => h("option", { value: f.name, text: `${CVB_DATASET_NAMES[f.name] || f.name} \u2014 ${f.text}` })));
    if (r.format) select.value = r.format;
    cvbFill(dataset,
      h("div", { class: "cvb-ex-section-title", text: "Dataset" }),
      h("div", { class: "cvb-subtle", text: "The images with their tags and boxes in a format other tools read, or the whole project as an archive to open elsewhere." }),
      h("div", { class: "cvb-ex-inline" }, select,
        h("button", { class: "cvb-btn", dataset: { action: "export-dataset" }, disabled: busy, on: { click: () => model.send({ type: "export_dataset", format: select.value }) } },
          busy ? "Preparing\u2026" : "Prepare download")),
      r.status ? h("div", { class: `cvb-ex-status is-${r.status}` }, h("span", { text: r.text }),
        r.download ? h("span", null, " ", h("span", { class: "cvb-subtle", text: `${cvbKB(r.download.size)} ` }), downloadButton(r.download.id, r.download.name, "download-dataset")) : null) : null);
  }

  function renderPublish() {
    const p = model.get("published") || {};
    const its = model.get("iterations") || [];
    const parts = [h("div", { class: "cvb-ex-section-title", text: "Publish" })];
    if (!its.length || !p.iteration) {
      parts.push(h("div", { class: "cvb-subtle", text: "Train an iteration to publish it." }));
      cvbFill(publish, parts);
      return;
    }
    if (!p.name) {
      const name = h("input", { class: "cvb-input cvb-ex-publish-name", "aria-label": "Publish name", spellcheck: "false" });
      name.value = model.get("publish_name") || "production";
      parts.push(
        h("div", { class: "cvb-subtle", text: `Publish ${p.iteration_name} to call it through cvbench serve, as Custom Vision's prediction API.` }),
        h("div", { class: "cvb-ex-inline" }, h("span", { class: "cvb-label" }, "Name"), name,
          h("button", { class: "cvb-btn is-primary", dataset: { action: "publish" }, on: { click: () => model.send({ type: "publish", id: p.iteration, name: name.value }) } }, "Publish")));
      cvbFill(publish, parts);
      return;
    }
    const key = h("input", { class: "cvb-input cvb-ex-key", "aria-label": "Prediction key", spellcheck: "false", value: model.get("prediction_key") });
    key.addEventListener("change", () => cvbSet(model, { prediction_key: key.value.trim() }));
    const endpoint = h("input", { class: "cvb-input cvb-ex-endpoint", "aria-label": "Endpoint", spellcheck: "false", value: model.get("endpoint") });
    endpoint.addEventListener("change", () => cvbSet(model, { endpoint: endpoint.value.trim() }));
    parts.push(
      h("div", { class: "cvb-ex-inline" },
        h("span", { class: "cvb-badge is-ok", text: "Published" }),
        h("span", null, h("b", { text: p.iteration_name }), " as ", h("b", { class: "cvb-ex-published-name", text: p.name })),
        h("div", { class: "cvb-spacer" }),
        h("button", { class: "cvb-btn is-quiet", dataset: { action: "unpublish" }, on: { click: () => model.send({ type: "unpublish", id: p.iteration }) } }, "Unpublish")),
      h("div", { class: "cvb-ex-kv" },
        h("span", { class: "cvb-label" }, "Prediction URL"), h("code", { class: "cvb-ex-url", text: p.prediction_url }),
        h("span", { class: "cvb-label" }, "Prediction-Key"), key,
        h("span", { class: "cvb-label" }, "Endpoint"), endpoint),
      cvbSnippet("Start the server with this key", p.serve, "serve"),
      cvbSnippet("curl", p.curl, "curl"),
      cvbSnippet("Python (Custom Vision SDK)", p.python, "python"));
    cvbFill(publish, parts);
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
  on("change:dataset_busy change:dataset_result change:dataset_formats", renderDataset);
  on("change:published change:iterations", renderPublish);
  renderHeader();
  renderForm();
  renderResult();
  renderDataset();
  renderPublish();
  return () => { on.dispose(); downloads.dispose(); };
}

export default { render };
