// The reviewer's page (/review, reviewers and admins): work submitted for review, one
// annotator's work on one video at a time (GET /assignments/{id}/work): the video, a timeline
// of their clicks (click QA's flags marked "!") and segments, the lists, the video labels,
// the assignment's history; Approve (Y) or Return (R) with a comment (C writes it).
// ↓/↑ select, Enter open, Space play / pause, F the next flagged click.

import { api } from "./api.js";
import { stateBadge, WORDS } from "./assignments.js";
import { flagsText } from "./flags.js";
import { formatTime } from "./timebase.js";
import { annotatorColor, Timeline } from "./timeline.js";

const root = document.getElementById("reviewing");
const $ = (id) => document.getElementById(id);
const video = $("work-video");
const comment = $("verdict-comment");

let items = []; // assignments listed
let selected = 0;
let open = null; // the work shown: GET /assignments/{id}/work
let classes = [];
let timeline = null;
let flagIndex = -1;

function say(text, isError = false) {
  const el = $("reviewing-status");
  el.textContent = text;
  el.classList.toggle("error", isError);
}

function fmtDate(s) {
  return s ? new Date(s).toLocaleString() : "–";
}

function li(text, onClick, attrs = {}) {
  const item = document.createElement("li");
  const b = document.createElement("button");
  b.type = "button";
  b.className = "click-item";
  b.textContent = text;
  for (const [k, v] of Object.entries(attrs)) item.dataset[k] = v;
  b.addEventListener("click", onClick);
  item.append(b);
  return item;
}

function renderList() {
  const tbody = $("work-table").tBodies[0];
  root.dataset.items = String(items.length);
  if (!items.length) {
    const tr = tbody.insertRow();
    tbody.replaceChildren(tr);
    const td = tr.insertCell();
    td.colSpan = 4;
    td.className = "muted";
    const state = $("work-state").value;
    td.textContent = state === "submitted" ? "Nothing waits for review." : `No ${state ? WORDS[state] : ""} work.`;
    return;
  }
  selected = Math.max(0, Math.min(selected, items.length - 1));
  tbody.replaceChildren(
    ...items.map((a, i) => {
      const tr = document.createElement("tr");
      tr.dataset.assignmentId = String(a.id);
      tr.setAttribute("aria-selected", String(i === selected));
      if (i === selected) tr.classList.add("selected");
      if (open && open.assignment.id === a.id) tr.classList.add("active-version");
      const title = document.createElement("td");
      const b = document.createElement("button");
      b.type = "button";
      b.className = "linklike";
      b.textContent = a.video_title;
      b.addEventListener("click", (ev) => {
        ev.stopPropagation();
        selected = i;
        openWork(i);
      });
      title.append(b);
      tr.append(title);
      for (const v of [a.annotator_name, stateBadge(a.state), fmtDate(a.submitted_at)]) {
        const td = document.createElement("td");
        td.append(v);
        tr.append(td);
      }
      tr.addEventListener("click", () => {
        selected = i;
        renderList();
      });
      return tr;
    }),
  );
}

async function loadList(focusId = null) {
  const state = $("work-state").value;
  const q = new URLSearchParams({ limit: "1000" });
  if (state) q.set("state", state);
  const out = await api(`/assignments?${q}`);
  // oldest submission first: the queue of work to review
  items = out.items.sort((a, b) => String(a.submitted_at || a.updated_at).localeCompare(String(b.submitted_at || b.updated_at)));
  if (focusId != null) {
    const at = items.findIndex((a) => a.id === focusId);
    if (at >= 0) selected = at;
  }
  renderList();
  return out;
}

function classNameOf(id) {
  return classes.find((c) => c.id === id)?.name || `class ${id}`;
}

function renderWork() {
  const w = open;
  const a = w.assignment;
  $("work-detail").hidden = false;
  $("work-title").textContent = `${a.annotator_name}'s work on ${a.video_title}`;
  $("work-title").append(" ", stateBadge(a.state));
  const flagged = new Map(w.flags.map((f) => [f.click_id, f]));
  $("work-click-count").textContent = String(w.clicks.length);
  $("work-flag-count").hidden = flagged.size === 0;
  $("work-flag-count").textContent = `${flagged.size} flagged`;
  $("work-clicks").replaceChildren(
    ...w.clicks.map((c) => {
      const what = c.kind === "action" ? `action ${classNameOf(c.class_id)}` : "background";
      const f = flagged.get(c.id);
      const item = li(`${formatTime(c.t_s)} · ${what}${f ? ` · ! ${flagsText(f)}` : ""}`, () => seek(c.t_s), {
        clickId: String(c.id),
        flagged: f ? "1" : "0",
      });
      if (f) item.classList.add("flagged");
      return item;
    }),
  );
  $("work-labels").textContent = w.labels.length ? w.labels.map((l) => l.class_name).join(", ") : "none";
  $("work-segment-count").textContent = String(w.segments.length);
  $("work-segments").replaceChildren(
    ...w.segments.map((s) =>
      li(`${formatTime(s.start_s)}–${formatTime(s.end_s)} · ${classNameOf(s.class_id)}${s.source === "prediction" ? " · accepted prediction" : ""}`, () => seek(s.start_s), {
        segmentId: String(s.id),
      }),
    ),
  );
  $("work-events").replaceChildren(
    ...a.events.map((e) => {
      const item = document.createElement("li");
      const from = e.from_state ? `${WORDS[e.from_state]} → ` : "";
      item.textContent = `${fmtDate(e.created_at)}: ${from}${WORDS[e.to_state]} by ${e.actor_name || "someone"}${e.comment ? ` — “${e.comment}”` : ""}`;
      return item;
    }),
  );
  if (!timeline) {
    timeline = new Timeline($("work-timeline"), {
      duration: w.duration_s,
      fps: w.fps,
      onSeek: (t) => seek(t),
      onSelect: (c) => seek(c.t_s),
      segmentLane: true,
    });
  }
  timeline.set({
    duration: w.duration_s,
    fps: w.fps,
    classes,
    colorFor: (c) => annotatorColor(c.annotator_id),
    clicks: w.clicks.map((c) => ({ ...c, key: `id${c.id}`, state: "saved" })),
    flagged: new Set(flagged.keys()),
    mySegments: w.segments,
    segmentEditable: () => false,
    segments: null,
  });
  timeline.setView(0, w.duration_s);
  const reviewable = a.state === "submitted" || a.state === "approved";
  $("approve").disabled = a.state !== "submitted";
  $("return").disabled = !reviewable;
  comment.disabled = !reviewable;
  const note = [...a.events].reverse().find((e) => e.to_state === "submitted");
  $("work-caption").textContent =
    `${a.video_title} · ${a.annotator_name} · ${WORDS[a.state]}` +
    (note && note.comment ? ` · their note: “${note.comment}”` : "") +
    (w.flag_model_version_id != null ? ` · flags under model version ${w.flag_model_version_id}` : "");
  root.dataset.open = String(a.id);
  root.dataset.flags = String(flagged.size);
}

function seek(t) {
  video.currentTime = t;
  if (timeline) timeline.setTime(t);
}

async function openWork(i = selected) {
  const a = items[i];
  if (!a) return;
  selected = i;
  try {
    open = await api(`/assignments/${a.id}/work`);
  } catch (e) {
    say(`Could not load the work: ${e.detail || e.message}`, true);
    return;
  }
  flagIndex = -1;
  const src = `/media/videos/${a.video_id}`;
  if (video.getAttribute("src") !== src) video.setAttribute("src", src);
  comment.value = "";
  renderWork();
  renderList();
  say(
    `${a.annotator_name}'s work on ${a.video_title}: ${open.clicks.length} clicks (${open.flags.length} flagged), ` +
      `${open.labels.length} video labels, ${open.segments.length} segments. Y approves, R returns with the comment.`,
  );
}

function nextFlag() {
  if (!open || !open.flags.length) return say("No flagged clicks in this work.");
  flagIndex = (flagIndex + 1) % open.flags.length;
  const f = open.flags[flagIndex];
  seek(f.t_s);
  say(`Flagged click ${flagIndex + 1} of ${open.flags.length} at ${formatTime(f.t_s)}: ${flagsText(f)}.`);
}

async function verdict(action) {
  if (!open) return say("Open some work first (Enter).", true);
  const a = open.assignment;
  const text = comment.value.trim();
  if (action === "return" && !text) {
    say("Write what to change first: returning work needs a comment.", true);
    comment.focus();
    return;
  }
  try {
    const out = await api(`/assignments/${a.id}/${action}`, { method: "POST", body: text ? { comment: text } : undefined });
    say(
      action === "approve"
        ? `Approved ${out.annotator_name}'s work on ${out.video_title}.`
        : `Returned ${out.annotator_name}'s work on ${out.video_title}: they see your comment on the video.`,
    );
    root.dataset.verdict = `${out.id}:${out.state}`;
    open = null;
    $("work-detail").hidden = true;
    root.dataset.open = "";
    comment.value = "";
    await loadList();
    if (items.length) await openWork(Math.min(selected, items.length - 1));
  } catch (e) {
    say(`Not ${action === "approve" ? "approved" : "returned"}: ${e.detail || e.message}`, true);
  }
}

$("approve").addEventListener("click", () => verdict("approve"));
$("return").addEventListener("click", () => verdict("return"));
$("verdict-form").addEventListener("submit", (ev) => ev.preventDefault());
$("work-state").addEventListener("change", () => {
  selected = 0;
  loadList().catch((e) => say(`Could not load the work: ${e.detail || e.message}`, true));
});
video.addEventListener("timeupdate", () => timeline && timeline.setTime(video.currentTime));

document.addEventListener("keydown", (ev) => {
  if (ev.defaultPrevented || ev.ctrlKey || ev.metaKey || ev.altKey) return;
  const tag = ev.target && ev.target.tagName;
  if (tag === "TEXTAREA" || tag === "INPUT" || tag === "SELECT") {
    if (ev.key === "Escape") ev.target.blur();
    return;
  }
  const key = ev.key;
  let handled = true;
  if (key === "ArrowDown") {
    selected = Math.min(items.length - 1, selected + 1);
    renderList();
  } else if (key === "ArrowUp") {
    selected = Math.max(0, selected - 1);
    renderList();
  } else if (key === "Enter") openWork();
  else if (key === " ") {
    if (video.paused) video.play().catch(() => {});
    else video.pause();
  } else if (key === "f" || key === "F") nextFlag();
  else if (key === "c" || key === "C") comment.focus();
  else if (key === "y" || key === "Y") verdict("approve");
  else if (key === "r" || key === "R") verdict("return");
  else handled = false;
  if (handled) ev.preventDefault();
});

async function start() {
  const wanted = Number(new URLSearchParams(location.search).get("assignment")) || null;
  try {
    classes = (await api("/classes?include_retired=true")) || [];
    await loadList(wanted);
    root.dataset.loaded = "1";
    if (wanted != null && items[selected] && items[selected].id === wanted) await openWork(selected);
    else say(items.length ? `${items.length} to review, oldest first. Enter opens the selected one.` : "Nothing waits for review.");
  } catch (e) {
    say(`Could not load the work: ${e.detail || e.message}`, true);
  }
}

start();
