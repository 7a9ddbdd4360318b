// The admin page: training (Retrain, live job progress, log, cancel, curves), jobs, users
// and tokens, import / export of clicks. Model versions (readable metrics, plots, compare):
// versions.js; "Does annotation pay here?": comparison.js; classes: classes.js; exports of
// predictions and labels: exports.js; annotator quality: quality.js.

import { api, ApiError, apiOptional, download } from "./api.js";
import { drawTrainingCurves, fillCurvesTable } from "./plot.js";
import { initVersions, loadVersions } from "./versions.js";

const root = document.getElementById("admin");
const $ = (id) => document.getElementById(id);
const statusEl = $("admin-status");
const POLL_MS = 1000;

let watched = null; // the job shown in the panel
let pollTimer = null;
let requestedEpochs = new Map(); // job id -> epochs asked for in this page
let trainingApi = true;
let curvesHistory = [];

function say(text, isError = false) {
  statusEl.textContent = text;
  statusEl.classList.toggle("error", isError);
}

function fmtDate(s) {
  if (!s) return "–";
  const d = new Date(s);
  return Number.isNaN(d.getTime()) ? s : d.toLocaleString();
}

function cell(tr, content) {
  const td = document.createElement("td");
  if (content instanceof Node) td.append(content);
  else td.textContent = content == null ? "–" : String(content);
  tr.append(td);
  return td;
}

function badge(text, cls = "") {
  const s = document.createElement("span");
  s.className = `badge ${cls}`;
  s.textContent = text;
  return s;
}

function button(text, onClick, attrs = {}) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.addEventListener("click", onClick);
  for (const [k, v] of Object.entries(attrs)) b.setAttribute(k, v);
  return b;
}

function emptyRow(tbody, cols, text) {
  const tr = document.createElement("tr");
  const td = cell(tr, text);
  td.colSpan = cols;
  td.className = "muted";
  tbody.replaceChildren(tr);
}

// ------------------------------------------------------------------ training job
function lastEpoch(job) {
  const h = job && job.metrics && Array.isArray(job.metrics.history) ? job.metrics.history : [];
  return h.length ? h[h.length - 1] : null;
}

function mainLoss(losses) {
  if (!losses) return null;
  for (const k of ["total", "loss"]) if (Number.isFinite(losses[k])) return [k, losses[k]];
  const first = Object.entries(losses).find(([, v]) => Number.isFinite(v));
  return first || null;
}

const ACTIVE = new Set(["queued", "running"]);

function renderJob(job) {
  watched = job;
  $("job-panel").hidden = false;
  root.dataset.jobId = String(job.id);
  root.dataset.jobStatus = job.status;
  root.dataset.jobProgress = String(job.progress);
  const p = Math.max(0, Math.min(1, Number(job.progress) || 0));
  const prog = $("job-progress");
  prog.value = job.status === "succeeded" ? 1 : p;
  prog.setAttribute("aria-valuetext", `${Math.round(prog.value * 100)} percent`);
  $("job-percent").textContent = `${Math.round(prog.value * 100)} %`;
  $("job-title").textContent = `${job.kind === "train" ? "Training" : job.kind} job #${job.id}`;
  const parts = [job.status];
  const last = lastEpoch(job);
  if (last) {
    const total = requestedEpochs.get(job.id) || (job.params && job.params.epochs);
    parts.push(`epoch ${last.epoch}${total ? ` / ${total}` : ""}`);
    const loss = mainLoss(last.losses);
    if (loss) parts.push(`${loss[0]} ${loss[1].toFixed(4)}`);
    const val = Object.entries(last.val || {}).find(([, v]) => Number.isFinite(v));
    if (val) parts.push(`${val[0]} ${val[1].toFixed(3)}`);
  }
  if (job.message) parts.push(job.message);
  if (job.model_version_id && !(job.message || "").includes(`model version ${job.model_version_id}`)) {
    parts.push(`→ model version ${job.model_version_id}`);
  }
  $("job-text").textContent = parts.join(" · ");
  const err = $("job-error");
  err.hidden = !job.error;
  err.textContent = job.error ? `Error: ${job.error}` : "";
  const log = $("job-log");
  const atBottom = log.scrollTop + log.clientHeight >= log.scrollHeight - 4;
  log.textContent = job.log_tail || "";
  if (atBottom) log.scrollTop = log.scrollHeight;
  $("job-cancel").disabled = !ACTIVE.has(job.status);
  if (job.metrics && Array.isArray(job.metrics.history)) showCurves(job.metrics.history, `job #${job.id}`);
  $("retrain").disabled = !trainingApi || ACTIVE.has(job.status);
}

function showCurves(history, what) {
  curvesHistory = history;
  drawTrainingCurves($("curves"), history);
  fillCurvesTable($("curves-table"), history);
  $("curves-caption").textContent = `Training curves of ${what}: losses (solid, left axis) and held-out metrics (dashed, right axis) per epoch.`;
}

async function poll() {
  pollTimer = null;
  if (!watched) return;
  try {
    const job = await api(`/jobs/${watched.id}`);
    renderJob(job);
    if (ACTIVE.has(job.status)) {
      pollTimer = setTimeout(poll, POLL_MS);
    } else {
      say(`Job #${job.id} ${job.status}.`, job.status === "failed");
      loadVersions();
      loadJobs();
    }
  } catch (e) {
    say(`Lost contact with the job (${e.detail || e.message}); retrying…`, true);
    pollTimer = setTimeout(poll, POLL_MS * 3);
  }
}

function watch(job) {
  if (pollTimer) clearTimeout(pollTimer);
  renderJob(job);
  if (ACTIVE.has(job.status)) pollTimer = setTimeout(poll, POLL_MS);
}

$("retrain-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const body = { supervision: $("supervision").value, recipe: $("recipe").value };
  for (const k of ["epochs", "hidden", "seed"]) {
    const v = $(k).value.trim();
    if (v !== "") body[k] = Number(v);
  }
  if ($("approved-only").checked) body.approved_only = true; // assignments.js: review
  $("retrain").disabled = true;
  try {
    const job = await api("/training-jobs", { method: "POST", body });
    if (body.epochs) requestedEpochs.set(job.id, body.epochs);
    say(`Training job #${job.id} started (${body.supervision}, recipe ${body.recipe}).`);
    watch(job);
    loadJobs();
  } catch (e) {
    if (e instanceof ApiError && e.status === 409) {
      say("A training job is already running; showing it.", true);
      const running = await apiOptional("/jobs?kind=train&status=running").catch(() => null);
      const job = Array.isArray(running) && running[0];
      if (job) watch(job);
    } else if (e instanceof ApiError && e.status === 404) {
      say("Training is not available on this server yet (POST /training-jobs is missing).", true);
    } else {
      say(`Retrain failed: ${e.detail || e.message}`, true);
    }
    $("retrain").disabled = !trainingApi || (watched && ACTIVE.has(watched.status));
  }
});

$("job-cancel").addEventListener("click", async () => {
  if (!watched) return;
  $("job-cancel").disabled = true;
  try {
    const job = await api(`/jobs/${watched.id}/cancel`, { method: "POST" });
    if (job && job.id) renderJob(job);
    say(`Cancel requested for job #${watched.id}.`);
    if (!pollTimer) pollTimer = setTimeout(poll, POLL_MS);
  } catch (e) {
    say(`Cancel failed: ${e.detail || e.message}`, true);
    $("job-cancel").disabled = false;
  }
});

// ------------------------------------------------------------------ versions, jobs
async function activate(id) {
  try {
    const out = await api(`/model-versions/${id}/activate`, { method: "POST" });
    const job = out && out.predict_job;
    say(
      `Model version ${id} is now active: annotators see its predictions.` +
        (job
          ? ` ${out.videos_without_predictions} video(s) had none of it: job #${job.id} predicts every video.`
          : out && out.note
            ? ` ${out.note}`
            : " It has predicted every video already."),
      Boolean(out && out.note),
    );
    loadVersions();
    if (job) watch(job);
    loadJobs();
  } catch (e) {
    say(`Activation failed: ${e.detail || e.message}`, true);
  }
}

async function versionCurves(v) {
  let history = v.metrics && Array.isArray(v.metrics.history) ? v.metrics.history : null;
  if (!history && v.job_id) {
    const job = await apiOptional(`/jobs/${v.job_id}`).catch(() => null);
    history = job && job.metrics && job.metrics.history;
  }
  if (history && history.length) showCurves(history, `model version ${v.id}`);
  else say(`Model version ${v.id} has no per-epoch history.`);
}

async function loadJobs() {
  const tbody = $("jobs-table").tBodies[0];
  let jobs;
  try {
    jobs = await apiOptional("/jobs");
  } catch (e) {
    emptyRow(tbody, 6, `Could not load: ${e.detail || e.message}`);
    return null;
  }
  if (jobs == null) {
    emptyRow(tbody, 6, "The jobs API is not available on this server yet.");
    return null;
  }
  const list = Array.isArray(jobs) ? jobs : jobs.items || [];
  list.sort((a, b) => b.id - a.id);
  if (!list.length) emptyRow(tbody, 6, "No jobs yet.");
  else
    tbody.replaceChildren(
      ...list.slice(0, 20).map((j) => {
        const tr = document.createElement("tr");
        cell(tr, `#${j.id}`);
        cell(tr, j.kind);
        cell(tr, badge(j.status, `status-${j.status}`));
        cell(tr, `${Math.round((Number(j.progress) || 0) * 100)} %`);
        cell(tr, j.error || j.message || "");
        cell(tr, fmtDate(j.created_at));
        if (j.kind === "train") {
          tr.tabIndex = 0;
          tr.title = "Show this job";
          const show = () => watch(j);
          tr.addEventListener("click", show);
          tr.addEventListener("keydown", (ev) => ev.key === "Enter" && show());
        }
        return tr;
      }),
    );
  return list;
}

// ------------------------------------------------------------------ users
function showToken(user) {
  $("token-box").hidden = false;
  $("token-user").textContent = user.name;
  $("token-value").textContent = user.token;
  $("token-value").focus?.();
}

$("token-copy").addEventListener("click", async () => {
  try {
    await navigator.clipboard.writeText($("token-value").textContent);
    say("Token copied.");
  } catch (_) {
    say("Copy failed: select the token and copy it by hand.", true);
  }
});

async function loadUsers() {
  const users = await api("/users");
  $("users-table").tBodies[0].replaceChildren(
    ...users.map((u) => {
      const tr = document.createElement("tr");
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = u.name;
      tr.append(th);
      cell(tr, u.role);
      cell(tr, u.active ? "yes" : "no");
      cell(tr, `${u.reaction_offset_ms} ms`);
      cell(tr, fmtDate(u.created_at));
      const actions = document.createElement("div");
      actions.className = "row";
      actions.append(button(u.active ? "Deactivate" : "Reactivate", () => setActive(u, !u.active), {
        "aria-label": `${u.active ? "Deactivate" : "Reactivate"} ${u.name}`,
      }));
      actions.append(button("New token", async () => {
        if (!confirm(`Give ${u.name} a new token? The old one stops working.`)) return;
        try {
          showToken(await api(`/users/${u.id}/token`, { method: "POST" }));
          say(`New token for ${u.name}.`);
        } catch (e) {
          say(`Token not changed: ${e.detail || e.message}`, true);
        }
      }, { "aria-label": `New token for ${u.name}` }));
      tr.dataset.userId = String(u.id);
      tr.dataset.active = u.active ? "1" : "0";
      cell(tr, actions);
      return tr;
    }),
  );
}

async function setActive(u, active) {
  if (!active && !confirm(`Deactivate ${u.name}? Their token stops working (within seconds on other servers); their work stays.`)) return;
  try {
    await api(`/users/${u.id}/${active ? "reactivate" : "deactivate"}`, { method: "POST" });
    say(active ? `${u.name} can sign in again.` : `${u.name} is deactivated; their work stays.`);
    loadUsers();
  } catch (e) {
    say(`${active ? "Reactivation" : "Deactivation"} failed: ${e.detail || e.message}`, true);
  }
}

$("user-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  try {
    const u = await api("/users", { method: "POST", body: { name: $("user-name").value.trim(), role: $("user-role").value } });
    $("user-name").value = "";
    showToken(u);
    say(`User ${u.name} created.`);
    loadUsers();
  } catch (e) {
    say(`User not created: ${e.detail || e.message}`, true);
  }
});

// ------------------------------------------------------------------ import / export
$("export-json").addEventListener("click", () =>
  download("/export/clicks?format=json&limit=10000", "clicks.json").catch((e) => say(`Export failed: ${e.detail || e.message}`, true)),
);
$("export-csv").addEventListener("click", () =>
  download("/export/clicks?format=coin-csv", "clicks.csv").catch((e) => say(`Export failed: ${e.detail || e.message}`, true)),
);
$("import-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const form = new FormData();
  form.append("file", $("import-file").files[0]);
  form.append("annotator", $("import-annotator").value.trim());
  const out = $("import-result");
  out.textContent = "Importing…";
  try {
    const r = await api("/import/clicks", { method: "POST", body: form });
    out.textContent = `${r.imported} of ${r.rows} rows imported for ${r.annotator_name} (${r.already_present} already present).`;
  } catch (e) {
    out.textContent = `Import failed: ${e.detail || e.message}`;
  }
});

// ------------------------------------------------------------------ start
window.addEventListener("resize", () => drawTrainingCurves($("curves"), curvesHistory));

async function start() {
  drawTrainingCurves($("curves"), []);
  initVersions({ onActivate: activate, onCurves: versionCurves });
  await Promise.all([
    loadUsers().catch((e) => say(`Users: ${e.detail || e.message}`, true)),
    loadVersions(),
  ]);
  const jobs = await loadJobs();
  if (jobs == null) {
    trainingApi = false;
    $("retrain").disabled = true;
    say("Training is not available on this server yet (no jobs API).");
  } else {
    const train = jobs.filter((j) => j.kind === "train");
    const current = train.find((j) => ACTIVE.has(j.status)) || train[0];
    if (current) watch(current);
  }
  root.dataset.loaded = "1";
}

start();

