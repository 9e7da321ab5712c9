// QuickTest: an image from a file, a URL or the webcam -> the iteration's predictions, drawn
// on the image (boxes for detection) and listed, filtered live by the probability threshold
// (cvbench/ui/quick_test.py). Files and webcam pictures go to Python as binary buffers.
// "Why?" shows the heatmap of the top prediction, or of the row clicked (widgets/saliency.js).

import {
  h, cvbBoxedImage, cvbCameraError, cvbFill, cvbIcon, cvbInWorkbench, cvbIterationSelect, cvbMount, cvbNotice, cvbPct,
  cvbPlural, cvbProbBar, cvbSet, cvbTagChip
} from "./common.js";
import { cvbWhy } from "./saliency.js";

const CVB_QT_MAX_SEND = 50 * 1024 * 1024;

function render({ model, el }) {
  const { on, root, color } = cvbMount(model, el, "quicktest");
  const detection = () => model.get("kind") === "detection";
  let stream = null; // the webcam's MediaStream while it is open
  let showAll = false;
  const why = cvbWhy(model, on);
  let whyOn = false; // the heatmap is shown instead of the picture
  let whyTag = ""; // the tag id it explains ("": the top prediction)

  const header = h("div", { class: "cvb-header" });
  const fileInput = h("input", { type: "file", accept: "image/*", class: "cvb-fileinput", "aria-label": "Choose an image" });
  const url = h("input", { class: "cvb-input cvb-qt-url", type: "url", placeholder: "https://example.com/photo.jpg", "aria-label": "Image URL" });
  const sources = h("div", { class: "cvb-qt-sources" });
  const video = h("video", { class: "cvb-qt-video", autoplay: true, playsinline: true, muted: true });
  const cam = h("div", { class: "cvb-qt-cam" });
  const stage = h("div", { class: "cvb-qt-stage" });
  const side = h("div", { class: "cvb-qt-side" });
  root.append(header, sources, cam, h("div", { class: "cvb-qt-body" }, stage, side), fileInput, cvbNotice(model, on));

  function sendFile(file) {
    if (!file) return;
    if (file.size > CVB_QT_MAX_SEND) {
      model.set("notice", { level: "error", text: `${file.name} is ${(file.size / 1e6).toFixed(1)} MB; too large to send`, id: Date.now() });
      return;
    }
    root.classList.add("is-loading");
    file.arrayBuffer().then((buffer) => model.send({ type: "file", name: file.name, size: file.size }, undefined, [buffer]));
  }
  fileInput.addEventListener("change", () => { sendFile(fileInput.files[0]); fileInput.value = ""; });
  const testUrl = () => {
    const value = url.value.trim();
    if (!value) { url.focus(); return; }
    root.classList.add("is-loading");
    model.send({ type: "url", url: value });
  };
  url.addEventListener("keydown", (e) => { if (e.key === "Enter") { e.preventDefault(); testUrl(); } });

  // -- the webcam (optional: needs a camera and the page's permission) ------------------------
  async function openCam() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      model.set("notice", { level: "error", text: cvbCameraError(null, "choose an image file"), id: Date.now() });
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1280 } }, audio: false });
      video.srcObject = stream;
      renderCam();
    } catch (err) {
      model.set("notice", { level: "error", text: cvbCameraError(err, "choose an image file"), id: Date.now() });
    }
  }
  function closeCam() {
    if (stream) stream.getTracks().forEach((tr) => tr.stop());
    stream = null;
    video.srcObject = null;
    renderCam();
  }
  function capture() {
    if (!stream || !video.videoWidth) return;
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    canvas.toBlob((blob) => {
      if (!blob) return;
      root.classList.add("is-loading");
      blob.arrayBuffer().then((buffer) => model.send({ type: "capture" }, undefined, [buffer]));
    }, "image/jpeg", 0.92);
  }
  function renderCam() {
    cam.style.display = stream ? "" : "none";
    cvbFill(cam, stream ? [video, h("div", { class: "cvb-group cvb-qt-camtools" },
      h("button", { class: "cvb-btn is-primary", dataset: { action: "capture" }, on: { click: capture } }, "Capture and test"),
      h("button", { class: "cvb-btn", on: { click: closeCam } }, "Close camera"))] : []);
    renderSources();
  }

  // -- drawing --------------------------------------------------------------------------------
  function renderHeader() {
    const its = model.get("iterations") || [];
    cvbFill(header,
      h("div", { class: "cvb-title" }, "Quick test"),
      its.length
        ? cvbIterationSelect(model, (v) => cvbSet(model, { iteration: v }))
        : h("span", { class: "cvb-subtle", text: "No iteration yet: train one first" }),
      h("div", { class: "cvb-spacer" }),
      h("label", { class: "cvb-check", title: `Keep tested images and their predictions ${cvbInWorkbench(model) ? "in the Predictions tab" : "for Predictions(project)"}` },
        h("input", { type: "checkbox", checked: model.get("store"), on: { change: (e) => cvbSet(model, { store: e.target.checked }) } }),
        "Save to Predictions"),
      h("button", { class: "cvb-btn is-quiet", title: "Read the iterations again", on: { click: () => model.send({ type: "refresh" }) } }, cvbIcon("refresh"), "Refresh"),
    );
  }

  function renderSources() {
    const ready = !!model.get("iteration");
    const busy = model.get("busy");
    cvbFill(sources,
      h("button", { class: "cvb-btn is-primary", dataset: { action: "browse" }, disabled: !ready || busy, on: { click: () => fileInput.click() } }, "\u2191 Browse local files"),
      h("span", { class: "cvb-muted" }, "or"),
      h("div", { class: "cvb-group cvb-qt-urlgroup" }, url,
        h("button", { class: "cvb-btn", dataset: { action: "test-url" }, disabled: !ready || busy, on: { click: testUrl } }, "Test URL")),
      h("span", { class: "cvb-muted" }, "or"),
      h("button", { class: `cvb-btn${stream ? " is-active" : ""}`, dataset: { action: "webcam" }, disabled: !ready || busy, on: { click: () => (stream ? closeCam() : openCam()) } }, "\u25c9 Webcam"),
      busy ? h("span", { class: "cvb-subtle cvb-qt-busy" }, h("span", { class: "cvb-spinner" }), "Predicting\u2026") : null,
    );
  }

  const colorOf = (p) => color(p.tag);
  function whyRequest() {
    const im = model.get("image") || {};
    const preds = model.get("predictions") || [];
    if (!im.key || !preds.length) return null;
    return { source: "tested", id: im.key, iteration: im.iteration_id || "", tag: whyTag || preds[0].tag };
  }

  function renderResult() {
    const im = model.get("image") || {};
    const thr = model.get("threshold");
    const preds = model.get("predictions") || [];
    const visible = preds.filter((p) => p.probability >= thr);
    root.classList.remove("is-loading");
    if (!im.src) {
      cvbFill(stage, h("div", {
        class: "cvb-empty cvb-qt-drop", on: { click: () => model.get("iteration") && fileInput.click() },
      },
      h("div", { class: "cvb-drop-icon", "aria-hidden": "true" }, "\u2191"),
      h("div", { class: "cvb-empty-title", text: model.get("iteration") ? "Drop an image here to test it" : "Train an iteration to test it" }),
      h("div", { text: "A file, an image URL, or a picture from your webcam." })));
    } else {
      const req = whyOn ? whyRequest() : null;
      const answer = req ? why.known(req) : null;
      if (req && !answer) why.ask(req, renderResult);
      const boxes = detection() ? visible.filter((p) => p.box).map((p) => ({ ...p.box, color: colorOf(p), label: `${p.name} ${cvbPct(p.probability, 0)}` })) : [];
      cvbFill(stage,
        h("div", { class: `cvb-qt-frame${req ? " is-why" : ""}` }, cvbBoxedImage(answer ? answer.src : im.src, im.width, im.height, boxes, { alt: im.name, class: "cvb-qt-img" })),
        req ? why.caption(answer) : null,
        h("div", { class: "cvb-qt-caption" }, h("b", { text: im.name }), ` \u00b7 ${im.width}\u00d7${im.height} \u00b7 ${im.iteration}`, im.stored ? " \u00b7 saved to Predictions" : ""));
    }
    const thrInput = h("input", {
      type: "range", min: "0", max: "1", step: "0.01", value: String(thr), "aria-label": "Probability threshold",
      on: { input: (e) => { const v = Number(e.target.value); thrOut.textContent = cvbPct(v, 0); cvbSet(model, { threshold: v }); } },
    });
    const thrOut = h("span", { class: "cvb-slider-value", text: cvbPct(thr, 0) });
    const list = showAll ? preds : visible;
    const hidden = preds.length - visible.length;
    const existing = side.querySelector(".cvb-slider input");
    const dragging = existing && document.activeElement === existing;
    const table = h("div", { class: "cvb-qt-table" },
      !im.src ? h("div", { class: "cvb-muted", text: "Predictions show here." })
        : list.length
          ? h("table", { class: "cvb-table cvb-qt-preds" },
            h("thead", null, h("tr", null, h("th", null, "Tag"), h("th", null, "Probability"))),
            h("tbody", null, list.map((p) => h("tr", {
              class: `cvb-qt-row${p.probability >= thr ? "" : " is-below"}${whyOn && (whyTag || (preds[0] || {}).tag) === p.tag ? " is-why" : ""}`,
              dataset: { tag: p.name }, title: "Click: where the model looked for this tag",
              on: { click: () => { whyTag = p.tag; whyOn = true; renderResult(); } },
            },
              h("td", null, cvbTagChip({ id: p.tag, name: p.name }, colorOf(p))),
              h("td", null, cvbProbBar(p.probability, colorOf(p)))))))
          : h("div", { class: "cvb-muted cvb-qt-none", text: `No prediction at or above ${cvbPct(thr, 0)}.` }),
      im.src && hidden > 0
        ? h("button", { class: "cvb-btn is-quiet is-small", on: { click: () => { showAll = !showAll; renderResult(); } } },
          showAll ? "Hide those below the threshold" : `Show ${cvbPlural(hidden, "prediction")} below the threshold`)
        : null);
    if (dragging) {
      side.replaceChild(table, side.querySelector(".cvb-qt-table"));
      return;
    }
    cvbFill(side,
      h("div", { class: "cvb-qt-side-head" },
        h("span", { class: "cvb-section-title" }, "Predictions"),
        h("span", { class: "cvb-group" },
          im.src ? h("span", { class: "cvb-badge is-ok cvb-qt-count", text: `${visible.length} shown` }) : null,
          im.src && preds.length ? why.button(whyRequest() || {}, whyOn, (next) => { whyOn = next; whyTag = ""; renderResult(); }) : null)),
      h("label", { class: "cvb-slider" }, h("span", { class: "cvb-label" }, "Threshold"), thrInput, thrOut),
      table);
  }

  stage.addEventListener("dragover", (e) => { e.preventDefault(); stage.classList.add("is-over"); });
  stage.addEventListener("dragleave", () => stage.classList.remove("is-over"));
  stage.addEventListener("drop", (e) => {
    e.preventDefault();
    stage.classList.remove("is-over");
    if (model.get("iteration") && e.dataTransfer && e.dataTransfer.files.length) sendFile(e.dataTransfer.files[0]);
  });

  on("change:iterations change:iteration change:store change:host", () => { renderHeader(); renderSources(); renderResult(); });
  on("change:busy", () => { renderSources(); if (!model.get("busy")) root.classList.remove("is-loading"); });
  on("change:image", () => { whyTag = ""; });
  on("change:image change:predictions change:threshold", renderResult);
  on("change:notice", () => root.classList.remove("is-loading"));

  renderHeader();
  renderSources();
  renderCam();
  renderResult();
  return () => { closeCam(); on.dispose(); };
}

export default { render };
