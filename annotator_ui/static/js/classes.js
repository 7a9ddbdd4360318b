// The admin page's classes: add, rename, merge one into another, retire and unretire.
// Every change announces itself with a "classes-changed" event (the export form listens).

import { api } from "./api.js";

const $ = (id) => document.getElementById(id);
const statusEl = $("admin-status");
const tbody = $("classes-table").tBodies[0];

function say(text, isError = false) {
  statusEl.textContent = text;
  statusEl.classList.toggle("error", isError);
}

function control(tag, attrs = {}, text = "") {
  const el = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
  if (text) el.textContent = text;
  return el;
}

function changed() {
  document.dispatchEvent(new CustomEvent("classes-changed"));
  load();
}

async function act(what, request) {
  try {
    const out = await request();
    changed();
    return out;
  } catch (e) {
    say(`${what} failed: ${e.detail || e.message}`, true);
    return null;
  }
}

async function rename(c, input) {
  const name = input.value.trim();
  if (!name || name === c.name) return;
  if (await act("Rename", () => api(`/classes/${c.id}`, { method: "PATCH", body: { name } }))) {
    say(`Class ${c.name} is now ${name}.`);
  }
}

async function merge(c, select) {
  const into = Number(select.value);
  const target = select.selectedOptions[0]?.textContent;
  if (!into) {
    say(`Choose the class to merge ${c.name} into.`, true);
    select.focus();
    return;
  }
  if (!confirm(`Merge ${c.name} into ${target}? Every label, click, segment and prediction of ${c.name} becomes ${target}, and ${c.name} is gone.`)) return;
  const out = await act("Merge", () => api(`/classes/${c.id}/merge`, { method: "POST", body: { into } }));
  if (out) {
    const m = out.moved;
    say(
      `${out.merged} merged into ${out.into.name}: ${m.video_labels} labels, ${m.clicks} clicks, ` +
        `${m.segments} segments, ${m.gt_segments} ground-truth segments, ${m.predictions} predictions moved ` +
        `(${m.video_labels_merged + m.clicks_merged + m.segments_merged + m.gt_segments_merged + m.predictions_merged} duplicates merged).`,
    );
  }
}

async function setRetired(c, retired) {
  const verb = retired ? "retire" : "unretire";
  if (await act(retired ? "Retire" : "Unretire", () => api(`/classes/${c.id}/${verb}`, { method: "POST" }))) {
    say(
      retired
        ? `${c.name} is retired: hidden from the keys and pickers, left out of training; its labels stay.`
        : `${c.name} is back in the keys, pickers and training.`,
    );
  }
}

function row(c, all) {
  const tr = document.createElement("tr");
  tr.dataset.classId = String(c.id);
  tr.dataset.retired = c.retired ? "1" : "0";
  if (c.retired) tr.className = "retired";
  const th = control("th", { scope: "row" });
  const input = control("input", {
    type: "text",
    value: c.name,
    maxlength: "128",
    pattern: "[A-Za-z0-9][A-Za-z0-9 _.\\-]*",
    "aria-label": `Name of class ${c.name}`,
    "data-role": "name",
  });
  input.addEventListener("keydown", (ev) => {
    if (ev.key === "Enter") rename(c, input);
    if (ev.key === "Escape") input.value = c.name;
  });
  th.append(input);
  tr.append(th);
  const state = control("td");
  state.append(control("span", { class: c.retired ? "badge" : "badge ok" }, c.retired ? "retired" : "in use"));
  tr.append(state);
  const actions = control("td");
  const box = control("div", { class: "row" });
  const renameBtn = control("button", { type: "button", "aria-label": `Rename class ${c.name}` }, "Rename");
  renameBtn.addEventListener("click", () => rename(c, input));
  const select = control("select", { "aria-label": `Merge ${c.name} into`, "data-role": "merge-into" });
  select.append(control("option", { value: "" }, "merge into…"));
  for (const o of all) if (o.id !== c.id && !o.retired) select.append(control("option", { value: String(o.id) }, o.name));
  const mergeBtn = control("button", { type: "button", "aria-label": `Merge class ${c.name}` }, "Merge");
  mergeBtn.addEventListener("click", () => merge(c, select));
  const retireBtn = control(
    "button",
    { type: "button", "aria-label": `${c.retired ? "Unretire" : "Retire"} class ${c.name}` },
    c.retired ? "Unretire" : "Retire",
  );
  retireBtn.addEventListener("click", () => setRetired(c, !c.retired));
  box.append(renameBtn, select, mergeBtn, retireBtn);
  actions.append(box);
  tr.append(actions);
  return tr;
}

export async function load() {
  try {
    const all = await api("/classes?include_retired=true");
    if (!all.length) {
      const tr = document.createElement("tr");
      const td = control("td", { colspan: "3", class: "muted" }, "No classes yet: add the first one below.");
      tr.append(td);
      tbody.replaceChildren(tr);
    } else {
      tbody.replaceChildren(...all.map((c) => row(c, all)));
    }
    $("classes-table").dataset.loaded = "1";
  } catch (e) {
    say(`Classes: ${e.detail || e.message}`, true);
  }
}

$("class-form").addEventListener("submit", async (ev) => {
  ev.preventDefault();
  const name = $("class-name").value.trim();
  if (await act("Adding the class", () => api("/classes", { method: "POST", body: { name } }))) {
    $("class-name").value = "";
    say(`Class ${name} added.`);
  }
});

load();
