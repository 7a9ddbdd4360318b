// The admin's review page: flagged clicks of the active model version, one key each:
// ↓/↑ select, Enter jump to the moment (the video seeks there and the context timeline shows
// the seconds around it: every click, imported ground truth, the version's predicted segments
// and the flagged class's activation), L loop the moment, K keep, D delete.
// Why the context: most wrong background clicks of a human annotator lie within a fraction of
// a second of an action's edge, where no model decides reliably (docs/guided.md, "Click QA"),
// so the page helps the reviewer see which side of the edge the click is on.

import { api, apiOptional } from "./api.js";
import { flagsText } from "./flags.js";
import { clamp, formatTime } from "./timebase.js";
import { Timeline, annotatorColor } from "./timeline.js";

const root = document.getElementById("review");
const $ = (id) => document.getElementById(id);
const statusEl = $("review-status");
const video = $("review-video");

let items = [];
let selected = 0;
let version = null;
let classes = [];
let timeline = null;
let shown = null; // the item whose context is on screen
let loop = null; // {t0, t1} while the moment loops
const contexts = new Map(); // video id → a promise of {detail, predictions, gt, clicks}

// Flags listed at a time (the API's limit; ?batch=N for fewer): once a batch is reviewed
// (kept or deleted, so the API no longer lists them), the next one is fetched.
const BATCH = clamp(Math.floor(Number(new URLSearchParams(location.search).get("batch"))) || 1000, 1, 1000);
let more = 0; // flagged clicks beyond the listed batch when it was fetched
const CONTEXT_S = 5; // the context timeline shows the click ± this many seconds
const LOOP_S = 1.5; // L plays the click ± this many seconds, over and over

function say(text, isError = false) {
  statusEl.textContent = text;
  statusEl.classList.toggle("error", isError);
}

function button(text, key, onClick) {
  const b = document.createElement("button");
  b.type = "button";
  b.textContent = text;
  b.setAttribute("aria-keyshortcuts", key);
  b.addEventListener("click", (ev) => {
    ev.stopPropagation();
    onClick();
  });
  return b;
}

function render() {
  const tbody = $("flags-table").querySelector("tbody");
  root.dataset.flags = String(items.length);
  if (!items.length) {
    const tr = document.createElement("tr");
    const td = document.createElement("td");
    td.colSpan = 5;
    td.className = "muted";
    td.textContent = version == null ? "No model version yet: only ground truth can flag clicks, and none does." : "No flagged clicks. Nothing to review.";
    tr.append(td);
    tbody.replaceChildren(tr);
    return;
  }
  selected = Math.max(0, Math.min(selected, items.length - 1));
  tbody.replaceChildren(
    ...items.map((item, i) => {
      const tr = document.createElement("tr");
      tr.dataset.clickId = String(item.click_id);
      tr.setAttribute("aria-selected", String(i === selected));
      if (i === selected) tr.classList.add("selected");
      for (const v of [item.video_title, item.annotator_name, `${formatTime(item.t_s)} · frame ${item.frame_index}`, flagsText(item)]) {
        const td = document.createElement("td");
        td.textContent = v;
        tr.append(td);
      }
      const td = document.createElement("td");
      td.className = "actions";
      td.append(
        button("Jump", "Enter", () => jump(i)),
        button("Keep", "K", () => keep(i)),
        button("Delete", "D", () => remove(i)),
      );
      tr.append(td);
      tr.addEventListener("click", () => {
        selected = i;
        render();
      });
      return tr;
    }),
  );
}

function jump(i = selected) {
  const item = items[i];
  if (!item) return;
  selected = i;
  stopLoop();
  render();
  const src = `/media/videos/${item.video_id}`;
  const seekThere = () => {
    video.currentTime = item.t_s;
    root.dataset.jumped = String(item.click_id);
  };
  if (video.getAttribute("src") !== src) {
    video.setAttribute("src", src);
    video.addEventListener("loadedmetadata", seekThere, { once: true });
  } else {
    video.pause();
    seekThere();
  }
  $("review-caption").textContent = `${item.video_title} at ${formatTime(item.t_s)} — ${item.annotator_name}'s click. `;
  const a = document.createElement("a");
  a.href = `/videos/${item.video_id}`;
  a.textContent = "Open the video";
  $("review-caption").append(a);
  say(`Click ${item.click_id}: ${flagsText(item)}. L loops the moment, K keeps it, D deletes it.`);
  showContext(item);
}

// ------------------------------------------------------------------ context timeline
function context(videoId) {
  if (!contexts.has(videoId)) {
    const got = Promise.all([
      api(`/videos/${videoId}`),
      apiOptional(`/videos/${videoId}/predictions?model_version=${version ?? "active"}`),
      apiOptional(`/videos/${videoId}/ground-truth`),
      api(`/videos/${videoId}/clicks`),
    ]).then(([detail, predictions, gt, clicks]) => ({ detail, predictions, gt: gt || [], clicks }));
    got.catch(() => contexts.delete(videoId)); // a failed load is retried on the next jump
    contexts.set(videoId, got);
  }
  return contexts.get(videoId);
}

async function showContext(item) {
  shown = item;
  const box = $("review-context");
  let ctx;
  try {
    ctx = await context(item.video_id);
  } catch (e) {
    if (shown === item) say(`Could not load the moment's context: ${e.detail || e.message}`, true);
    return;
  }
  if (shown !== item) return; // the reviewer moved on meanwhile
  box.hidden = false;
  const { detail, predictions, gt, clicks } = ctx;
  if (!timeline) {
    timeline = new Timeline($("context-timeline"), {
      duration: detail.duration_s,
      fps: detail.fps,
      onSeek: (t) => {
        stopLoop();
        video.currentTime = t;
      },
      onSelect: (c) => {
        stopLoop();
        video.currentTime = c.t_s;
      },
    });
    timeline.set({ colorFor: (c) => annotatorColor(c.annotator_id), classes });
  }
  const flag = item.flags[0];
  const hasPred = predictions && predictions.model_version_id != null;
  const hasCurve = hasPred && Boolean(predictions.curves?.classes?.[String(flag.class_id)]);
  timeline.set({
    duration: detail.duration_s,
    fps: detail.fps,
    clicks: clicks
      .filter((c) => !c.deleted)
      .map((c) => ({ ...c, key: `id${c.id}`, state: "saved" })),
    selectedKey: `id${item.click_id}`,
    flagged: new Set(items.filter((i) => i.video_id === item.video_id).map((i) => i.click_id)),
    segments: hasPred ? predictions.segments : null,
    curves: hasPred ? predictions.curves : null,
    curveClass: flag.class_id,
    gt,
    showGT: gt.length > 0,
  });
  timeline.setView(item.t_s - CONTEXT_S, item.t_s + CONTEXT_S);
  timeline.setTime(item.t_s);
  $("context-caption").textContent =
    `${formatTime(Math.max(0, item.t_s - CONTEXT_S))}–${formatTime(Math.min(detail.duration_s, item.t_s + CONTEXT_S))} of ${item.video_title}: ` +
    `every click (the flagged one highlighted)${gt.length ? ", imported ground truth" : ""}, ` +
    `${hasPred ? `model version ${predictions.model_version_id}'s segments${hasCurve ? ` and its ${flag.class_name} activation` : ""}` : "no predictions"}. ` +
    "Click to seek; L loops the moment.";
  root.dataset.context = String(item.click_id);
}

// After a keep or a delete the strip would show a click that has left the list.
function hideContext(item) {
  if (shown !== item) return;
  shown = null;
  $("review-context").hidden = true;
  root.dataset.context = "";
}

// ------------------------------------------------------------------ loop the moment
function stopLoop() {
  if (!loop) return;
  loop = null;
  video.pause();
  root.dataset.looping = "";
}

function toggleLoop() {
  const item = items[selected];
  if (!item) return;
  if (loop) {
    stopLoop();
    say("Stopped looping.");
    return;
  }
  if (root.dataset.jumped !== String(item.click_id)) jump(selected);
  const end = Number.isFinite(video.duration) ? video.duration : item.t_s + LOOP_S;
  loop = { t0: Math.max(0, item.t_s - LOOP_S), t1: clamp(item.t_s + LOOP_S, 0, end) };
  video.currentTime = loop.t0;
  video.play().catch((e) => say(`Cannot play: ${e.message}`, true));
  root.dataset.looping = `${loop.t0.toFixed(3)},${loop.t1.toFixed(3)}`;
  say(`Looping ${formatTime(loop.t0)}–${formatTime(loop.t1)} around the click; L again stops.`);
}

function onTick() {
  if (loop && (video.currentTime >= loop.t1 || video.ended)) {
    video.currentTime = loop.t0;
    if (video.paused) video.play().catch(() => {});
  }
  if (timeline) timeline.setTime(video.currentTime);
}

video.addEventListener("timeupdate", onTick);
(function frame() {
  // timeupdate fires every ~250 ms: check more often while looping so the loop ends on time
  if (loop && !video.paused) onTick();
  requestAnimationFrame(frame);
})();

async function keep(i = selected) {
  const item = items[i];
  if (!item) return;
  stopLoop();
  try {
    await api(`/click-flags/${item.click_id}/keep?model_version=${version ?? "active"}`, { method: "POST" });
    hideContext(item);
    items.splice(i, 1);
    render();
    say(`Kept the click at ${formatTime(item.t_s)} in ${item.video_title}; this model version will not flag it again.`);
    await nextBatchIfDone();
  } catch (e) {
    say(`Not kept: ${e.detail || e.message}`, true);
  }
}

async function remove(i = selected) {
  const item = items[i];
  if (!item) return;
  stopLoop();
  try {
    await api(`/clicks/${item.click_id}`, { method: "DELETE" });
    contexts.delete(item.video_id); // its clicks changed
    hideContext(item);
    items.splice(i, 1);
    render();
    say(`Deleted ${item.annotator_name}'s click at ${formatTime(item.t_s)} in ${item.video_title}.`);
    await nextBatchIfDone();
  } catch (e) {
    say(`Not deleted: ${e.detail || e.message}`, true);
  }
}

document.addEventListener("keydown", (ev) => {
  if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const tag = ev.target && ev.target.tagName;
  if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT") return;
  const key = ev.key;
  let handled = true;
  if (key === "ArrowDown") {
    selected = Math.min(items.length - 1, selected + 1);
    render();
  } else if (key === "ArrowUp") {
    selected = Math.max(0, selected - 1);
    render();
  } else if (key === "Enter") jump();
  else if (key === "l" || key === "L") toggleLoop();
  else if (key === "k" || key === "K") keep();
  else if (key === "d" || key === "D" || key === "Delete") remove();
  else handled = false;
  if (handled) ev.preventDefault();
});

async function fetchBatch() {
  const body = await api(`/click-flags?model_version=active&limit=${BATCH}`);
  version = body.model_version_id;
  items = body.items;
  more = body.total - body.items.length;
  selected = 0;
  render();
  return body;
}

function batchText(body) {
  const listed = more > 0 ? `; listing ${body.items.length} at a time` : "";
  const active = body.min_activation == null ? "" : `, where their class's activation is ≥ ${body.min_activation}`;
  return `${body.total} flagged click${body.total === 1 ? "" : "s"} under model version ${version} (segments scoring ≥ ${body.min_score}${active})${listed}.`;
}

// Called after a keep or a delete: when the batch is done and more were flagged, fetch them.
async function nextBatchIfDone() {
  if (items.length || more <= 0) return;
  try {
    const body = await fetchBatch();
    root.dataset.batches = String(Number(root.dataset.batches || "1") + 1);
    say(`Batch reviewed. ${batchText(body)}`);
  } catch (e) {
    say(`Could not load the next flagged clicks: ${e.detail || e.message}`, true);
  }
}

async function start() {
  try {
    const [body, cls] = await Promise.all([fetchBatch(), api("/classes")]);
    classes = cls;
    root.dataset.loaded = "1";
    root.dataset.batches = "1";
    say(version == null ? "No active model version." : batchText(body));
  } catch (e) {
    say(`Could not load the flagged clicks: ${e.detail || e.message}`, true);
  }
}

start();
