// The annotate page: video, timeline, keyboard, clicks, segments, labels, model predictions.

import { api, apiOptional, blobUrl } from "./api.js";
import { initAssignment } from "./assignments.js";
import { ClickStore } from "./clicks.js";
import { flagsText } from "./flags.js";
import { SegmentEditor } from "./segments.js";
import { annotatorColor, classColor, Timeline } from "./timeline.js";
import { initValidationFlag } from "./validation.js";
import { clamp, formatTime, frameIndex, frameSeekTime, stepFrames, stepSeconds } from "./timebase.js";

const SPEEDS = [0.25, 0.5, 0.75, 1, 1.25, 1.5, 2, 3, 4];

const root = document.getElementById("annotate");
const cfg = JSON.parse(root.dataset.config);
const V = cfg.video;
const me = { ...cfg.user };
const isAdmin = me.role === "admin";

const $ = (id) => document.getElementById(id);
const video = $("video");
const statusEl = $("status");
const help = $("help");

let lastActionAt = performance.now(); // telemetry: time since the previous action
let classes = []; // the classes in use: number keys, pickers, timeline lanes
let allClasses = []; // retired ones too: names of clicks made before a class was retired
let myLabels = new Set();
let users = new Map(); // admin: id -> name
let selectedKey = null;
let armedAction = null; // after A: {t, playing, timer} until a class number (or Esc) follows
const ARM_MS = 4000;
let suggestions = []; // my open suggestions of the active model version, in time order
let suggestionRadius = 1.0; // a background click this close answers a suggestion (server's)
let currentSuggestion = null; // the one I jumped to with S / Shift+S (or on the timeline)
// Click QA: click id → its flags (inside a confident predicted segment of the active version,
// or inside imported ground truth); my clicks' only, everyone's for an admin (the API decides)
let flags = new Map();
let flagsFor = null; // the saved click ids the flags were computed for ("1,4,9")
let flagsTimer = 0;
const undoOrder = []; // "click" | "segment": what Z undoes next (newest last)

function say(text, isError = false) {
  statusEl.textContent = text;
  statusEl.classList.toggle("error", isError);
}

// my assignment on this video (state, review comment, submit) and N
const assignment = initAssignment({ videoId: V.id, user: me, say });

// ------------------------------------------------------------------ timeline + clicks
const timeline = new Timeline($("timeline"), {
  duration: V.duration_s,
  fps: V.fps,
  thumbEl: $("thumb"),
  onSeek: (t) => seek(t),
  onSelect: (c) => select(c.key, { seekTo: true }),
  onSuggestion: (s) => goToSuggestion(s),
  onSegmentDrawn: (a, b) => segments.drawn(a, b),
  onSegmentEdge: (seg, edge, t) => segments.moveEdge(seg, edge, t),
  onSegmentSelect: (seg) => segments.select(seg.id),
  segmentLane: true,
});
timeline.set({ colorFor: (c) => (isAdmin ? annotatorColor(c.annotator_id) : annotatorColor(0)) });

const store = new ClickStore({
  videoId: V.id,
  user: me,
  onChange: () => {
    renderClicks();
    assignment.changed();
  },
  onMessage: (text, err) => say(text, err),
});

const segments = new SegmentEditor({
  root,
  video: V,
  user: me,
  isAdmin,
  classes: () => classes,
  allClasses: () => allClasses,
  now: () => video.currentTime,
  seek: (t) => {
    video.pause();
    seek(t);
  },
  say,
  timeline,
  onSelect: () => {
    if (selectedKey) {
      selectedKey = null;
      renderClicks();
    }
  },
  onHistory: () => {
    undoOrder.push("segment");
    assignment.changed();
  },
  userName: (id) => users.get(id) || `annotator ${id}`,
});

function clickLabel(c) {
  const who = isAdmin ? ` · ${users.get(c.annotator_id) || "annotator " + c.annotator_id}` : "";
  const how = c.while_playing ? " · while playing" : "";
  const frame = c.frame_index != null ? c.frame_index : frameIndex(c.t_s, V.fps, V.frame_count);
  const cls = c.kind === "action" ? allClasses.find((k) => k.id === c.class_id) : null;
  const what = c.kind === "action" ? ` · action ${cls ? cls.name : c.class_id}` : "";
  return `${formatTime(c.t_s)} · frame ${frame}${what}${how}${who}`;
}

function renderClicks() {
  const list = store.visible();
  const pending = store.pending.filter((e) => e.video_id === V.id).length;
  root.dataset.pending = String(pending);
  root.dataset.clicks = String(list.length);
  $("click-count").textContent = String(list.length);
  const pc = $("pending-count");
  pc.hidden = pending === 0;
  pc.textContent = `${pending} pending`;
  if (selectedKey && !list.some((c) => c.key === selectedKey)) selectedKey = null;
  const ol = $("click-list");
  ol.replaceChildren(
    ...list.map((c) => {
      const li = document.createElement("li");
      li.dataset.key = c.key;
      li.dataset.state = c.state;
      if (c.id) li.dataset.clickId = String(c.id);
      const b = document.createElement("button");
      b.type = "button";
      b.className = "click-item";
      if (isAdmin) b.style.borderLeftColor = annotatorColor(c.annotator_id);
      b.setAttribute("aria-pressed", String(c.key === selectedKey));
      b.textContent = clickLabel(c);
      if (c.state !== "saved") {
        const s = document.createElement("span");
        s.className = "badge warn";
        s.textContent = c.state === "sending" ? "sending" : "pending";
        b.append(" ", s);
      }
      const flagged = c.id ? flags.get(c.id) : null;
      if (flagged) {
        li.dataset.flagged = "1";
        const s = document.createElement("span");
        s.className = "badge flag";
        s.textContent = "check";
        s.title = `Looks like action: ${flagsText(flagged)}`;
        b.append(" ", s);
        b.setAttribute("aria-description", s.title);
      }
      b.addEventListener("click", () => select(c.key, { seekTo: true }));
      li.append(b);
      return li;
    }),
  );
  $("delete-selected").disabled = !selectedKey;
  timeline.set({ clicks: list, selectedKey, flagged: new Set(flags.keys()) });
  refreshFlagsSoon();
}

function savedClickIds() {
  return store
    .visible()
    .filter((c) => c.id && c.state === "saved")
    .map((c) => c.id)
    .sort((a, b) => a - b)
    .join(",");
}

async function loadFlags() {
  const ids = savedClickIds();
  let got = null;
  try {
    got = await apiOptional(`/click-flags?video_id=${V.id}&model_version=active&limit=1000`);
  } catch (e) {
    say(`Click checks not loaded: ${e.detail || e.message}`, true);
  }
  flagsFor = ids;
  flags = new Map((got ? got.items : []).map((item) => [item.click_id, item]));
  root.dataset.flags = String(flags.size);
  renderClicks();
}

// Flags are computed when asked: check again once the saved clicks changed (a new click may
// lie inside a predicted segment; a deleted one takes its flag with it).
function refreshFlagsSoon() {
  if (flagsFor === null || savedClickIds() === flagsFor) return;
  clearTimeout(flagsTimer);
  flagsTimer = setTimeout(loadFlags, 300);
}

function select(key, { seekTo = false } = {}) {
  selectedKey = key;
  segments.deselect();
  const c = store.byKey(key);
  if (c && seekTo) {
    video.pause();
    seek(c.t_s);
  }
  renderClicks();
  const flagged = c && c.id ? flags.get(c.id) : null;
  if (flagged) say(`Selected the click at ${formatTime(c.t_s)}. Check it — ${flagsText(flagged)}. Delete removes it.`);
  else if (c) say(`Selected the click at ${formatTime(c.t_s)}. Delete removes it.`);
}

// The click time: the playhead, minus the reaction offset while playing.
function clickMoment() {
  const playing = !video.paused && !video.ended;
  const offset = playing ? (Number(me.reaction_offset_ms) || 0) / 1000 : 0;
  return { t: clamp(video.currentTime - offset, 0, V.duration_s), playing };
}

function addClick({ t, playing }, kind = "background", classId = null) {
  const now = performance.now();
  const e = store.add({
    t_s: t,
    frame_index: frameIndex(t, V.fps, V.frame_count),
    while_playing: playing,
    client_elapsed_ms: now - lastActionAt,
    kind,
    class_id: classId,
  });
  lastActionAt = now;
  selectedKey = null;
  undoOrder.push("click");
  renderClicks();
  return e;
}

function backgroundClick() {
  const moment = clickMoment();
  const e = addClick(moment);
  answerSuggestionsAt(moment.t);
  return e;
}

// A remembers the moment (the playhead now); a class number then makes the action click.
function armAction() {
  disarmAction();
  if (!classes.length) {
    say("No classes yet: an admin adds them before action clicks.", true);
    return;
  }
  const moment = clickMoment();
  armedAction = { ...moment, timer: setTimeout(() => disarmAction("Action click cancelled."), ARM_MS) };
  root.dataset.armed = "action";
  const n = Math.min(9, classes.length);
  say(`Action click at ${formatTime(moment.t)}: press the class number 1–${n} (Esc cancels).`);
}

function disarmAction(message = null) {
  if (!armedAction) return;
  clearTimeout(armedAction.timer);
  armedAction = null;
  delete root.dataset.armed;
  if (message) say(message);
}

function actionClick(index) {
  const moment = armedAction;
  disarmAction();
  const c = classes[index];
  if (!moment || !c) return;
  addClick(moment, "action", c.id);
  say(`Action click (${c.name}) at ${formatTime(moment.t)}.`);
}

// ------------------------------------------------------------------ suggestions
function renderSuggestions() {
  if (currentSuggestion && !suggestions.includes(currentSuggestion)) currentSuggestion = null;
  root.dataset.suggestions = String(suggestions.length);
  root.dataset.currentSuggestion = currentSuggestion ? String(currentSuggestion.id) : "";
  const btn = $("next-suggestion");
  btn.hidden = suggestions.length === 0;
  $("suggestion-count").textContent = String(suggestions.length);
  timeline.set({ suggestions, currentSuggestion: currentSuggestion ? currentSuggestion.id : null });
}

async function loadSuggestions() {
  let got = null;
  try {
    got = await apiOptional(`/videos/${V.id}/suggestions?model_version=active`);
  } catch (e) {
    say(`Suggestions not loaded: ${e.detail || e.message}`, true);
  }
  suggestions = got && got.suggestions ? [...got.suggestions].sort((a, b) => a.t_s - b.t_s) : [];
  if (got && Number.isFinite(got.click_radius_s)) suggestionRadius = got.click_radius_s;
  renderSuggestions();
}

function respond(s, response) {
  api(`/suggestions/${s.id}/response`, { method: "PUT", body: { response } }).catch((e) =>
    say(`Answer to the suggestion not saved: ${e.detail || e.message}`, true),
  );
}

const REASON_TEXT = {
  low_confidence: "the model is unsure of the action here",
  branch_disagreement: "the model's two branches disagree whether this is background",
  segment_border: "activation spills past a predicted segment's edge",
  unlabelled_activation: "the model sees a class this video is not labelled with",
};

function goToSuggestion(s) {
  currentSuggestion = s;
  video.pause();
  seek(s.t_s);
  renderSuggestions();
  const why = REASON_TEXT[s.reason] || s.reason;
  say(`Suggestion at ${formatTime(s.t_s)}: ${why}. B if it is background; S moves on.`);
}

// S / Shift+S: the next / previous open suggestion after / before the playhead (wrapping).
// Leaving a suggestion I jumped to without answering it passes it.
function stepSuggestion(dir) {
  const here = video.currentTime;
  const left = currentSuggestion;
  if (left) {
    respond(left, "passed");
    suggestions = suggestions.filter((s) => s !== left);
    currentSuggestion = null;
  }
  if (!suggestions.length) {
    renderSuggestions();
    say(left ? "That was the last suggestion of this video. N: next video." : "No suggestions on this video.");
    return;
  }
  const eps = 1e-3;
  const target =
    dir > 0
      ? suggestions.find((s) => s.t_s > here + eps) || suggestions[0]
      : [...suggestions].reverse().find((s) => s.t_s < here - eps) || suggestions[suggestions.length - 1];
  goToSuggestion(target);
}

// A background click answers every open suggestion closer than the server's radius.
function answerSuggestionsAt(t) {
  const hit = suggestions.filter((s) => Math.abs(s.t_s - t) < suggestionRadius);
  if (!hit.length) return;
  for (const s of hit) respond(s, "answered");
  suggestions = suggestions.filter((s) => !hit.includes(s));
  renderSuggestions();
}

// Z undoes the newest of my clicks and segment operations (after a reload: my last click).
async function undo() {
  lastActionAt = performance.now();
  if (undoOrder.pop() === "segment") await segments.undo();
  else await store.undo();
}

async function deleteSelected() {
  const c = selectedKey && store.byKey(selectedKey);
  if (!c) {
    say("No click selected: pick one on the timeline or in the list.");
    return;
  }
  lastActionAt = performance.now();
  selectedKey = null;
  await store.remove(c);
}

// ------------------------------------------------------------------ playback
function seek(t) {
  const end = Number.isFinite(video.duration) ? Math.min(V.duration_s, video.duration) : V.duration_s;
  t = clamp(t, 0, end);
  // Chromium re-seeks (and may jump to the end) when given the time it already shows.
  if (Math.abs(video.currentTime - t) > 1e-6) video.currentTime = t;
  showTime();
}

function showTime() {
  const t = video.currentTime;
  $("clock").textContent = `${formatTime(t)} / ${formatTime(V.duration_s)}`;
  $("frame").textContent = `frame ${frameIndex(t, V.fps, V.frame_count)}`;
  timeline.setTime(t, { follow: !video.paused });
}

function togglePlay() {
  if (video.paused || video.ended) video.play().catch((e) => say(`Cannot play: ${e.message}`, true));
  else video.pause();
}

function stepFrame(n) {
  video.pause();
  seek(stepFrames(video.currentTime, n, V.fps, V.frame_count));
}

function stepSecond(n) {
  seek(stepSeconds(video.currentTime, n, V.fps, V.frame_count));
}

function setSpeed(dir) {
  const i = SPEEDS.indexOf(video.playbackRate);
  const cur = i >= 0 ? i : SPEEDS.indexOf(1);
  video.playbackRate = SPEEDS[clamp(cur + dir, 0, SPEEDS.length - 1)];
}

video.addEventListener("ratechange", () => {
  $("speed").textContent = `${video.playbackRate}×`;
  say(`Speed ${video.playbackRate}×`);
});
video.addEventListener("play", () => {
  $("play").textContent = "Pause";
  const loop = () => {
    if (video.paused) return;
    showTime();
    requestAnimationFrame(loop);
  };
  requestAnimationFrame(loop);
});
video.addEventListener("pause", () => {
  $("play").textContent = "Play";
  showTime();
});
video.addEventListener("seeked", showTime);
function onMetadata() {
  root.dataset.ready = "1";
  // Show the first frame (inside frame 0) rather than a black poster.
  if (video.currentTime === 0) seek(frameSeekTime(0, V.fps, V.frame_count));
  showTime();
}
video.addEventListener("loadedmetadata", onMetadata);
if (video.readyState >= 1) onMetadata(); // metadata arrived before this module ran
video.addEventListener("error", () => say("The video cannot be played in this browser (no proxy yet?).", true));

// ------------------------------------------------------------------ labels
function renderLabels() {
  const fs = $("labels");
  const items = classes.map((c, i) => {
    const id = `label-${c.id}`;
    const wrap = document.createElement("div");
    wrap.className = "check";
    const input = document.createElement("input");
    input.type = "checkbox";
    input.id = id;
    input.value = String(c.id);
    input.checked = myLabels.has(c.id);
    if (i < 9) input.setAttribute("aria-keyshortcuts", String(i + 1));
    input.addEventListener("change", () => toggleLabel(c.id, input.checked));
    const label = document.createElement("label");
    label.htmlFor = id;
    const sw = document.createElement("span");
    sw.className = "swatch";
    sw.style.background = classColor(c.index);
    label.append(sw, i < 9 ? `${i + 1} · ${c.name}` : c.name);
    wrap.append(input, label);
    return wrap;
  });
  const legend = fs.querySelector("legend");
  fs.replaceChildren(legend, ...items);
  if (!classes.length) {
    const p = document.createElement("p");
    p.className = "muted small";
    p.textContent = "No classes yet (an admin adds them).";
    fs.append(p);
  }
}

async function toggleLabel(classId, on) {
  lastActionAt = performance.now();
  const before = new Set(myLabels);
  if (on) myLabels.add(classId);
  else myLabels.delete(classId);
  renderLabels();
  try {
    await api(`/videos/${V.id}/labels`, { method: "PUT", body: { class_ids: [...myLabels] } });
    const name = classes.find((c) => c.id === classId)?.name;
    say(`Label ${name} ${on ? "set" : "removed"}.`);
    assignment.changed();
  } catch (e) {
    myLabels = before;
    renderLabels();
    say(`Labels not saved: ${e.detail || e.message}`, true);
  }
}

// ------------------------------------------------------------------ predictions
function renderSegmentsTable(segments) {
  const tbody = $("segment-table").querySelector("tbody");
  if (!segments || !segments.length) {
    tbody.innerHTML = "";
    const tr = tbody.insertRow();
    const td = tr.insertCell();
    td.colSpan = 4;
    td.className = "muted";
    td.textContent = segments ? "No predicted segments." : "No model predictions.";
    return;
  }
  tbody.replaceChildren(
    ...segments.map((s) => {
      const tr = document.createElement("tr");
      for (const v of [s.class_name, formatTime(s.start_s), formatTime(s.end_s), Number(s.score).toFixed(2)]) {
        const td = document.createElement("td");
        td.textContent = v;
        tr.append(td);
      }
      return tr;
    }),
  );
}

async function loadPredictions() {
  let pred = null;
  try {
    pred = await apiOptional(`/videos/${V.id}/predictions?model_version=active`);
  } catch (e) {
    say(`Predictions not loaded: ${e.detail || e.message}`, true);
  }
  if (!pred || pred.model_version_id == null) {
    $("model-info").textContent = pred ? "No model version yet." : "Predictions unavailable.";
    root.dataset.predictions = pred ? "none" : "unavailable";
    renderSegmentsTable(null);
    timeline.set({ segments: null, curves: null });
    segments.setPredictions([], null);
    return;
  }
  segments.setPredictions(pred.segments, pred.model_version_id);
  $("model-info").textContent = `Model version ${pred.model_version_id}`;
  const sel = $("curve-class");
  const curveIds = Object.keys((pred.curves && pred.curves.classes) || {});
  for (const c of classes) {
    if (!curveIds.includes(String(c.id))) continue;
    const o = document.createElement("option");
    o.value = String(c.id);
    o.textContent = c.name;
    sel.append(o);
  }
  // Default curve: the class with the best-scoring segment, else the first with a curve.
  const best = [...pred.segments].sort((a, b) => b.score - a.score)[0];
  const firstId = best && curveIds.includes(String(best.class_id)) ? best.class_id : Number(curveIds[0]);
  if (Number.isFinite(firstId)) sel.value = String(firstId);
  timeline.set({ segments: pred.segments, curves: pred.curves, curveClass: Number.isFinite(firstId) ? firstId : null });
  renderSegmentsTable(pred.segments);
  root.dataset.predictions = String(pred.model_version_id);
}

async function loadGroundTruth() {
  const gt = await apiOptional(`/videos/${V.id}/ground-truth`).catch(() => null);
  const has = Array.isArray(gt) && gt.length > 0;
  $("gt-toggle-label").hidden = !has;
  timeline.set({ gt: has ? gt : [] });
}

async function loadThumbnails() {
  const th = await apiOptional(`/videos/${V.id}/thumbnails`).catch(() => null);
  if (!th || !th.sprite_url) return;
  try {
    timeline.setThumbnails(th, await blobUrl(th.sprite_url));
  } catch (_) {
    /* the hover shows the time only */
  }
}

// ------------------------------------------------------------------ keyboard
function typing(el) {
  if (!el) return false;
  if (el.isContentEditable) return true;
  const tag = el.tagName;
  if (tag === "TEXTAREA" || tag === "SELECT") return true;
  return tag === "INPUT" && !["checkbox", "radio", "button", "submit", "range"].includes(el.type);
}

function toggleHelp() {
  if (help.open) help.close();
  else help.showModal();
}

document.addEventListener("keydown", (ev) => {
  if (ev.defaultPrevented || ev.isComposing) return;
  if (help.open) {
    if (ev.key === "?") {
      ev.preventDefault();
      help.close();
    }
    return;
  }
  if ($("accept-dialog").open) return; // its own form: Enter accepts, Esc closes
  if (typing(ev.target)) return;
  const mod = ev.ctrlKey || ev.metaKey || ev.altKey;
  const key = ev.key;
  if (armedAction && !mod && !["Shift", "Control", "Alt", "Meta"].includes(key)) {
    ev.preventDefault(); // the key after A belongs to the action click
    if (/^[1-9]$/.test(key) && classes[Number(key) - 1]) actionClick(Number(key) - 1);
    else disarmAction("Action click cancelled.");
    return;
  }
  if (segments.handleKey(ev)) {
    ev.preventDefault(); // I, O, Shift+I/O, E, C, P, Shift+P, Delete/Esc on a segment
    lastActionAt = performance.now();
    return;
  }
  let handled = true;
  if ((key === "z" || key === "Z") && (!mod || ((ev.ctrlKey || ev.metaKey) && !ev.altKey))) undo();
  else if (mod) handled = false;
  else if (key === "b" || key === "B") backgroundClick();
  else if (key === "a" || key === "A") armAction();
  else if (key === ",") timeline.pan(-0.25);
  else if (key === ".") timeline.pan(0.25);
  else if (key === "s" || key === "S") stepSuggestion(ev.shiftKey ? -1 : 1);
  else if (key === " " || key === "Spacebar") togglePlay();
  else if (key === "ArrowLeft") ev.shiftKey ? stepSecond(-1) : stepFrame(-1);
  else if (key === "ArrowRight") ev.shiftKey ? stepSecond(1) : stepFrame(1);
  else if (key === "[") setSpeed(-1);
  else if (key === "]") setSpeed(1);
  else if (key === "Delete" || key === "Backspace") deleteSelected();
  else if (key === "n" || key === "N") assignment.next();
  else if (key === "?") toggleHelp();
  else if (key === "+" || key === "=") timeline.zoom(0.5);
  else if (key === "-" || key === "_") timeline.zoom(2);
  else if (key === "0") timeline.fit();
  else if (key === "g" || key === "G") {
    const box = $("show-gt");
    if (!$("gt-toggle-label").hidden) {
      box.checked = !box.checked;
      timeline.set({ showGT: box.checked });
    }
  } else if (/^[1-9]$/.test(key) && classes[Number(key) - 1]) {
    const c = classes[Number(key) - 1];
    toggleLabel(c.id, !myLabels.has(c.id));
  } else handled = false;
  if (handled) ev.preventDefault();
});

// ------------------------------------------------------------------ buttons
$("play").addEventListener("click", togglePlay);
$("frame-back").addEventListener("click", () => stepFrame(-1));
$("frame-fwd").addEventListener("click", () => stepFrame(1));
$("slower").addEventListener("click", () => setSpeed(-1));
$("faster").addEventListener("click", () => setSpeed(1));
$("bg-click").addEventListener("click", backgroundClick);
$("next-suggestion").addEventListener("click", () => stepSuggestion(1));
$("undo").addEventListener("click", undo);
$("delete-selected").addEventListener("click", deleteSelected);
$("help-button").addEventListener("click", toggleHelp);
$("zoom-in").addEventListener("click", () => timeline.zoom(0.5));
$("zoom-out").addEventListener("click", () => timeline.zoom(2));
$("zoom-fit").addEventListener("click", () => timeline.fit());
$("pan-left").addEventListener("click", () => timeline.pan(-0.25));
$("pan-right").addEventListener("click", () => timeline.pan(0.25));
$("show-gt").addEventListener("change", (e) => timeline.set({ showGT: e.target.checked }));
$("show-predictions").addEventListener("change", (e) => timeline.set({ showPredictions: e.target.checked }));
$("curve-class").addEventListener("change", (e) =>
  timeline.set({ curveClass: e.target.value ? Number(e.target.value) : null }),
);
const offsetInput = $("reaction-offset");
offsetInput.value = String(me.reaction_offset_ms || 0);
offsetInput.addEventListener("change", async () => {
  const v = clamp(Math.round(Number(offsetInput.value) || 0), 0, 2000);
  offsetInput.value = String(v);
  try {
    const out = await api("/me", { method: "PATCH", body: { reaction_offset_ms: v } });
    me.reaction_offset_ms = out.reaction_offset_ms;
    say(`Reaction offset ${out.reaction_offset_ms} ms.`);
  } catch (e) {
    say(`Offset not saved: ${e.detail || e.message}`, true);
  }
});
window.addEventListener("beforeunload", (ev) => {
  if (store.pending.length) {
    ev.preventDefault();
    ev.returnValue = "";
  }
});

// ------------------------------------------------------------------ start
async function start() {
  try {
    const [cls, labels, clicks, fresh, segs] = await Promise.all([
      api("/classes?include_retired=true"),
      api(`/videos/${V.id}/labels`),
      api(`/videos/${V.id}/clicks`),
      api("/me"),
      api(`/videos/${V.id}/segments`),
    ]);
    Object.assign(me, fresh);
    offsetInput.value = String(me.reaction_offset_ms);
    allClasses = cls;
    classes = cls.filter((c) => !c.retired);
    const mine = labels.labels.find((l) => l.annotator_id === me.id);
    myLabels = new Set(mine ? mine.class_ids : []);
    renderLabels();
    timeline.set({ classes });
    segments.renderClassPicker();
    if (isAdmin) {
      try {
        for (const u of await api("/users")) users.set(u.id, u.name);
      } catch (_) {
        /* names stay ids */
      }
      renderLegend(clicks);
    }
    store.load(clicks);
    segments.store.load(segs);
    root.dataset.loaded = "1";
  } catch (e) {
    say(`Could not load the annotations: ${e.detail || e.message}`, true);
    return;
  }
  await Promise.all([
    loadPredictions(),
    loadGroundTruth(),
    loadThumbnails(),
    loadSuggestions(),
    loadFlags(),
    initValidationFlag({ videoId: V.id, isAdmin, say }),
  ]);
  root.dataset.layers = "1";
}

function renderLegend(clicks) {
  const ids = [...new Set(clicks.map((c) => c.annotator_id).concat([me.id]))].sort((a, b) => a - b);
  const ul = $("annotator-legend");
  ul.replaceChildren(
    ...ids.map((id) => {
      const li = document.createElement("li");
      const sw = document.createElement("span");
      sw.className = "swatch";
      sw.style.background = annotatorColor(id);
      li.append(sw, users.get(id) || `annotator ${id}`);
      return li;
    }),
  );
  ul.hidden = false;
}

renderClicks();
showTime();
start();
