// The workbench's header (cvbench/ui/workbench.py): the project's name, kind, domain and
// counts, and the tabs. The tab is a trait: Python shows the matching page below.

import {
  h, cvbFill, cvbFmt, cvbMount, cvbNotice, cvbSet
} from "./common.js";

const CVB_KIND_LABELS = { multiclass: "Classification \u00b7 multiclass", multilabel: "Classification \u00b7 multilabel", detection: "Object detection" };

function render({ model, el }) {
  const { on, root } = cvbMount(model, el, "wbhead");
  const top = h("div", { class: "cvb-wb-top" });
  const nav = h("nav", { class: "cvb-wb-tabs", role: "tablist" });
  root.append(top, nav, cvbNotice(model, on));

  function stat(n, label, cls) {
    return h("div", { class: `cvb-wb-stat ${cls || ""}` }, h("span", { class: "cvb-wb-stat-n", text: cvbFmt(n) }), h("span", { class: "cvb-wb-stat-label", text: label }));
  }

  function renderTop() {
    const i = model.get("info") || {};
    cvbFill(top,
      h("div", { class: "cvb-wb-logo", "aria-hidden": "true" }, h("span", null, "cv")),
      h("div", { class: "cvb-wb-id" },
        h("div", { class: "cvb-wb-name", title: i.path || "", text: i.name || "" }),
        h("div", { class: "cvb-wb-sub" },
          h("span", { class: "cvb-badge is-kind", text: CVB_KIND_LABELS[i.kind] || i.kind || "" }),
          h("span", { class: "cvb-subtle", text: i.domain ? `Domain: ${i.domain}` : "" }),
          (i.published || []).length ? h("span", { class: "cvb-badge is-ok", text: `Published: ${i.published.join(", ")}` }) : null)),
      h("div", { class: "cvb-spacer" }),
      h("div", { class: "cvb-wb-stats" },
        stat(i.images || 0, i.images === 1 ? "image" : "images"),
        stat(i.untagged || 0, "untagged", i.untagged ? "is-warn" : ""),
        stat(i.tags || 0, i.tags === 1 ? "tag" : "tags"),
        stat(i.iterations || 0, i.iterations === 1 ? "iteration" : "iterations")),
    );
  }

  function renderTabs() {
    const current = model.get("tab");
    cvbFill(nav, (model.get("tabs") || []).map((tab) => h("button", {
      class: `cvb-wb-tab${tab.key === current ? " is-active" : ""}`, role: "tab", dataset: { tab: tab.key },
      "aria-selected": tab.key === current ? "true" : "false",
      on: { click: () => { if (model.get("tab") !== tab.key) cvbSet(model, { tab: tab.key }); } },
    }, tab.label)));
  }

  on("change:info", renderTop);
  on("change:tab change:tabs", renderTabs);
  renderTop();
  renderTabs();
  return () => on.dispose();
}

export default { render };
