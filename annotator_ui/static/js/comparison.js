// "Does annotation pay here?" on the admin page: one button queues a comparison job
// (POST /comparisons) — weak vs bg-click (and action-click, both) on the same videos, recipe
// and seed, bg-click on nested subsets of the background clicks — and this module shows its
// progress, the trainings as they finish, the table with the paired per-video differences
// against video labels only, the learning curve and each supervision's mAP per tIoU.

import { api, ApiError, apiOptional } from "./api.js";
import { drawLearningCurve, drawTiouPlot, pct, points } from "./metricplots.js";

const $ = (id) => document.getElementById(id);
const card = $("comparison");
const POLL_MS = 1000;
const ACTIVE = new Set(["queued", "running"]);
const LABELS = {
  weak: "video labels only (weak)",
  "bg-click": "background clicks (bg-click)",
  "action-click": "action clicks (action-click)",
  both: "background + action clicks (both)",
};
let shown = null; // the comparison on the page: {job, result}
let timer = null;

function say(text, isError = false) {
  $("pays-status").textContent = text;
  $("pays-status").classList.toggle("error", isError);
}

function el(tag, props = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("data-") || k === "scope") node.setAttribute(k, v);
    else node[k] = v;
  }
  node.append(...children.filter((c) => c != null));
  return node;
}

/** "15 background + 6 action" clicks a training used ("none: video labels" for weak). */
function clicksUsed(r) {
  const parts = [];
  if (r.background_clicks) parts.push(`${r.background_clicks} background`);
  if (r.action_clicks) parts.push(`${r.action_clicks} action`);
  return parts.join(" + ") || "none (video labels)";
}

const label = (run) => (run.fraction < 1 ? `bg-click, ${Math.round(100 * run.fraction)} % of the clicks` : LABELS[run.key] || run.key);

function parseFractions(text) {
  const values = text.split(/[,\s]+/).filter(Boolean).map(Number);
  if (values.some((v) => !Number.isFinite(v) || v <= 0 || v >= 100)) return null;
  return values.map((v) => v / 100);
}

$("pays-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const body = {};
  for (const [id, key] of [["pays-epochs", "epochs"], ["pays-seed", "seed"]]) {
    const v = $(id).value.trim();
    if (v !== "") body[key] = Number(v);
  }
  const fractions = parseFractions($("pays-fractions").value);
  if (fractions == null) {
    say("Click subsets are percentages between 0 and 100 (all clicks are always used), e.g. 25, 50.", true);
    $("pays-fractions").focus();
    return;
  }
  body.click_fractions = fractions;
  $("pays-start").disabled = true;
  try {
    const out = await api("/comparisons", { method: "POST", body });
    say(`Comparison job #${out.job.id} queued: ${out.job.params.arms.join(", ")} and ${fractions.length} click subsets.`);
    show(out);
  } catch (e) {
    if (e instanceof ApiError && e.status === 409) {
      say(`${e.detail} Showing it.`, true);
      await loadLatest();
    } else {
      say(`No comparison: ${e.detail || e.message}`, true);
    }
    $("pays-start").disabled = Boolean(shown && ACTIVE.has(shown.job.status));
  }
});

$("pays-cancel").addEventListener("click", async () => {
  if (!shown) return;
  $("pays-cancel").disabled = true;
  try {
    await api(`/jobs/${shown.job.id}/cancel`, { method: "POST" });
    say(`Cancel requested for comparison job #${shown.job.id}.`);
    poll();
  } catch (e) {
    say(`Cancel failed: ${e.detail || e.message}`, true);
    $("pays-cancel").disabled = false;
  }
});

$("pays-measure").addEventListener("change", () => shown && renderVideos(shown.result));
window.addEventListener("resize", () => shown && renderPlots(shown.result));

async function poll() {
  if (timer) clearTimeout(timer);
  timer = null;
  if (!shown) return;
  try {
    show(await api(`/comparisons/${shown.job.id}`));
  } catch (e) {
    say(`Lost contact with the comparison (${e.detail || e.message}); retrying…`, true);
    timer = setTimeout(poll, POLL_MS * 3);
  }
}

function show(out) {
  shown = out;
  const { job } = out;
  const result = out.result || {};
  $("pays-job").hidden = false;
  card.dataset.jobId = String(job.id);
  card.dataset.jobStatus = job.status;
  card.dataset.jobProgress = String(job.progress);
  const p = job.status === "succeeded" ? 1 : Math.max(0, Math.min(1, Number(job.progress) || 0));
  $("pays-progress").value = p;
  $("pays-progress").setAttribute("aria-valuetext", `${Math.round(p * 100)} percent`);
  $("pays-percent").textContent = `${Math.round(p * 100)} %`;
  $("pays-message").textContent = `Job #${job.id} ${job.status}${job.message ? `: ${job.message}` : ""}${job.error ? ` — ${job.error}` : ""}`;
  $("pays-cancel").disabled = !ACTIVE.has(job.status);
  $("pays-start").disabled = ACTIVE.has(job.status);
  const log = $("pays-log");
  log.textContent = job.log_tail || "";
  renderPlan(result);
  renderTable(result);
  renderVideos(result);
  renderPlots(result);
  if (ACTIVE.has(job.status)) {
    timer = setTimeout(poll, POLL_MS);
  } else if (timer) {
    clearTimeout(timer);
    timer = null;
  }
}

function renderPlan(result) {
  const done = new Set((result.runs || []).map((r) => r.key));
  const current = result.current && result.current.key;
  $("pays-plan").replaceChildren(
    ...(result.plan || []).map((r) => {
      const state = done.has(r.key) ? "done" : r.key === current ? "running" : "waiting";
      const extra = state === "running" && result.current ? `, epoch ${result.current.epoch} / ${result.current.epochs}` : "";
      return el("li", { "data-state": state, "data-key": r.key, text: `${label(r)} — clicks: ${clicksUsed(r)} — ${state}${extra}` });
    }),
  );
}

function pairedText(p) {
  if (!p || p.mean == null) return "–";
  const ci = p.ci95 ? ` [${points(p.ci95[0])}, ${points(p.ci95[1])}]` : "";
  return `${points(p.mean)}${ci} (better ${p.better} · worse ${p.worse} · tied ${p.tied})`;
}

function renderTable(result) {
  const table = $("pays-table");
  const runs = result.runs || [];
  const v = result.videos || {};
  $("pays-caption").textContent = runs.length
    ? `On ${(v.validation || []).length} validation videos (${result.validation_segments} segments)` +
      `${result.validation_enough === false ? ", fewer than the minimum: a rough answer" : ""}; ` +
      `${(v.training || []).length} videos trained, ${(v.held_out || []).length} held out to choose each epoch; ` +
      `recipe ${(result.recipe || {}).text || "–"}, seed ${result.seed}. Differences are points of mAP against video labels only, ` +
      "mean over the validation videos [95 % bootstrap interval]."
    : "The table fills in as each training finishes.";
  table.tHead.replaceChildren(
    el("tr", {},
      ...["Supervision", "Clicks used", "mAP@0.5", "avg 0.1:0.7", "Δ avg 0.1:0.7 vs weak, per video", "Δ mAP@0.5 vs weak, per video", "Best epoch"].map((t) => el("th", { scope: "col", text: t })),
    ),
  );
  const paired = result.paired || {};
  table.tBodies[0].replaceChildren(
    ...runs.map((r) => {
      const pr = r.fraction === 1 ? paired[r.key] : null;
      return el("tr", { "data-key": r.key },
        el("th", { scope: "row", text: label(r) }),
        el("td", { text: clicksUsed(r) }),
        el("td", { text: pct(r["mAP@0.5"]) }),
        el("td", { text: pct(r["avg_0.1_0.7"]) }),
        el("td", { class: "paired", text: r.key === "weak" ? "baseline" : pr ? pairedText(pr["avg_0.1_0.7"]) : "–" }),
        el("td", { class: "paired", text: r.key === "weak" ? "baseline" : pr ? pairedText(pr["mAP@0.5"]) : "–" }),
        el("td", { text: String(r.best_epoch) }),
      );
    }),
  );
}

function renderVideos(result) {
  const measure = $("pays-measure").value;
  const runs = (result.runs || []).filter((r) => r.fraction === 1);
  const table = $("pays-videos");
  const weak = runs.find((r) => r.key === "weak");
  const others = runs.filter((r) => r.key !== "weak");
  table.tHead.replaceChildren(
    el("tr", {}, el("th", { scope: "col", text: "Validation video" }), el("th", { scope: "col", text: "weak" }),
      ...others.flatMap((r) => [el("th", { scope: "col", text: r.key }), el("th", { scope: "col", text: `${r.key} − weak` })])),
  );
  if (!weak) return table.tBodies[0].replaceChildren();
  table.tBodies[0].replaceChildren(
    ...Object.keys(weak.per_video).sort().map((video) => {
      const base = weak.per_video[video][measure];
      const cells = others.flatMap((r) => {
        const x = (r.per_video[video] || {})[measure];
        const d = x - base;
        return [el("td", { text: pct(x) }), el("td", { class: d > 1e-12 ? "better" : d < -1e-12 ? "worse" : "", text: points(d) })];
      });
      return el("tr", { "data-video": video }, el("th", { scope: "row", text: video }), el("td", { text: pct(base) }), ...cells);
    }),
  );
}

function renderPlots(result) {
  const curve = result.learning_curve || (result.runs || [])
    .filter((r) => r.key === "weak" || r.supervision === "bg-click")
    .map((r) => ({ ...r, background_clicks: r.key === "weak" ? 0 : r.background_clicks }))
    .sort((a, b) => a.background_clicks - b.background_clicks);
  drawLearningCurve($("learning-curve"), curve, [["avg_0.1_0.7", "avg mAP 0.1:0.7"], ["mAP@0.5", "mAP@0.5"]]);
  $("learning-caption").textContent = curve.length
    ? `Learning curve (nested click subsets; 0 = video labels only): ${curve.map((p) => `${p.background_clicks} clicks ${pct(p["avg_0.1_0.7"])}`).join(", ")} avg mAP 0.1:0.7.`
    : "Learning curve: appears as the trainings finish.";
  drawTiouPlot($("pays-tiou"), (result.runs || []).filter((r) => r.fraction === 1).map((r) => ({ label: r.key, mAP: r.mAP })));
}

async function loadLatest() {
  let list;
  try {
    list = await apiOptional("/comparisons?limit=1");
  } catch (e) {
    say(`Comparisons: ${e.detail || e.message}`, true);
    return;
  }
  if (list == null) {
    $("pays-start").disabled = true;
    say("Comparisons are not available on this server yet.");
  } else if (list.length) {
    show(list[0]);
  }
  card.dataset.loaded = "1";
}

loadLatest();
