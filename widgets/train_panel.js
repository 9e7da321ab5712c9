// TrainPanel: choose Quick or Advanced training, follow the run live, list the iterations
// (cvbench/ui/train_panel.py). Training runs in a Python thread; this view only draws the
// traits it sets (state, progress, last_run, iterations) and sends short messages.
// "Preview augmentations" shows the random views advanced training makes of a few tagged
// images (the augmentations trait, drawn in Python by the functions training calls).

import {
  h, cvbClock, cvbFill, cvbFmt, cvbInWorkbench, cvbMount, cvbNotice, cvbPct, cvbPlural, cvbSelect, cvbSet, cvbTile,
  cvbWhen
} from "./common.js";

const CVB_STAGES = [
  ["prepare", "Prepare"], ["features", "Features"], ["head", "Head"],
  ["fine-tune", "Fine-tune"], ["evaluate", "Evaluate"], ["save", "Save"],
];

function render({ model, el }) {
  const { on, root, color } = cvbMount(model, el, "train");
  let publishing = null; // iteration id whose publish form is open
  let deleting = null; // iteration id awaiting delete confirmation
  let receivedAt = performance.now();

  const header = h("div", { class: "cvb-header" });
  const settings = h("div", { class: "cvb-card cvb-train-settings" });
  const run = h("div", { class: "cvb-card cvb-train-run" });
  const list = h("div", { class: "cvb-train-list" });
  const augment = h("div", { class: "cvb-card cvb-train-augment" });
  root.append(header, h("div", { class: "cvb-train-body" }, settings, run), augment, list, cvbNotice(model, on));
  let previewing = false; // asked for a preview, not yet shown

  function askPreview(seed) {
    previewing = true;
    renderAugment();
    model.send({ type: "preview_augmentations", seed });
  }
  function renderAugment() {
    const a = model.get("augmentations") || {};
    const images = a.images || [];
    if (!images.length && !previewing) { augment.style.display = "none"; cvbFill(augment); return; }
    augment.style.display = "";
    const detection = model.get("kind") === "detection";
    cvbFill(augment,
      h("div", { class: "cvb-augment-head" },
        h("span", { class: "cvb-card-title" }, "Augmentations"),
        h("span", { class: "cvb-muted" }, detection
          ? "Random views as advanced training makes them: zoomed crops, colour jitter, mirrors; the boxes follow each crop."
          : "Random views as advanced training makes them: crops of 60\u2013100% of the image, colour jitter, mirrors."),
        h("div", { class: "cvb-spacer" }),
        h("button", { class: "cvb-btn is-small", dataset: { action: "more-views" }, disabled: previewing, on: { click: () => askPreview((a.seed || 0) + 1) } },
          previewing ? "Drawing\u2026" : "Other views"),
        h("button", { class: "cvb-btn is-quiet is-small", dataset: { action: "close-preview" }, on: { click: () => { previewing = false; model.send({ type: "close_preview" }); } } }, "Close")),
      images.length
        ? h("div", { class: "cvb-augment-grid" }, images.map((img) => h("div", { class: "cvb-augment-row", dataset: { image: img.id } },
          h("div", { class: "cvb-augment-name", title: img.name, text: img.name }),
          h("div", { class: "cvb-augment-views" }, img.views.map((src, i) => h("img", { src, class: "cvb-augment-view", alt: `${img.name}: view ${i + 1}` }))))))
        : h("div", { class: "cvb-muted" }, h("span", { class: "cvb-spinner" }), " Drawing the views\u2026"));
  }

  const busy = () => model.get("state") !== "idle";
  const blockers = () => (model.get("readiness") || {}).blockers || [];

  function startTraining() {
    if (busy() || blockers().length) return;
    const budget = Number(model.get("budget_minutes"));
    model.send({ type: "train", mode: model.get("mode"), budget_minutes: budget, domain: model.get("domain") });
  }

  function renderHeader() {
    const r = model.get("readiness") || {};
    cvbFill(header,
      h("div", { class: "cvb-title" }, "Train"),
      h("span", { class: "cvb-subtle" }, r.images === undefined ? "" :
        `${cvbPlural(r.tagged || 0, "tagged image")} \u00b7 ${cvbPlural(r.tags || 0, "tag")}`),
      h("div", { class: "cvb-spacer" }),
      busy()
        ? h("button", { class: "cvb-btn is-danger", dataset: { action: "cancel" }, disabled: model.get("state") === "cancelling", on: { click: () => model.send({ type: "cancel" }) } },
          model.get("state") === "cancelling" ? "Cancelling\u2026" : "Cancel")
        : null,
      h("button", {
        class: "cvb-btn is-primary cvb-train-btn", dataset: { action: "train" }, disabled: busy() || blockers().length > 0,
        title: !busy() && blockers().length ? `Training cannot run yet: ${blockers().join(" ")}` : null,
        "aria-describedby": !busy() && blockers().length ? "cvb-train-why" : null, on: { click: startTraining },
      }, h("span", { class: "cvb-train-gear", "aria-hidden": "true" }, "\u2699"), busy() ? "Training\u2026" : "Train"),
    );
  }

  /** Why Train is off, in the page's words (the rules are checked live in Python). */
  function blockersBox() {
    const list = blockers();
    if (!list.length || busy()) return null;
    return h("div", { class: "cvb-blockers", id: "cvb-train-why", role: "note" },
      h("div", { class: "cvb-blockers-title" }, "Train is off until this is fixed"),
      h("ul", null, list.map((w) => h("li", { text: w }))));
  }

  /** "Tags to train": a checkbox per tag, with its count against the minimum. */
  function tagChecklist() {
    const r = model.get("readiness") || {};
    const rows = r.per_tag || [];
    if (!rows.length) return null;
    const detection = model.get("kind") === "detection";
    const leftOut = new Set(model.get("left_out") || []);
    const setLeftOut = (ids) => cvbSet(model, { left_out: [...ids] });
    const regular = rows.filter((t) => t.type === "Regular");
    return h("div", { class: "cvb-tagcheck" },
      h("div", { class: "cvb-tagcheck-head" },
        h("span", { class: "cvb-label" }, "Tags to train"),
        h("span", { class: "cvb-muted" }, `${regular.filter((t) => t.chosen).length} of ${regular.length}`),
        h("div", { class: "cvb-spacer" }),
        regular.length > 2 ? h("button", { class: "cvb-btn is-quiet is-small", disabled: busy() || !leftOut.size, on: { click: () => setLeftOut([]) } }, "All") : null),
      h("div", { class: "cvb-tagcheck-list" }, rows.map((t) => {
        const negative = t.type === "Negative";
        const low = t.chosen && !t.enough && (t.count > 0 || !negative);
        const unit = detection ? (t.count === 1 ? "box" : "boxes") : (t.count === 1 ? "image" : "images");
        const status = negative ? (t.count ? "always learnt" : "no images")
          : detection && !t.count ? "no box: not learnt"
          : low ? (detection ? `fewer than ${t.minimum}: weak` : `needs ${t.minimum}`) : "";
        return h("label", {
          class: `cvb-tagcheck-row${t.chosen ? "" : " is-out"}${low ? (detection ? " is-weak" : " is-short") : ""}`,
          dataset: { tag: t.id }, title: negative ? "The Negative tag takes part whenever it has images" : (t.chosen ? "Untick to leave this tag out of the run" : "Tick to train this tag"),
        },
        h("input", {
          type: "checkbox", checked: t.chosen, disabled: busy() || negative, "aria-label": `Train ${t.name}`,
          on: { change: (e) => { const next = new Set(leftOut); if (e.target.checked) next.delete(t.id); else next.add(t.id); setLeftOut(next); } },
        }),
        h("span", { class: "cvb-dot", style: { "--tag": color(t.id) } }),
        h("span", { class: "cvb-tagcheck-name", text: t.name }),
        h("span", { class: "cvb-tagcheck-count", text: `${cvbFmt(t.count)} ${unit}` }),
        status ? h("span", { class: "cvb-tagcheck-status", text: status }) : null);
      })));
  }

  function modeCard(value, title, text, extra) {
    const active = model.get("mode") === value;
    return h("label", { class: `cvb-mode${active ? " is-active" : ""}`, dataset: { mode: value } },
      h("input", { type: "radio", name: "cvb-mode", value, checked: active, disabled: busy(),
        on: { change: () => cvbSet(model, { mode: value }) } }),
      h("div", { class: "cvb-mode-text" },
        h("div", { class: "cvb-mode-title", text: title }),
        h("div", { class: "cvb-subtle", text }),
        extra));
  }

  function renderSettings() {
    const r = model.get("readiness") || {};
    const domains = model.get("domains") || [];
    const budget = h("input", {
      class: "cvb-input cvb-budget", type: "number", min: "0.5", max: "1440", step: "0.5",
      value: String(model.get("budget_minutes")), disabled: busy() || model.get("mode") !== "advanced",
      "aria-label": "Time budget in minutes",
      on: { change: (e) => { const v = Number(e.target.value); if (v > 0) cvbSet(model, { budget_minutes: v }); else e.target.value = String(model.get("budget_minutes")); } },
    });
    const domain = cvbSelect(
      domains.map((d) => ({ value: d.name, label: d.offline ? d.name : `${d.name} (downloads weights)` })),
      model.get("domain"), (v) => cvbSet(model, { domain: v }),
      { "aria-label": "Domain", disabled: busy(), class: "cvb-select cvb-domain" });
    const warnings = r.warnings || [];
    cvbFill(settings,
      h("div", { class: "cvb-label" }, "Training type"),
      modeCard("quick", "Quick training", "Frozen pretrained features and a linear head: seconds to a minute."),
      modeCard("advanced", "Advanced training", "Fine-tunes the network within a time budget; kept only if it beats quick training.",
        h("div", { class: "cvb-budget-row" }, "Budget", budget, "minutes")),
      h("div", { class: "cvb-augment-open" },
        h("button", { class: "cvb-btn is-small", dataset: { action: "preview-augmentations" }, disabled: !(r.tagged > 0) || previewing,
          title: r.tagged > 0 ? "Show what advanced training's augmentation makes of a few of your tagged images" : "Tag some images first",
          on: { click: () => askPreview(((model.get("augmentations") || {}).seed) || 0) } }, "Preview augmentations")),
      h("div", { class: "cvb-field" }, h("span", { class: "cvb-label" }, "Domain"), domain),
      tagChecklist(),
      blockersBox(),
      warnings.length ? h("ul", { class: "cvb-warnings" }, warnings.map((w) => h("li", { text: w }))) : null,
      !blockers().length && !warnings.length
        ? h("div", { class: "cvb-ready" }, h("span", { class: "cvb-badge is-ok" }, "Ready"), " The tags to train have enough images.")
        : null,
    );
  }

  function renderRun() {
    const state = model.get("state");
    const p = model.get("progress") || {};
    const last = model.get("last_run") || {};
    if (state === "idle") {
      const its = model.get("iterations") || [];
      const icon = { done: "\u2713", cancelled: "\u2013", failed: "!" }[last.status] || "";
      const made = its.find((it) => it.id === last.iteration);
      cvbFill(run,
        h("div", { class: "cvb-label" }, "Training run"),
        last.status
          ? [h("div", { class: `cvb-lastrun is-${last.status}` }, h("span", { class: "cvb-lastrun-icon", text: icon }), h("span", { class: "cvb-lastrun-text", text: last.text })),
            made ? h("div", { class: "cvb-tiles cvb-run-tiles" },
              cvbTile("Precision", cvbPct(made.precision)), cvbTile("Recall", cvbPct(made.recall)), cvbTile("mAP", cvbPct(made.map))) : null,
            made && (made.how || []).length
              ? h("ul", { class: "cvb-subtle cvb-run-how" }, made.how.map((line) => h("li", { text: line }))) : null,
            made ? h("div", { class: "cvb-subtle cvb-next" }, "On the validation images at probability threshold 50%. ",
              cvbInWorkbench(model)
                ? "The Performance tab has the numbers per tag, live thresholds and the images it got wrong."
                : ["The numbers per tag, live thresholds and the images it got wrong: ", h("code", { text: "Performance(project)" }),
                  " (", h("code", { text: "from cvbench.ui import Performance" }), ")."]) : null]
          : h("div", { class: "cvb-run-idle" },
            h("div", { class: "cvb-run-big", text: its.length ? "Train again to make a new iteration" : "No iteration yet" }),
            h("div", { class: "cvb-subtle", text: "Each run makes an immutable iteration, listed below with its precision, recall and mAP." })),
      );
      return;
    }
    const stage = p.stage || "prepare";
    const order = CVB_STAGES.map((s) => s[0]);
    const at = order.indexOf(stage);
    const elapsed = (p.elapsed_seconds || 0) + (performance.now() - receivedAt) / 1000;
    const eta = p.eta_seconds === null || p.eta_seconds === undefined ? null : Math.max(0, p.eta_seconds - (performance.now() - receivedAt) / 1000);
    const steps = CVB_STAGES.filter(([k]) => k !== "fine-tune" || model.get("mode") === "advanced");
    cvbFill(run,
      h("div", { class: "cvb-run-head" },
        h("span", { class: "cvb-label" }, state === "cancelling" ? "Cancelling\u2026" : "Training"),
        h("span", { class: "cvb-run-pct", text: `${Math.round(100 * (p.fraction || 0))}%` })),
      h("div", { class: "cvb-steps" }, steps.map(([k, label]) => {
        const i = order.indexOf(k);
        const cls = i < at ? "is-done" : i === at ? "is-current" : "";
        return h("span", { class: `cvb-step ${cls}`, dataset: { stage: k } }, label);
      })),
      h("div", { class: "cvb-progress cvb-run-bar", role: "progressbar", "aria-valuemin": "0", "aria-valuemax": "100", "aria-valuenow": String(Math.round(100 * (p.fraction || 0))) },
        h("div", { style: { width: `${(100 * (p.fraction || 0)).toFixed(1)}%` } })),
      h("div", { class: "cvb-run-msg", text: p.message || "" }),
      h("div", { class: "cvb-run-stats" },
        h("span", null, h("span", { class: "cvb-muted" }, "Elapsed "), cvbClock(elapsed)),
        h("span", { dataset: { eta: eta === null ? "" : String(Math.round(eta)) } }, h("span", { class: "cvb-muted" }, "Time left "),
          eta === null ? "estimating\u2026" : eta < 1 && p.stage !== "done" ? "finishing\u2026" : `about ${cvbClock(eta)}`),
        h("span", null, h("span", { class: "cvb-muted" }, "Loss "), p.loss === null || p.loss === undefined ? "\u2014" : Number(p.loss).toFixed(4))),
    );
  }

  function actions(it) {
    if (deleting === it.id) {
      return h("div", { class: "cvb-group cvb-confirm" },
        h("span", { class: "cvb-confirm-text" }, "Delete?"),
        h("button", { class: "cvb-btn is-small is-danger is-solid", dataset: { action: "confirm-delete" }, on: { click: () => { deleting = null; model.send({ type: "delete_iteration", id: it.id }); } } }, "Delete"),
        h("button", { class: "cvb-btn is-small", on: { click: () => { deleting = null; renderList(); } } }, "Keep"));
    }
    if (publishing === it.id) {
      const input = h("input", { class: "cvb-input cvb-pubname", value: "production", "aria-label": "Published name" });
      const send = () => { const name = input.value.trim(); if (!name) return; publishing = null; model.send({ type: "publish", id: it.id, name }); };
      input.addEventListener("keydown", (e) => { if (e.key === "Enter") send(); else if (e.key === "Escape") { publishing = null; renderList(); } });
      setTimeout(() => { input.focus(); input.select(); }, 0);
      return h("div", { class: "cvb-group" }, input,
        h("button", { class: "cvb-btn is-small is-primary", dataset: { action: "confirm-publish" }, on: { click: send } }, "Publish"),
        h("button", { class: "cvb-btn is-small is-quiet", on: { click: () => { publishing = null; renderList(); } } }, "Cancel"));
    }
    return h("div", { class: "cvb-group" },
      it.published_name
        ? h("button", { class: "cvb-btn is-small", dataset: { action: "unpublish" }, on: { click: () => model.send({ type: "unpublish", id: it.id }) } }, "Unpublish")
        : h("button", { class: "cvb-btn is-small", dataset: { action: "publish" }, on: { click: () => { publishing = it.id; deleting = null; renderList(); } } }, "Publish"),
      h("button", { class: "cvb-btn is-small is-quiet is-danger", dataset: { action: "delete" }, title: it.published_name ? "Unpublish it first" : "Delete this iteration", disabled: !!it.published_name, on: { click: () => { deleting = it.id; publishing = null; renderList(); } } }, "Delete"));
  }

  function renderList() {
    const its = model.get("iterations") || [];
    const latest = (model.get("last_run") || {}).iteration;
    cvbFill(list,
      h("div", { class: "cvb-section-head" },
        h("span", { class: "cvb-section-title" }, "Iterations"),
        h("span", { class: "cvb-muted" }, its.length ? `${its.length} \u00b7 numbers on the validation images at probability threshold 50%` : "")),
      its.length
        ? h("table", { class: "cvb-table cvb-iterations" },
          h("thead", null, h("tr", null,
            ["Iteration", "Trained", "Type", "Domain", "Precision", "Recall", "mAP", "Published", ""].map((c, i) =>
              h("th", { class: i >= 4 && i <= 6 ? "is-num" : "", text: c })))),
          h("tbody", null, its.map((it) => h("tr", { class: it.id === latest ? "is-new" : "", dataset: { id: it.id } },
            h("td", { class: "cvb-itname" }, h("b", { text: it.name })),
            h("td", { class: "cvb-subtle" }, cvbWhen(it.created), h("span", { class: "cvb-muted" }, ` \u00b7 ${cvbClock(it.trained_seconds)}`)),
            h("td", null, h("span", { class: "cvb-badge" }, it.mode === "advanced" ? `Advanced${it.budget_minutes ? ` \u00b7 ${it.budget_minutes} min` : ""}` : "Quick")),
            h("td", { class: "cvb-subtle", text: it.domain }),
            h("td", { class: "is-num cvb-metric", text: cvbPct(it.precision) }),
            h("td", { class: "is-num cvb-metric", text: cvbPct(it.recall) }),
            h("td", { class: "is-num cvb-metric", text: cvbPct(it.map) }),
            h("td", null, it.published_name ? h("span", { class: "cvb-badge is-ok", text: it.published_name }) : h("span", { class: "cvb-muted", text: "\u2014" })),
            h("td", { class: "cvb-actions-cell" }, actions(it))))))
        : h("div", { class: "cvb-empty cvb-empty-small" },
          h("div", { class: "cvb-empty-title", text: "No iterations yet" }),
          h("div", { text: "Choose a training type and press Train." })),
    );
  }

  let ticker = null;
  function syncTicker() {
    if (busy() && !ticker) ticker = setInterval(renderRun, 1000);
    if (!busy() && ticker) { clearInterval(ticker); ticker = null; }
  }

  on("change:progress", () => { receivedAt = performance.now(); renderRun(); });
  on("change:state", () => { renderHeader(); renderSettings(); renderRun(); syncTicker(); });
  on("change:last_run", () => { renderRun(); renderList(); });
  on("change:host", renderRun);
  on("change:iterations", () => { renderList(); renderRun(); });
  on("change:readiness", () => { renderHeader(); renderSettings(); });
  on("change:mode change:budget_minutes change:domain change:domains change:left_out change:tags", renderSettings);
  on("change:augmentations", () => { previewing = false; renderAugment(); renderSettings(); });
  // a refused preview (no tagged image) comes back as the notice
  on("change:notice", () => { if (previewing) { previewing = false; renderAugment(); renderSettings(); } });

  renderHeader();
  renderSettings();
  renderRun();
  renderList();
  renderAugment();
  syncTicker();
  return () => { if (ticker) clearInterval(ticker); on.dispose(); };
}

export default { render };
