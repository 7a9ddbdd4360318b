// The admin page's model versions: a table with readable metrics (the validation set's
// mAP@0.5 and average mAP over tIoU 0.1:0.7, or plainly that there is none and what the
// held-out numbers are worth), the clicks and labels used, the recipe; per version a
// details row with its mAP-per-tIoU plot and DETAD false-positive bars; and a side-by-side
// comparison of two versions (differences, both curves on one plot, paired per-video
// differences where both were measured on the same videos). Actions (activate, training
// curves) are the page's: admin.js passes them in.

import { apiOptional } from "./api.js";
import { drawFpBars, drawTiouPlot, pct, points } from "./metricplots.js";

const $ = (id) => document.getElementById(id);
const COLS = 8;
let versions = [];
let actions = { onActivate: () => {}, onCurves: () => {} };
const open = new Set(); // versions whose details row is shown

export function initVersions(handlers) {
  actions = { ...actions, ...handlers };
  for (const id of ["compare-a", "compare-b"]) $(id).addEventListener("change", renderCompare);
  $("compare-swap").addEventListener("click", () => {
    const a = $("compare-a").value;
    $("compare-a").value = $("compare-b").value;
    $("compare-b").value = a;
    renderCompare();
  });
  window.addEventListener("resize", () => {
    redrawDetails();
    renderCompare();
  });
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("data-") || k.startsWith("aria-") || k === "role" || k === "scope") node.setAttribute(k, v);
    else node[k] = v;
  }
  node.append(...children.filter((c) => c != null));
  return node;
}

function fmtDate(s) {
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? s || "–" : d.toLocaleString();
}

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

/** {headline, note, kind} describing how a version measures (validation | holdout | none). */
export function measureOf(v) {
  const m = v.metrics || {};
  const val = m.validation;
  if (val && val.mAP) {
    const n = Array.isArray(val.videos) ? val.videos.length : val.videos;
    let note = `on ${plural(n, "validation video")} (${plural(val.segments, "segment")})`;
    if (val.enough === false) note += " — too few for more than a rough measure";
    if (m.held_out_from === "validation") note += "; they also chose the best epoch, so slightly optimistic";
    return { kind: "validation", headline: `mAP@0.5 ${pct(val.mAP["0.5"])} · avg 0.1:0.7 ${pct(val["avg_0.1_0.7"])}`, note };
  }
  const held = Array.isArray(m.holdout_videos) ? m.holdout_videos.length : 0;
  if (m.holdout_map && m.holdout_map.mAP) {
    return {
      kind: "holdout",
      headline: "No validation set",
      note: `held out: mAP@0.5 ${pct(m.holdout_map.mAP["0.5"])} · avg 0.1:0.7 ${pct(m.holdout_map["avg_0.1_0.7"])} on ${plural(held, "training video")} that also chose the best epoch — an optimistic, ${held < 5 ? "very " : ""}noisy guess, not a measure. Mark videos with segments as validation.`,
    };
  }
  if ("holdout_videos" in m || "held_out_from" in m) {
    return {
      kind: "none",
      headline: "No validation set",
      note: held
        ? `${plural(held, "held-out training video")} without ground truth chose the epoch; nothing measures this version. Mark videos with segments as validation.`
        : "nothing measures this version. Mark videos with segments as validation.",
    };
  }
  // a version from before the validation set: whatever flat numbers it has
  const flat = Object.entries(m)
    .filter(([, x]) => typeof x === "number" && Number.isFinite(x))
    .slice(0, 4)
    .map(([k, x]) => `${k} ${Math.abs(x) < 10 ? x.toFixed(3) : x}`);
  return { kind: "legacy", headline: flat.join(" · ") || "No validation set", note: flat.length ? "recorded before validation sets" : "" };
}

function dataText(ds) {
  const parts = [];
  const count = (x) => (Array.isArray(x) ? x.length : x);
  if (ds.videos != null) parts.push(plural(ds.videos, "labelled video"));
  if (ds.background_clicks != null) parts.push(plural(ds.background_clicks, "background click"));
  if (ds.action_clicks) parts.push(plural(ds.action_clicks, "action click"));
  if (ds.clicks != null) parts.push(plural(ds.clicks, "click"));
  if (ds.annotators != null) parts.push(plural(count(ds.annotators), "annotator"));
  return parts.join(" · ") || "–";
}

export function recipeText(v) {
  const r = (v.config || {}).recipe;
  return (r && (r.text || r.name)) || "–";
}

function metricsCell(v) {
  const m = measureOf(v);
  const td = el("td", { class: `metrics metrics-${m.kind}` });
  td.append(el("span", { class: "headline", text: m.headline }));
  if (m.note) td.append(el("span", { class: "note small muted", text: m.note }));
  return td;
}

function button(text, onClick, attrs = {}) {
  const b = el("button", { type: "button", text, ...attrs });
  b.addEventListener("click", onClick);
  return b;
}

function detailsRow(v) {
  const tr = el("tr", { class: "version-details", "data-details-for": String(v.id) });
  const td = el("td", { colSpan: COLS });
  const val = (v.metrics || {}).validation;
  const tiou = el("canvas", { class: "plot plot-small tiou-plot", role: "img", "aria-label": `mAP per tIoU threshold of version ${v.id} on the validation set` });
  const bars = el("canvas", { class: "plot plot-small fp-bars", role: "img", "aria-label": `False-positive breakdown of version ${v.id}` });
  const text = val && val.mAP
    ? `mAP per tIoU: ${Object.entries(val.mAP).map(([t, x]) => `${t} ${pct(x)}`).join(", ")}.`
    : "Not measured on a validation set: no plot.";
  td.append(
    el("div", { class: "version-plots" },
      el("figure", {}, tiou, el("figcaption", { class: "small muted", text: `Version ${v.id}: mAP on the validation set per tIoU threshold. ${text}` })),
      el("figure", {}, bars, el("figcaption", { class: "small muted", text: fpCaption(val) })),
    ),
  );
  tr.append(td);
  return tr;
}

function fpCaption(val) {
  const s = val && val.fp_analysis && val.fp_analysis.summary;
  if (!s) return "False-positive breakdown: none (no validation set).";
  const parts = Object.entries(s.counts || {}).map(([k, n]) => `${k.replace("_", " ")} ${n}`);
  return `Its top-ranked predictions at tIoU ${val.fp_analysis.summary_tiou ?? 0.5} (DETAD): ${s.true_positive} true positives; false positives: ${parts.join(", ")}.`;
}

function drawDetails(v, tr) {
  const val = (v.metrics || {}).validation;
  drawTiouPlot(tr.querySelector(".tiou-plot"), val && val.mAP ? [{ label: `#${v.id} ${v.supervision}`, mAP: val.mAP }] : []);
  drawFpBars(tr.querySelector(".fp-bars"), [{ label: `#${v.id}`, summary: val && val.fp_analysis ? val.fp_analysis.summary : null }]);
}

function redrawDetails() {
  for (const tr of document.querySelectorAll("#versions-table tr.version-details")) {
    const v = versions.find((x) => String(x.id) === tr.dataset.detailsFor);
    if (v) drawDetails(v, tr);
  }
}

function toggleDetails(v, btn) {
  const row = $("versions-table").querySelector(`tr[data-version-id="${v.id}"]`);
  const existing = $("versions-table").querySelector(`tr[data-details-for="${v.id}"]`);
  if (existing) {
    existing.remove();
    open.delete(v.id);
    btn.setAttribute("aria-expanded", "false");
    return;
  }
  const tr = detailsRow(v);
  row.after(tr);
  open.add(v.id);
  btn.setAttribute("aria-expanded", "true");
  drawDetails(v, tr);
}

function versionRow(v) {
  const tr = el("tr", { "data-version-id": String(v.id) });
  if (v.is_active) tr.className = "active-version";
  tr.append(el("th", { scope: "row", text: `#${v.id}` }));
  tr.append(el("td", { text: fmtDate(v.created_at) }));
  tr.append(el("td", { text: v.supervision }));
  tr.append(metricsCell(v));
  tr.append(el("td", { class: "small", text: dataText(v.data_summary || {}) }));
  tr.append(el("td", { class: "small" }, el("code", { text: recipeText(v) })));
  tr.append(el("td", {}, el("span", { class: `badge ${v.is_active ? "ok" : ""}`, text: v.is_active ? "active" : "inactive" })));
  const row = el("div", { class: "row" });
  if (!v.is_active) row.append(button("Activate", () => actions.onActivate(v.id), { "aria-label": `Activate model version ${v.id}` }));
  row.append(button("Curves", () => actions.onCurves(v), { "aria-label": `Training curves of version ${v.id}` }));
  const details = button("Plots", () => toggleDetails(v, details), {
    "aria-label": `mAP per tIoU and false positives of version ${v.id}`,
    "aria-expanded": "false",
  });
  row.append(details);
  row.append(button("Compare", () => compareWith(v.id), { "aria-label": `Compare version ${v.id} with another` }));
  tr.append(el("td", {}, row));
  return tr;
}

export async function loadVersions() {
  const tbody = $("versions-table").tBodies[0];
  const message = (text) => tbody.replaceChildren(el("tr", {}, el("td", { colSpan: COLS, class: "muted", text })));
  let list;
  try {
    list = await apiOptional("/model-versions");
  } catch (e) {
    return message(`Could not load: ${e.detail || e.message}`);
  }
  if (list == null) return message("The model-versions API is not available on this server yet.");
  versions = list.sort((a, b) => b.id - a.id);
  document.dispatchEvent(new CustomEvent("versions-changed"));
  fillCompareSelects();
  if (!versions.length) {
    renderCompare();
    return message("No model versions yet: press Retrain.");
  }
  const rows = [];
  for (const v of versions) {
    rows.push(versionRow(v));
    if (open.has(v.id)) rows.push(detailsRow(v));
  }
  tbody.replaceChildren(...rows);
  for (const v of versions) {
    if (!open.has(v.id)) continue;
    tbody.querySelector(`tr[data-version-id="${v.id}"] button[aria-expanded]`).setAttribute("aria-expanded", "true");
  }
  redrawDetails();
  renderCompare();
}

// ------------------------------------------------------------------ comparing two versions
function fillCompareSelects() {
  for (const id of ["compare-a", "compare-b"]) {
    const sel = $(id);
    const keep = sel.value;
    sel.replaceChildren(
      el("option", { value: "", text: "choose a version" }),
      ...versions.map((v) => el("option", { value: String(v.id), text: `#${v.id} ${v.supervision}${v.is_active ? " (active)" : ""}` })),
    );
    if (versions.some((v) => String(v.id) === keep)) sel.value = keep;
  }
}

function compareWith(id) {
  const a = $("compare-a");
  const b = $("compare-b");
  const other = versions.find((v) => v.id !== id && v.is_active) || versions.find((v) => v.id !== id);
  b.value = String(id);
  if (!a.value || a.value === String(id)) a.value = other ? String(other.id) : "";
  renderCompare();
  $("compare-panel").scrollIntoView({ block: "nearest" });
  b.focus();
}

function diffCell(a, b, unit = "points") {
  if (!Number.isFinite(a) || !Number.isFinite(b)) return el("td", { text: "–" });
  const d = b - a;
  const td = el("td", { class: d > 1e-9 ? "better" : d < -1e-9 ? "worse" : "", text: unit === "points" ? points(d) : `${d > 0 ? "+" : ""}${d}` });
  return td;
}

function pairedSummary(A, B) {
  const pa = ((A.metrics || {}).validation || {}).per_video;
  const pb = ((B.metrics || {}).validation || {}).per_video;
  if (!pa || !pb) return "Per-video numbers: one of them was measured before they were kept (retrain it to compare per video).";
  const va = Object.keys(pa).sort();
  const vb = Object.keys(pb).sort();
  const same = va.length === vb.length && va.every((x, i) => x === vb[i]);
  const shared = va.filter((x) => x in pb);
  if (!shared.length) return "They were measured on different validation videos: no paired comparison.";
  const diffs = shared.map((x) => pb[x]["avg_0.1_0.7"] - pa[x]["avg_0.1_0.7"]);
  const better = diffs.filter((d) => d > 1e-12).length;
  const worse = diffs.filter((d) => d < -1e-12).length;
  const mean = diffs.reduce((s, d) => s + d, 0) / diffs.length;
  return (
    `Per video (avg mAP 0.1:0.7, ${plural(shared.length, "video")} both were measured on): #${B.id} − #${A.id} = ${points(mean)} points on average; ` +
    `better on ${better}, worse on ${worse}, tied on ${shared.length - better - worse}.` +
    (same ? "" : ` The validation sets differ (${va.length} and ${vb.length} videos): only the shared videos are paired; the pooled numbers above compare different sets.`)
  );
}

function renderCompare() {
  const panel = $("compare-panel");
  const A = versions.find((v) => String(v.id) === $("compare-a").value);
  const B = versions.find((v) => String(v.id) === $("compare-b").value);
  const body = $("compare-body");
  if (!A || !B || A === B) {
    body.hidden = true;
    panel.dataset.compared = "";
    $("compare-hint").textContent = versions.length < 2 ? "Two versions are needed to compare." : "Choose two different versions (or press Compare on a row).";
    return;
  }
  body.hidden = false;
  panel.dataset.compared = `${A.id},${B.id}`;
  $("compare-hint").textContent = "";
  const va = (A.metrics || {}).validation || {};
  const vb = (B.metrics || {}).validation || {};
  const head = el("tr", {}, el("th", { scope: "col", text: "" }), el("th", { scope: "col", text: `#${A.id} ${A.supervision}` }), el("th", { scope: "col", text: `#${B.id} ${B.supervision}` }), el("th", { scope: "col", text: `#${B.id} − #${A.id}` }));
  const rows = [];
  const metric = (label, a, b) => rows.push(el("tr", {}, el("th", { scope: "row", text: label }), el("td", { text: pct(a) }), el("td", { text: pct(b) }), diffCell(a, b)));
  const plain = (label, a, b, diff = true) => rows.push(el("tr", {}, el("th", { scope: "row", text: label }), el("td", { text: String(a ?? "–") }), el("td", { text: String(b ?? "–") }), diff ? diffCell(a, b, "count") : el("td", { text: a === b ? "same" : "differs" })));
  metric("mAP@0.5 (validation)", (va.mAP || {})["0.5"], (vb.mAP || {})["0.5"]);
  metric("avg mAP 0.1:0.7", va["avg_0.1_0.7"], vb["avg_0.1_0.7"]);
  metric("avg mAP 0.3:0.7", va["avg_0.3_0.7"], vb["avg_0.3_0.7"]);
  for (const t of ["0.1", "0.2", "0.3", "0.4", "0.6", "0.7"]) metric(`mAP@${t}`, (va.mAP || {})[t], (vb.mAP || {})[t]);
  const n = (val) => (Array.isArray(val.videos) ? val.videos.length : val.videos);
  plain("validation videos", n(va), n(vb));
  const da = A.data_summary || {};
  const db = B.data_summary || {};
  plain("labelled videos", da.videos, db.videos);
  plain("background clicks", da.background_clicks, db.background_clicks);
  plain("action clicks", da.action_clicks, db.action_clicks);
  plain("best epoch", (A.metrics || {}).best_epoch, (B.metrics || {}).best_epoch, false);
  plain("recipe", recipeText(A), recipeText(B), false);
  $("compare-table").tHead.replaceChildren(head);
  $("compare-table").tBodies[0].replaceChildren(...rows);
  $("compare-paired").textContent = pairedSummary(A, B);
  drawTiouPlot($("compare-tiou"), [
    { label: `#${A.id} ${A.supervision}`, mAP: va.mAP },
    { label: `#${B.id} ${B.supervision}`, mAP: vb.mAP, dashed: true },
  ].filter((s) => s.mAP));
  drawFpBars($("compare-fp"), [
    { label: `#${A.id}`, summary: va.fp_analysis ? va.fp_analysis.summary : null },
    { label: `#${B.id}`, summary: vb.fp_analysis ? vb.fp_analysis.summary : null },
  ]);
}
