// The admin page's exports: a model version's predictions (ActivityNet JSON) above a score
// threshold and of some classes, and the annotators' labels (video labels, clicks,
// segments) as one JSON file.

import { api, download } from "./api.js";

const $ = (id) => document.getElementById(id);
const statusEl = $("admin-status");

function say(text, isError = false) {
  statusEl.textContent = text;
  statusEl.classList.toggle("error", isError);
}

async function loadVersions() {
  const sel = $("pred-version");
  const keep = sel.value;
  let versions = [];
  try {
    versions = (await api("/model-versions")) || [];
  } catch (_) {
    /* the select keeps "active" */
  }
  const options = [new Option("the active version", "active")];
  for (const v of versions.sort((a, b) => b.id - a.id)) {
    options.push(new Option(`version ${v.id}${v.is_active ? " (active)" : ""}`, String(v.id)));
  }
  sel.replaceChildren(...options);
  if ([...sel.options].some((o) => o.value === keep)) sel.value = keep;
}

async function loadClasses() {
  const box = $("pred-classes");
  const checked = new Set([...box.querySelectorAll("input:checked")].map((i) => i.value));
  let classes = [];
  try {
    classes = await api("/classes?include_retired=true");
  } catch (_) {
    return;
  }
  const legend = box.querySelector("legend");
  const items = classes.map((c) => {
    const id = `pred-class-${c.id}`;
    const wrap = document.createElement("span");
    wrap.className = "check";
    const input = document.createElement("input");
    input.type = "checkbox";
    input.id = id;
    input.value = String(c.id);
    input.checked = checked.has(String(c.id));
    const label = document.createElement("label");
    label.htmlFor = id;
    label.textContent = c.retired ? `${c.name} (retired)` : c.name;
    wrap.append(input, label);
    return wrap;
  });
  box.replaceChildren(legend, ...items);
}

$("export-predictions").addEventListener("click", async () => {
  const version = $("pred-version").value || "active";
  const params = new URLSearchParams({ model_version: version });
  const min = $("pred-min-score").value.trim();
  if (min !== "") params.set("min_score", min);
  const ids = [...$("pred-classes").querySelectorAll("input:checked")].map((i) => i.value);
  if (ids.length) params.set("class_ids", ids.join(","));
  const name = `predictions-${version === "active" ? "active" : `v${version}`}${min !== "" ? `-min${min}` : ""}.json`;
  try {
    await download(`/export/predictions?${params}`, name);
    say(`Predictions exported (${name}).`);
  } catch (e) {
    say(`Export failed: ${e.detail || e.message}`, true);
  }
});

$("export-labels").addEventListener("click", async () => {
  const parts = [...document.querySelectorAll("#label-parts input:checked")].map((i) => i.value);
  if (!parts.length) {
    say("Choose at least one kind of label to export.", true);
    return;
  }
  try {
    await download(`/export/labels?parts=${parts.join(",")}`, "labels.json");
    say(`Labels exported (${parts.join(", ")}).`);
  } catch (e) {
    say(`Export failed: ${e.detail || e.message}`, true);
  }
});

document.addEventListener("classes-changed", loadClasses);
document.addEventListener("versions-changed", loadVersions);
Promise.all([loadVersions(), loadClasses()]).then(() => {
  $("exports").dataset.loaded = "1";
});
