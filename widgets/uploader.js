// Uploader: a drop zone, a file dialog, a box for paths / folders / URLs, tags, a progress
// bar and the per-file results (cvbench/ui/uploader.py). Each file dropped or chosen is sent
// to Python at once as a "file" message with its bytes in a binary buffer. "Webcam" opens a
// live preview: after a 3-2-1 countdown a burst of N frames, one every interval, goes to
// Python as one "webcam" message (JPEG bytes, one buffer a frame) and is added under a tag.

import {
  h, cvbBytes, cvbCameraError, cvbFill, cvbFmt, cvbInWorkbench, cvbMount, cvbNotice, cvbPlural
} from "./common.js";

const CVB_MAX_SEND = 50 * 1024 * 1024; // larger files would break the kernel's websocket
const CVB_MAX_FRAMES = 100; // as cvbench/ui/uploader.py MAX_FRAMES

function render({ model, el }) {
  const { on, root, color } = cvbMount(model, el, "uploader");
  const chosenTags = [];
  let skipped = []; // files the browser did not send, with the reason
  let sending = 0;
  let onlyProblems = false;
  const detection = () => model.get("kind") === "detection";

  const fileInput = h("input", { type: "file", multiple: true, accept: "image/*", class: "cvb-fileinput", "aria-label": "Choose image files" });
  const drop = h("div", { class: "cvb-drop", tabindex: "0", role: "button", "aria-label": "Drop images here or choose files" });
  const staged = h("div", { class: "cvb-staged" });
  const text = h("textarea", { class: "cvb-textarea", rows: "3", spellcheck: "false", placeholder: "/data/photos/cats\n/data/photos/dog1.jpg\nhttps://example.com/image.png", "aria-label": "Paths, folders or URLs, one per line" });
  const tagArea = h("div", { class: "cvb-tagarea" });
  const actions = h("div", { class: "cvb-actions" });
  const results = h("div", { class: "cvb-results" });
  const cam = h("div", { class: "cvb-up-cam" });
  const video = h("video", { class: "cvb-up-video", autoplay: true, playsinline: true, muted: true });
  const countdown = h("div", { class: "cvb-up-countdown", "aria-live": "assertive" });
  let stream = null; // the camera's MediaStream while the panel is open
  let camTag = "";
  let burst = 10;
  let interval = 0.5; // seconds between frames
  let shooting = false;
  let shot = 0;
  let cancelled = false;

  root.append(
    h("div", { class: "cvb-header" }, h("div", { class: "cvb-title" }, "Add images"),
      h("span", { class: "cvb-subtle" }, "JPEG, PNG, BMP, GIF, WebP or TIFF"),
      h("div", { class: "cvb-spacer" }),
      h("button", { class: "cvb-btn cvb-up-webcam", dataset: { action: "webcam" }, title: "Take pictures with your camera", on: { click: () => (stream ? closeCam() : openCam()) } }, "\u25c9 Webcam")),
    cam,
    h("div", { class: "cvb-up-body" },
      h("div", { class: "cvb-up-col" }, drop, staged),
      h("div", { class: "cvb-up-col" },
        h("label", { class: "cvb-label" }, "Or paths, folders and URLs \u2014 one per line"),
        text,
        h("label", { class: "cvb-label" }, "Tags for every image"),
        tagArea)),
    actions, results, fileInput, cvbNotice(model, on));

  // -- sending files ------------------------------------------------------------------------------
  async function sendFiles(files) {
    const limit = model.get("max_bytes") || CVB_MAX_SEND;
    for (const file of files) {
      if (file.size > Math.min(limit * 4, CVB_MAX_SEND)) {
        skipped.push({ name: file.name, why: `${(file.size / 1e6).toFixed(1)} MB, far above the ${(limit / 1e6).toFixed(0)} MB limit` });
        continue;
      }
      sending += 1;
      renderStaged();
      const buffer = await file.arrayBuffer();
      model.send({ type: "file", name: file.name, size: file.size }, undefined, [buffer]);
      sending -= 1;
    }
    renderStaged();
  }
  drop.addEventListener("dragover", (e) => { e.preventDefault(); drop.classList.add("is-over"); });
  drop.addEventListener("dragleave", () => drop.classList.remove("is-over"));
  drop.addEventListener("drop", (e) => {
    e.preventDefault();
    drop.classList.remove("is-over");
    sendFiles([...(e.dataTransfer ? e.dataTransfer.files : [])]);
  });
  drop.addEventListener("click", () => fileInput.click());
  drop.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") { e.preventDefault(); fileInput.click(); }
  });
  fileInput.addEventListener("change", () => {
    sendFiles([...fileInput.files]);
    fileInput.value = "";
  });

  function renderDrop() {
    cvbFill(drop,
      h("div", { class: "cvb-drop-icon", "aria-hidden": "true" }, "\u2191"),
      h("div", { class: "cvb-drop-title" }, "Drop images here"),
      h("div", { class: "cvb-subtle" }, "or ", h("span", { class: "cvb-link" }, "browse files")),
    );
  }

  function renderStaged() {
    const files = model.get("staged") || [];
    const size = files.reduce((s, f) => s + f.size, 0);
    cvbFill(staged,
      files.length || sending
        ? h("div", { class: "cvb-staged-head" },
          h("span", null, h("b", null, cvbPlural(files.length, "file")), ` ready \u00b7 ${cvbBytes(size)}`, sending ? ` \u00b7 reading ${sending}\u2026` : ""),
          files.length ? h("button", { class: "cvb-btn is-quiet is-small", on: { click: () => { skipped = []; model.send({ type: "clear_files" }); } } }, "Clear") : null)
        : null,
      files.length ? h("div", { class: "cvb-staged-list" }, files.slice(-6).reverse().map((f) =>
        h("div", { class: "cvb-staged-item" }, h("span", { class: "cvb-file-name", text: f.name }), h("span", { class: "cvb-muted", text: cvbBytes(f.size) }))),
      files.length > 6 ? h("div", { class: "cvb-muted", text: `and ${files.length - 6} more` }) : null) : null,
      skipped.length ? h("div", { class: "cvb-skipped" }, skipped.map((s) => h("div", { text: `Not sent: ${s.name} (${s.why})` }))) : null,
    );
    renderActions();
  }

  // -- the webcam: preview, tag, burst ----------------------------------------------------------
  const say = (text, level) => model.set("notice", { level: level || "error", text, id: Date.now() });
  async function openCam() {
    if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
      say(cvbCameraError(null, "upload files"));
      return;
    }
    try {
      stream = await navigator.mediaDevices.getUserMedia({ video: { width: { ideal: 1280 } }, audio: false });
    } catch (err) {
      stream = null;
      say(cvbCameraError(err, "upload files"));
      renderCam();
      return;
    }
    video.srcObject = stream;
    if (!camTag) camTag = chosenTags[0] || "";
    renderCam();
  }
  function closeCam() {
    cancelled = true;
    if (stream) stream.getTracks().forEach((tr) => tr.stop());
    stream = null;
    video.srcObject = null;
    renderCam();
  }
  const wait = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
  function frame() {
    const canvas = document.createElement("canvas");
    canvas.width = video.videoWidth;
    canvas.height = video.videoHeight;
    canvas.getContext("2d").drawImage(video, 0, 0);
    return new Promise((resolve) => canvas.toBlob(resolve, "image/jpeg", 0.92)).then((blob) => (blob ? blob.arrayBuffer() : null));
  }
  async function takeBurst() {
    if (!stream || shooting) return;
    if (!video.videoWidth) { say("The camera shows no picture yet: wait a moment and try again"); return; }
    const n = Math.round(burst);
    if (!(n >= 1 && n <= CVB_MAX_FRAMES)) { say(`Take between 1 and ${CVB_MAX_FRAMES} frames at a time`); return; }
    if (!(interval >= 0 && interval <= 10)) { say("The interval should be between 0 and 10 seconds"); return; }
    shooting = true;
    cancelled = false;
    shot = 0;
    renderCam();
    for (const k of [3, 2, 1]) {
      countdown.textContent = String(k);
      countdown.classList.add("is-visible");
      await wait(700);
      if (cancelled) break;
    }
    countdown.textContent = "";
    countdown.classList.remove("is-visible");
    const buffers = [];
    for (let i = 0; i < n && !cancelled; i++) {
      if (i) await wait(1000 * interval);
      const buffer = await frame();
      if (buffer) buffers.push(buffer);
      shot = buffers.length;
      root.classList.add("cvb-up-flash");
      setTimeout(() => root.classList.remove("cvb-up-flash"), 120);
      renderCamStatus();
    }
    shooting = false;
    if (!cancelled && buffers.length) {
      model.send({ type: "webcam", tag: detection() ? "" : camTag.trim() }, undefined, buffers);
    }
    renderCam();
  }
  const camStatus = h("span", { class: "cvb-subtle cvb-up-camstatus", "aria-live": "polite" });
  function renderCamStatus() {
    cvbFill(camStatus, shooting ? `${shot} of ${Math.round(burst)} taken\u2026` : "");
  }
  function renderCam() {
    cam.style.display = stream ? "" : "none";
    const header = root.querySelector(".cvb-up-webcam");
    if (header) header.classList.toggle("is-active", !!stream);
    if (!stream) { cvbFill(cam); return; }
    const known = model.get("tags") || [];
    const listId = `cvb-camtags-${Math.random().toString(36).slice(2)}`;
    const field = (label, input) => h("label", { class: "cvb-field" }, h("span", { class: "cvb-label" }, label), input);
    cvbFill(cam,
      h("div", { class: "cvb-up-camview" }, video, countdown),
      h("div", { class: "cvb-up-camtools" },
        detection()
          ? h("div", { class: "cvb-muted" }, "The frames are added untagged: draw their boxes afterwards.")
          : field("Tag", [h("input", { class: "cvb-input cvb-up-camtag", list: listId, value: camTag, placeholder: "Tag for the frames", "aria-label": "Tag for the frames",
            on: { input: (e) => { camTag = e.target.value; } } }),
          h("datalist", { id: listId }, known.map((t) => h("option", { value: t.name })))]),
        h("div", { class: "cvb-group" },
          field("Frames", h("input", { class: "cvb-input cvb-up-burst", type: "number", min: "1", max: String(CVB_MAX_FRAMES), step: "1", value: String(burst), "aria-label": "Frames in the burst",
            on: { input: (e) => { burst = Number(e.target.value); } } })),
          field("Every (s)", h("input", { class: "cvb-input cvb-up-interval", type: "number", min: "0", max: "10", step: "0.1", value: String(interval), "aria-label": "Seconds between frames",
            on: { input: (e) => { interval = Number(e.target.value); } } }))),
        h("div", { class: "cvb-group" },
          h("button", { class: "cvb-btn is-primary", dataset: { action: "burst" }, disabled: shooting || model.get("busy"), on: { click: takeBurst } },
            shooting ? "Taking\u2026" : "Start: 3, 2, 1"),
          h("button", { class: "cvb-btn", dataset: { action: "close-camera" }, on: { click: closeCam } }, "Close camera")),
        camStatus));
    renderCamStatus();
  }

  // -- tags ----------------------------------------------------------------------------------------
  function renderTags() {
    if (detection()) {
      cvbFill(tagArea, h("div", { class: "cvb-muted" }, cvbInWorkbench(model)
        ? "Detection images get their tags from their boxes: draw them in the Tag tab after the upload."
        : "Detection images get their tags from their boxes: draw them in the BoxEditor after the upload."));
      return;
    }
    const known = model.get("tags") || [];
    const listId = `cvb-tags-${Math.random().toString(36).slice(2)}`;
    const input = h("input", { class: "cvb-input", list: listId, placeholder: chosenTags.length ? "Add another tag" : "Type a tag, press Enter", "aria-label": "Tag for every image" });
    const add = () => {
      const name = input.value.trim().replace(/,$/, "");
      if (name && !chosenTags.some((t) => t.toLowerCase() === name.toLowerCase())) chosenTags.push(name);
      input.value = "";
      renderTags();
      tagArea.querySelector("input").focus();
    };
    input.addEventListener("keydown", (e) => {
      if (e.key === "Enter" || e.key === ",") { e.preventDefault(); add(); }
      else if (e.key === "Backspace" && !input.value && chosenTags.length) { chosenTags.pop(); renderTags(); tagArea.querySelector("input").focus(); }
    });
    input.addEventListener("change", () => { if (known.some((t) => t.name === input.value)) add(); });
    const byName = new Map(known.map((t) => [t.name.toLowerCase(), t]));
    cvbFill(tagArea,
      h("div", { class: "cvb-taginput" },
        chosenTags.map((name, i) => {
          const t = byName.get(name.toLowerCase());
          return h("span", { class: "cvb-chip is-removable", style: { "--tag": t ? color(t.id) : "#8a8886" } },
            h("span", { class: "cvb-dot" }), h("span", { class: "cvb-chip-name", text: name }), t ? null : h("span", { class: "cvb-new", text: "new" }),
            h("button", { class: "cvb-chip-x", title: `Remove ${name}`, on: { click: () => { chosenTags.splice(i, 1); renderTags(); } } }, "\u00d7"));
        }),
        input),
      h("datalist", { id: listId }, known.map((t) => h("option", { value: t.name }))),
    );
    renderActions();
  }

  // -- upload, progress ------------------------------------------------------------------------------
  function upload() {
    const input = tagArea.querySelector("input");
    if (input && input.value.trim()) {
      chosenTags.push(input.value.trim());
      input.value = "";
    }
    model.send({ type: "upload", text: text.value, tags: detection() ? [] : [...chosenTags] });
    skipped = [];
  }
  function renderActions() {
    const files = (model.get("staged") || []).length;
    const lines = text.value.split("\n").filter((l) => l.trim() && !l.trim().startsWith("#")).length;
    const busy = model.get("busy");
    const p = model.get("progress") || { done: 0, total: 0 };
    const what = [files ? cvbPlural(files, "file") : "", lines ? cvbPlural(lines, "path") : ""].filter(Boolean).join(" + ");
    cvbFill(actions,
      h("button", {
        class: "cvb-btn is-primary", disabled: busy || sending > 0 || (!files && !lines), dataset: { action: "upload" },
        on: { click: upload },
      }, busy ? "Uploading\u2026" : what ? `Upload ${what}` : "Upload"),
      chosenTags.length && !detection() ? h("span", { class: "cvb-subtle" }, "tagged ", h("b", null, chosenTags.join(", "))) : null,
      h("div", { class: "cvb-spacer" }),
      busy || p.total
        ? h("div", { class: "cvb-up-progress" },
          h("div", { class: "cvb-progress" }, h("div", { style: { width: `${p.total ? (100 * p.done) / p.total : 0}%` } })),
          h("span", { class: "cvb-subtle" }, `${cvbFmt(p.done)} of ${cvbFmt(p.total)}`))
        : null,
    );
  }
  text.addEventListener("input", renderActions);

  function renderResults() {
    const rows = model.get("results") || [];
    if (!rows.length) {
      cvbFill(results);
      results.style.display = "none";
      return;
    }
    results.style.display = "";
    const ok = rows.filter((r) => r.status === "OK").length;
    const dup = rows.filter((r) => r.status === "OKDuplicate").length;
    const bad = rows.length - ok - dup;
    const shown = onlyProblems ? rows.filter((r) => r.status !== "OK") : rows;
    // the words for a person; Custom Vision's status code in the tooltip
    const badge = (r) => h("span", { class: `cvb-badge ${r.status === "OK" ? "is-ok" : r.status === "OKDuplicate" ? "is-warn" : "is-error"}`,
      title: `Status code: ${r.status}`, dataset: { code: r.status }, text: r.label || r.status });
    cvbFill(results,
      h("div", { class: "cvb-results-head" },
        h("span", { class: "cvb-badge is-ok" }, `${cvbFmt(ok)} added`),
        dup ? h("span", { class: "cvb-badge is-warn" }, `${cvbFmt(dup)} duplicate${dup === 1 ? "" : "s"}`) : null,
        bad ? h("span", { class: "cvb-badge is-error" }, `${cvbFmt(bad)} refused`) : null,
        h("div", { class: "cvb-spacer" }),
        ok < rows.length ? h("label", { class: "cvb-check-label" },
          h("input", { type: "checkbox", checked: onlyProblems, on: { change: (e) => { onlyProblems = e.target.checked; renderResults(); } } }), " Only problems") : null),
      h("div", { class: "cvb-table-wrap" },
        h("table", { class: "cvb-table" },
          h("thead", null, h("tr", null, h("th", null, "File"), h("th", null, "Status"), h("th", null, "Details"))),
          h("tbody", null, shown.slice(0, 500).map((r) =>
            h("tr", { dataset: { status: r.status } },
              h("td", { class: "cvb-file-name", title: r.source, text: r.source }),
              h("td", null, badge(r)),
              h("td", { class: "cvb-msg", text: r.message || (r.status === "OK" ? "added" : "") })))))),
      shown.length > 500 ? h("div", { class: "cvb-muted", text: `${shown.length - 500} more rows not shown` }) : null,
    );
  }

  on("change:staged", renderStaged);
  on("change:tags", renderTags);
  on("change:busy change:progress", renderActions);
  on("change:busy", () => { if (stream && !shooting) renderCam(); });
  on("change:results", () => { renderResults(); if (!model.get("busy")) text.value = (model.get("results") || []).length ? "" : text.value; renderActions(); });

  renderDrop();
  renderStaged();
  renderTags();
  renderActions();
  renderResults();
  renderCam();
  return () => { closeCam(); on.dispose(); };
}

export default { render };
