// The admin's review page: flagged clicks of the active model version, one key each:
// ↓/↑ select, Enter jump to the moment (the video below seeks there), K keep, D delete.

import { api } from "./api.js";
import { formatTime } from "./timebase.js";

const root = document.getElementById("review");
const $ = (id) => document.getElementById(id);
const statusEl = $("review-status");
const video = $("review-video");

let items = [];
let selected = 0;
let version = null;

function say(text, isError = false) {
  statusEl.textContent = text;
  statusEl.classList.toggle("error", isError);
}

function why(item) {
  return item.flags
    .map((f) =>
      f.reason === "inside_prediction"
        ? `inside predicted ${f.class_name} ${formatTime(f.start_s)}–${formatTime(f.end_s)} (score ${f.score.toFixed(2)})`
        : `inside ground truth ${f.class_name} ${formatTime(f.start_s)}–${formatTime(f.end_s)}`,
    )
    .join("; ");
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
      for (const v of [item.video_title, item.annotator_name, `${formatTime(item.t_s)} · frame ${item.frame_index}`, why(item)]) {
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
  say(`Click ${item.click_id}: ${why(item)}. K keeps it, D deletes it.`);
}

async function keep(i = selected) {
  const item = items[i];
  if (!item) return;
  try {
    await api(`/click-flags/${item.click_id}/keep?model_version=${version ?? "active"}`, { method: "POST" });
    items.splice(i, 1);
    render();
    say(`Kept the click at ${formatTime(item.t_s)} in ${item.video_title}; this model version will not flag it again.`);
  } catch (e) {
    say(`Not kept: ${e.detail || e.message}`, true);
  }
}

async function remove(i = selected) {
  const item = items[i];
  if (!item) return;
  try {
    await api(`/clicks/${item.click_id}`, { method: "DELETE" });
    items.splice(i, 1);
    render();
    say(`Deleted ${item.annotator_name}'s click at ${formatTime(item.t_s)} in ${item.video_title}.`);
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
  else if (key === "k" || key === "K") keep();
  else if (key === "d" || key === "D" || key === "Delete") remove();
  else handled = false;
  if (handled) ev.preventDefault();
});

async function start() {
  try {
    const body = await api("/click-flags?model_version=active&limit=1000");
    version = body.model_version_id;
    items = body.items;
    render();
    root.dataset.loaded = "1";
    say(
      version == null
        ? "No active model version."
        : `${body.total} flagged click${body.total === 1 ? "" : "s"} under model version ${version} (segments scoring ≥ ${body.min_score}).`,
    );
  } catch (e) {
    say(`Could not load the flagged clicks: ${e.detail || e.message}`, true);
  }
}

start();
