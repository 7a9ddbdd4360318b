// Assignments (server/assignments): who annotates which video and where the work stands.
// - The annotate page: the bar of my assignment on this video (its state, the reviewer's
//   comment when it came back, Start again, Submit for review: Ctrl+Enter) and N, the next
//   video (POST /assignments/next: my open assignments, returned ones first, then — when an
//   admin opened the queue — the next video nobody has, claimed; without assignments the
//   old rule of GET /videos/next).
// - The admin page (#assignments): progress per annotator and state, the assign form
//   (chosen video ids, or a number or share of the unassigned videos dealt out in turn),
//   and the list (filter by state and annotator, remove what is not under review).

import { api } from "./api.js";

export const STATES = ["new", "in_progress", "submitted", "approved", "returned"];
export const WORDS = {
  new: "new",
  in_progress: "in progress",
  submitted: "submitted",
  approved: "approved",
  returned: "returned",
};
const BADGE = { approved: "ok", returned: "warn", submitted: "", in_progress: "", new: "" };

const $ = (id) => document.getElementById(id);

export function stateBadge(state) {
  const b = document.createElement("span");
  b.className = `badge state-${state} ${BADGE[state] || ""}`.trim();
  b.textContent = WORDS[state] || state;
  return b;
}

function fmtDate(s) {
  return s ? new Date(s).toLocaleString() : "–";
}

// ------------------------------------------------------------------ the annotate page
export function initAssignment({ videoId, user, say }) {
  const root = $("annotate");
  const bar = $("assignment-bar");
  let current = null; // my assignment on this video, or null
  let refreshTimer = 0;

  function render() {
    root.dataset.assignment = current ? current.state : "";
    if (!current) {
      bar.hidden = true;
      return;
    }
    bar.hidden = false;
    const s = current.state;
    $("assignment-state").replaceChildren(stateBadge(s));
    const what = {
      new: "Assigned to you: your clicks, labels and segments here go to review when you submit them.",
      in_progress: "You are working on it. Submit it for review when you are done.",
      submitted: "Submitted for review: your work here is read-only until a reviewer returns it.",
      approved: `Approved${current.reviewer_name ? ` by ${current.reviewer_name}` : ""}: your work here is read-only.`,
      returned: `Returned by ${current.reviewer_name || "a reviewer"}: change what the comment asks, then submit again.`,
    }[s];
    $("assignment-text").textContent = what;
    const comment = $("assignment-comment");
    comment.hidden = !current.comment;
    comment.textContent = current.comment ? `“${current.comment}” — ${current.reviewer_name || "reviewer"}` : "";
    $("assignment-start").hidden = !(s === "new" || s === "returned");
    $("assignment-submit").disabled = s !== "in_progress";
    $("assignment-note").disabled = s !== "in_progress";
  }

  async function load() {
    try {
      const out = await api(`/assignments?video_id=${videoId}&annotator_id=${user.id}`);
      current = out.items[0] || null;
    } catch (_) {
      current = null; // the page works without it
    }
    render();
    root.dataset.assignmentLoaded = "1";
  }

  async function step(action, body) {
    if (!current) return;
    try {
      current = await api(`/assignments/${current.id}/${action}`, { method: "POST", body });
      render();
      if (action === "submit") {
        $("assignment-note").value = "";
        say("Submitted for review. N: your next video.");
      } else say("Started again: your changes go to review when you submit.");
    } catch (e) {
      say(`Not ${action === "submit" ? "submitted" : "started"}: ${e.detail || e.message}`, true);
      load();
    }
  }

  function submit() {
    if (!current) return say("This video is not assigned to you: there is nothing to submit.", true);
    if (current.state !== "in_progress") {
      return say(`Your work here is ${WORDS[current.state]}: ${current.state === "new" || current.state === "returned" ? "work on it (or press Start again) first" : "nothing to submit"}.`, true);
    }
    const note = $("assignment-note").value.trim();
    step("submit", note ? { comment: note } : undefined);
  }

  async function next() {
    try {
      const out = await api("/assignments/next", { method: "POST", body: { after: videoId } });
      if (!out.workflow) {
        location.assign(`/videos/next?after=${videoId}`);
        return;
      }
      if (out.video_id == null) {
        root.dataset.next = "none";
        say(`${out.message[0].toUpperCase()}${out.message.slice(1)}.`);
        return;
      }
      location.assign(`/videos/${out.video_id}`);
    } catch (e) {
      say(`No next video: ${e.detail || e.message}`, true);
    }
  }

  // A write of my work may have moved a new or returned assignment to in progress.
  function changed() {
    if (!current || !(current.state === "new" || current.state === "returned")) return;
    clearTimeout(refreshTimer);
    refreshTimer = setTimeout(load, 300);
  }

  $("assignment-submit").addEventListener("click", submit);
  $("assignment-start").addEventListener("click", () => step("start"));
  $("next-video").addEventListener("click", (ev) => {
    ev.preventDefault();
    next();
  });
  // Ctrl+Enter (⌘+Enter) submits, also from the note field; registered before the page's
  // own keys, which skip an event handled here.
  document.addEventListener("keydown", (ev) => {
    if (ev.key !== "Enter" || !(ev.ctrlKey || ev.metaKey) || ev.altKey || ev.defaultPrevented) return;
    if (document.querySelector("dialog[open]")) return;
    ev.preventDefault();
    submit();
  });
  load();
  return { next, changed, submit };
}

// ------------------------------------------------------------------ the admin page
function adminSection() {
  const section = $("assignments");
  const say = (text, isError = false) => {
    const el = $("assignments-status");
    el.textContent = text;
    el.classList.toggle("error", isError);
  };
  const filter = { state: "", annotator: "" };

  function parseIds(text) {
    const ids = [];
    for (const part of text.split(/[\s,]+/).filter(Boolean)) {
      const m = part.match(/^(\d+)(?:-(\d+))?$/);
      if (!m) throw new Error(`"${part}" is not a video id or a range like 3-9`);
      const a = Number(m[1]);
      const b = m[2] ? Number(m[2]) : a;
      if (b < a || b - a > 100000) throw new Error(`"${part}" is not a range from low to high`);
      for (let i = a; i <= b; i++) ids.push(i);
    }
    if (!ids.length) throw new Error("type the video ids, e.g. 3, 5-9");
    return ids;
  }

  function cell(tr, content) {
    const td = document.createElement("td");
    if (content instanceof Node) td.append(content);
    else td.textContent = content;
    tr.append(td);
    return td;
  }

  function filterButton(text, state, annotatorId, label) {
    const b = document.createElement("button");
    b.type = "button";
    b.className = "linklike";
    b.textContent = text;
    b.setAttribute("aria-label", label);
    b.addEventListener("click", () => {
      filter.state = state;
      filter.annotator = annotatorId ? String(annotatorId) : "";
      $("assignments-filter-state").value = filter.state;
      $("assignments-filter-annotator").value = filter.annotator;
      loadList();
      $("assignments-table").focus();
    });
    return b;
  }

  async function loadProgress() {
    const p = await api("/assignments/progress");
    const tbody = $("progress-table").tBodies[0];
    const rows = p.annotators.map((a) => {
      const tr = document.createElement("tr");
      tr.dataset.annotatorId = String(a.annotator_id);
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = a.annotator_name + (a.active ? "" : " (deactivated)");
      tr.append(th);
      for (const s of STATES) {
        const td = cell(tr, filterButton(String(a.states[s]), s, a.annotator_id, `${a.annotator_name}: ${a.states[s]} ${WORDS[s]}`));
        td.className = "num";
        td.dataset.state = s;
      }
      cell(tr, filterButton(String(a.total), "", a.annotator_id, `${a.annotator_name}: all ${a.total}`)).className = "num";
      return tr;
    });
    const total = document.createElement("tr");
    total.className = "total";
    const th = document.createElement("th");
    th.scope = "row";
    th.textContent = "Everyone";
    total.append(th);
    for (const s of STATES) {
      const td = cell(total, filterButton(String(p.states[s]), s, null, `everyone: ${p.states[s]} ${WORDS[s]}`));
      td.className = "num";
      td.dataset.state = s;
    }
    cell(total, String(STATES.reduce((n, s) => n + p.states[s], 0))).className = "num";
    tbody.replaceChildren(...rows, total);
    $("unassigned-count").textContent =
      `${p.unassigned_videos} of ${p.videos} videos are assigned to nobody. ` +
      (p.queue_open
        ? "The queue is open: N on the annotate page claims the next one (BACKTAL_ASSIGNMENT_QUEUE)."
        : "The queue is closed: annotators work on what you assign (BACKTAL_ASSIGNMENT_QUEUE=true opens it).");
    $("submitted-count").textContent = String(p.states.submitted);
    section.dataset.unassigned = String(p.unassigned_videos);
  }

  async function loadList() {
    const q = new URLSearchParams({ limit: "1000" });
    if (filter.state) q.set("state", filter.state);
    if (filter.annotator) q.set("annotator_id", filter.annotator);
    const out = await api(`/assignments?${q}`);
    const tbody = $("assignments-table").tBodies[0];
    if (!out.items.length) {
      const tr = document.createElement("tr");
      const td = cell(tr, "No assignments here.");
      td.colSpan = 7;
      td.className = "muted";
      tbody.replaceChildren(tr);
    } else {
      tbody.replaceChildren(
        ...out.items.map((a) => {
          const tr = document.createElement("tr");
          tr.dataset.assignmentId = String(a.id);
          tr.dataset.state = a.state;
          const link = document.createElement("a");
          link.href = `/videos/${a.video_id}`;
          link.textContent = a.video_title;
          cell(tr, link);
          cell(tr, a.annotator_name);
          cell(tr, stateBadge(a.state));
          cell(tr, a.reviewer_name || "–");
          cell(tr, a.comment || "–");
          cell(tr, fmtDate(a.updated_at));
          const actions = document.createElement("div");
          actions.className = "row";
          if (a.state === "submitted") {
            const r = document.createElement("a");
            r.href = `/review?assignment=${a.id}`;
            r.textContent = "Review";
            actions.append(r);
          }
          if (a.state !== "submitted" && a.state !== "approved") {
            const b = document.createElement("button");
            b.type = "button";
            b.textContent = "Remove";
            b.setAttribute("aria-label", `Remove ${a.annotator_name}'s assignment on ${a.video_title}`);
            b.addEventListener("click", () => remove(a));
            actions.append(b);
          }
          cell(tr, actions);
          return tr;
        }),
      );
    }
    $("assignments-total").textContent = `${out.total} assignment${out.total === 1 ? "" : "s"}` + (out.total > out.items.length ? ` (the first ${out.items.length} shown)` : "");
    section.dataset.listed = String(out.total);
  }

  async function remove(a) {
    if (!confirm(`Remove ${a.annotator_name}'s assignment on ${a.video_title}? Their work on it stays.`)) return;
    try {
      await api(`/assignments/${a.id}`, { method: "DELETE" });
      say(`${a.video_title} is no longer assigned to ${a.annotator_name}; their work stays.`);
      refresh();
    } catch (e) {
      say(`Not removed: ${e.detail || e.message}`, true);
    }
  }

  async function loadPeople() {
    const users = (await api("/users")).filter((u) => u.active);
    const box = $("assign-annotators");
    const legend = box.querySelector("legend");
    box.replaceChildren(
      legend,
      ...users.map((u) => {
        const span = document.createElement("span");
        span.className = "check";
        const input = document.createElement("input");
        input.type = "checkbox";
        input.id = `assign-user-${u.id}`;
        input.value = String(u.id);
        input.checked = u.role === "annotator";
        const label = document.createElement("label");
        label.htmlFor = input.id;
        label.textContent = `${u.name} (${u.role})`;
        span.append(input, label);
        return span;
      }),
    );
    const sel = $("assignments-filter-annotator");
    sel.replaceChildren(
      new Option("everyone", ""),
      ...users.map((u) => new Option(u.name, String(u.id))),
    );
    sel.value = filter.annotator;
  }

  function refresh() {
    return Promise.all([loadProgress(), loadList()]).catch((e) => say(`Assignments: ${e.detail || e.message}`, true));
  }

  const amountHelp = {
    count: "How many of the unassigned videos (oldest first), dealt out to the ticked people in turn.",
    fraction: "Which share of the unassigned videos, in percent, dealt out in turn.",
    ids: "Video ids (the number in a video's address), e.g. 3, 5-9: each goes to every ticked person.",
  };
  function amountMode() {
    const mode = $("assign-what").value;
    const input = $("assign-amount");
    input.type = mode === "ids" ? "text" : "number";
    input.placeholder = mode === "ids" ? "3, 5-9" : mode === "fraction" ? "50" : "10";
    if (mode !== "ids") {
      input.min = "1";
      input.max = mode === "fraction" ? "100" : "100000";
    }
    $("assign-amount-help").textContent = amountHelp[mode];
  }
  $("assign-what").addEventListener("change", amountMode);
  amountMode();

  $("assign-form").addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const annotator_ids = [...$("assign-annotators").querySelectorAll("input:checked")].map((i) => Number(i.value));
    if (!annotator_ids.length) return say("Tick at least one person to assign videos to.", true);
    const mode = $("assign-what").value;
    const raw = $("assign-amount").value.trim();
    const body = { annotator_ids };
    try {
      if (mode === "ids") body.video_ids = parseIds(raw);
      else {
        const n = Number(raw);
        if (!raw || !Number.isFinite(n) || n <= 0) throw new Error(mode === "fraction" ? "type a share between 1 and 100 %" : "type how many videos");
        if (mode === "fraction") body.unassigned_fraction = Math.min(1, n / 100);
        else body.unassigned_count = Math.round(n);
      }
    } catch (e) {
      say(`Not assigned: ${e.message}.`, true);
      $("assign-amount").focus();
      return;
    }
    try {
      const out = await api("/assignments", { method: "POST", body });
      const already = out.already.length ? ` (${out.already.length} already were)` : "";
      say(`${out.created.length} assignment${out.created.length === 1 ? "" : "s"} made${already}; ${out.unassigned_left} videos are assigned to nobody.`);
      $("assign-amount").value = "";
      refresh();
    } catch (e) {
      say(`Not assigned: ${e.detail || e.message}`, true);
    }
  });
  $("assignments-filter-state").addEventListener("change", (e) => {
    filter.state = e.target.value;
    loadList();
  });
  $("assignments-filter-annotator").addEventListener("change", (e) => {
    filter.annotator = e.target.value;
    loadList();
  });

  (async () => {
    await loadPeople().catch((e) => say(`Users: ${e.detail || e.message}`, true));
    await refresh();
    section.dataset.loaded = "1";
  })();
}

if ($("assignments")) adminSection();
