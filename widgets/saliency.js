// "Why?": the saliency heatmap of a prediction, asked of the kernel and kept per widget view
// (cvbench/ui/_saliency.py computes it, once per image, iteration and tag). Quick test,
// Performance and Predictions import it.
//
//   const why = cvbWhy(model, on);
//   why.ask({ source: "image", id, tag, iteration }, (answer) => ...);  // answer.src: PNG
//   why.button(request, shown, onToggle)  // the "Why?" toggle, with a spinner while asked

import { h } from "./common.js";

export function cvbWhy(model, on) {
  const answers = new Map(); // key -> answer (errors are not kept: the notice says them)
  const waiting = new Map(); // key -> callbacks
  const keyOf = (r) => [r.source, r.id, r.iteration || "", r.tag || ""].join("|");

  on("msg:custom", (msg) => {
    if (!msg || msg.type !== "why") return;
    const key = keyOf(msg);
    if (!msg.error) answers.set(key, msg);
    const fns = waiting.get(key) || [];
    waiting.delete(key);
    fns.forEach((fn) => fn(msg));
  });

  function ask(request, fn) {
    const key = keyOf(request);
    if (answers.has(key)) { fn(answers.get(key)); return; }
    if (waiting.has(key)) { waiting.get(key).push(fn); return; }
    waiting.set(key, [fn]);
    model.send({ type: "why", source: request.source, id: request.id, tag: request.tag || "", iteration: request.iteration || "" });
  }
  const known = (request) => answers.get(keyOf(request)) || null;
  const asking = (request) => waiting.has(keyOf(request));

  // the toggle: shown (bool) says whether the heat is on; onToggle(next) is called on click
  function button(request, shown, onToggle, props) {
    const busy = shown && asking(request);
    return h("button", {
      class: `cvb-btn is-small cvb-why${shown ? " is-active" : ""}`, type: "button", dataset: { action: "why" },
      title: shown ? "Hide the heatmap" : "Show where the model looked: the heat of the predicted tag",
      "aria-pressed": shown ? "true" : "false",
      ...(props || {}),
      on: { click: (e) => { e.stopPropagation(); onToggle(!shown); } },
    }, busy ? h("span", { class: "cvb-spinner" }) : null, "Why?");
  }

  // one line under a picture: which tag the heat explains
  function caption(answer) {
    if (!answer) return h("div", { class: "cvb-why-caption cvb-muted" }, "Computing the heatmap\u2026");
    return h("div", { class: "cvb-why-caption", title: answer.method || "" },
      h("span", { class: "cvb-why-scale", "aria-hidden": "true" }),
      `Where it looked for ${answer.tag_name} (${(100 * answer.probability).toFixed(0)}%)`);
  }

  return { ask, known, asking, button, caption };
}
