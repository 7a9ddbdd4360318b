// Segments of one video: full temporal labels (start, end, class), drawn by the annotator
// or accepted from the active model version's predictions, then adjusted.
//
// SegmentStore talks to the API and keeps an undo history of its operations (create,
// accept, move an edge, change class, delete); SegmentEditor holds the keyboard state
// (start mark, waiting for a class number, selection), renders the list and feeds the
// timeline's segment lane. Edges lie on frame boundaries (timebase.js).

import { api, ApiError, download } from "./api.js";
import { classColor } from "./timeline.js";
import { formatTime, frameEndTime, frameIndex, frameStartTime } from "./timebase.js";

const RETRY_MS = [500, 1500, 4000];
const ARM_MS = 6000;

function newKey(userId) {
  const rand = crypto.getRandomValues(new Uint32Array(2));
  return `s${userId}-${Date.now().toString(36)}-${rand[0].toString(36)}${rand[1].toString(36)}`;
}

function errText(err) {
  return (err && (err.detail || err.message)) || String(err);
}

// Send, retrying what may not have reached the server (a create carries its client key, so
// a retry never stores it twice).
async function send(path, options) {
  for (let i = 0; ; i++) {
    try {
      return await api(path, options);
    } catch (err) {
      if (!(err instanceof ApiError) || !err.transient || i >= RETRY_MS.length) throw err;
      await new Promise((r) => setTimeout(r, RETRY_MS[i]));
    }
  }
}

export class SegmentStore {
  constructor({ videoId, user, onChange, onHistory }) {
    this.videoId = videoId;
    this.user = user;
    this.onChange = onChange || (() => {});
    this.onHistory = onHistory || (() => {}); // one undoable operation was recorded
    this.entries = []; // live segments as the API returns them
    this.history = []; // {kind: "create"|"update"|"delete", ...}, newest last
    this.tail = Promise.resolve(); // operations run one after another, in the order asked
  }

  // Run fn after every operation asked before it has finished (so an edit made before the
  // previous answer arrived starts from that answer, and undo reverts what was really
  // stored); its own failure is the caller's, not the next operation's.
  serial(fn) {
    const run = this.tail.then(fn, fn);
    this.tail = run.catch(() => {});
    return run;
  }

  load(list) {
    this.entries = [...list];
    this.changed();
  }

  changed() {
    this.entries.sort((a, b) => a.start_s - b.start_s || a.end_s - b.end_s || a.id - b.id);
    this.onChange(this);
  }

  byId(id) {
    return this.entries.find((s) => s.id === id) || null;
  }

  record(op) {
    this.history.push(op);
    this.onHistory(op);
  }

  create({ class_id, start_s, end_s }) {
    const body = { class_id, start_s, end_s, client_key: newKey(this.user.id) };
    return this.serial(async () => {
      const seg = await send(`/videos/${this.videoId}/segments`, { method: "POST", body });
      if (!this.byId(seg.id)) this.entries.push(seg);
      this.changed();
      this.record({ kind: "create", ids: [seg.id] });
      return seg;
    });
  }

  accept(body) {
    return this.serial(async () => {
      const out = await send(`/videos/${this.videoId}/segments/accept`, { method: "POST", body });
      for (const seg of out.created) if (!this.byId(seg.id)) this.entries.push(seg);
      this.changed();
      if (out.created.length) this.record({ kind: "create", ids: out.created.map((s) => s.id) });
      return out;
    });
  }

  update(seg, patch) {
    return this.serial(async () => {
      const before = { class_id: seg.class_id, start_s: seg.start_s, end_s: seg.end_s };
      const out = await send(`/segments/${seg.id}`, { method: "PATCH", body: patch });
      Object.assign(seg, out);
      this.changed();
      this.record({ kind: "update", id: seg.id, before });
      return seg;
    });
  }

  remove(seg) {
    return this.serial(async () => {
      await send(`/segments/${seg.id}`, { method: "DELETE" });
      this.entries = this.entries.filter((s) => s.id !== seg.id);
      this.changed();
      this.record({ kind: "delete", id: seg.id });
    });
  }

  // Reverse my most recent operation; returns a sentence saying what was undone, or null.
  undo() {
    return this.serial(() => this.undoNow());
  }

  async undoNow() {
    const op = this.history.pop();
    if (!op) return null;
    try {
      if (op.kind === "create") {
        for (const id of op.ids) await send(`/segments/${id}`, { method: "DELETE" });
        this.entries = this.entries.filter((s) => !op.ids.includes(s.id));
        this.changed();
        return op.ids.length === 1 ? "Segment removed (undo)." : `${op.ids.length} segments removed (undo).`;
      }
      if (op.kind === "update") {
        const out = await send(`/segments/${op.id}`, { method: "PATCH", body: op.before });
        const seg = this.byId(op.id);
        if (seg) Object.assign(seg, out);
        else this.entries.push(out);
        this.changed();
        return "Segment change undone.";
      }
      const out = await send(`/segments/${op.id}/restore`, { method: "POST" });
      if (!this.byId(out.id)) this.entries.push(out);
      this.changed();
      return "Segment restored (undo).";
    } catch (err) {
      this.history.push(op); // still undoable
      throw err;
    }
  }
}

// ------------------------------------------------------------------ editor
export class SegmentEditor {
  // video: {id, fps, frame_count, duration_s, name}; classes(): the classes in use (index
  // order: number keys, pickers); allClasses(): retired ones too (names of older segments);
  // now(): the playhead time; say(text, isError); timeline: Timeline;
  // onSelect(): another kind of selection (a click) must clear; onHistory(): an undoable
  // segment operation happened (the page's one undo order).
  constructor({ root, video, user, isAdmin, classes, allClasses, now, seek, say, timeline, onSelect, onHistory, userName }) {
    this.root = root;
    this.allClasses = allClasses || classes;
    this.seekTo = seek;
    this.V = video;
    this.user = user;
    this.isAdmin = isAdmin;
    this.classes = classes;
    this.now = now;
    this.say = say;
    this.timeline = timeline;
    this.onSelect = onSelect || (() => {});
    this.userName = userName || ((id) => `annotator ${id}`);
    this.selectedId = null;
    this.mark = null; // start mark (seconds), from I
    this.armed = null; // {kind: "new"|"class", start, end, timer} waiting for a class number
    this.predictions = []; // the active version's predicted segments (for the accept dialog)
    this.modelVersion = null;
    this.store = new SegmentStore({
      videoId: video.id,
      user,
      onChange: () => this.render(),
      onHistory: () => onHistory && onHistory(),
    });
    this.$ = (id) => document.getElementById(id);
    this.bindControls();
  }

  // ------------------------------------------------------------ data
  async load() {
    const list = await api(`/videos/${this.V.id}/segments`);
    this.store.load(list);
  }

  setPredictions(segments, modelVersionId) {
    this.predictions = segments || [];
    this.modelVersion = modelVersionId;
    const has = this.predictions.length > 0;
    this.$("accept-here").disabled = !has;
    this.$("accept-all").disabled = !has;
  }

  classOf(id) {
    return this.allClasses().find((c) => c.id === id) || null;
  }

  defaultClass() {
    const sel = this.$("segment-class");
    const id = sel && sel.value ? Number(sel.value) : null;
    return this.classOf(id) || this.classes()[0] || null;
  }

  editable(seg) {
    return this.isAdmin || seg.annotator_id === this.user.id;
  }

  get selected() {
    return this.selectedId == null ? null : this.store.byId(this.selectedId);
  }

  describe(seg) {
    const c = this.classOf(seg.class_id);
    return `${c ? c.name : `class ${seg.class_id}`} ${formatTime(seg.start_s)}–${formatTime(seg.end_s)}`;
  }

  // ------------------------------------------------------------ rendering
  renderClassPicker() {
    const sel = this.$("segment-class");
    const keep = sel.value;
    sel.replaceChildren(
      ...this.classes().map((c, i) => {
        const o = document.createElement("option");
        o.value = String(c.id);
        o.textContent = i < 9 ? `${i + 1} · ${c.name}` : c.name;
        return o;
      }),
    );
    if (keep && this.classOf(Number(keep))) sel.value = keep;
    const acc = this.$("accept-class");
    const keepAcc = acc.value;
    acc.replaceChildren(
      ...this.classes().map((c) => {
        const o = document.createElement("option");
        o.value = String(c.id);
        o.textContent = c.name;
        return o;
      }),
    );
    if (keepAcc && this.classOf(Number(keepAcc))) acc.value = keepAcc;
  }

  render() {
    const list = this.store.entries;
    if (this.selectedId != null && !this.store.byId(this.selectedId)) this.selectedId = null;
    this.root.dataset.segments = String(list.length);
    this.$("segment-count").textContent = String(list.length);
    const ol = this.$("segment-list");
    ol.replaceChildren(...list.map((s) => this.listItem(s)));
    this.$("segments-empty").hidden = list.length > 0;
    this.timeline.set({
      mySegments: list,
      selectedSegment: this.selectedId,
      segmentMark: this.mark,
      segmentEditable: (s) => this.editable(s),
    });
  }

  listItem(s) {
    const li = document.createElement("li");
    li.dataset.segmentId = String(s.id);
    li.dataset.source = s.source;
    const b = document.createElement("button");
    b.type = "button";
    b.className = "click-item segment-item";
    const c = this.classOf(s.class_id);
    if (c) b.style.borderLeftColor = classColor(c.index);
    b.setAttribute("aria-pressed", String(s.id === this.selectedId));
    const length = (s.end_s - s.start_s).toFixed(2);
    const who = this.isAdmin ? ` · ${this.userName(s.annotator_id)}` : "";
    const editable = this.editable(s);
    // the class is in the select beside an editable one; the button still names it
    const times = `${formatTime(s.start_s)}–${formatTime(s.end_s)} · ${length} s`;
    b.textContent = (editable ? times : `${c ? c.name : ""} ${times}`) + who;
    let label = `${this.describe(s)}, ${length} seconds${who}`;
    if (s.source === "prediction") {
      const badge = document.createElement("span");
      badge.className = "badge";
      const score = s.prediction_score != null ? ` · ${Number(s.prediction_score).toFixed(2)}` : "";
      badge.textContent = `model${s.model_version_id ? ` v${s.model_version_id}` : ""}${score}`;
      badge.title = "Accepted from the model's predictions";
      b.append(" ", badge);
      label += `, accepted from the model${score ? ` (score${score.slice(2)})` : ""}`;
    }
    b.setAttribute("aria-label", label);
    b.addEventListener("click", () => this.select(s.id, { seek: true }));
    li.append(b);
    if (editable) {
      const sel = document.createElement("select");
      sel.className = "segment-class-select";
      sel.setAttribute("aria-label", `Class of the segment ${this.describe(s)}`);
      const options = this.classes().includes(c) || !c ? this.classes() : [...this.classes(), c];
      for (const k of options) {
        const o = document.createElement("option");
        o.value = String(k.id);
        o.textContent = k.retired ? `${k.name} (retired)` : k.name;
        o.disabled = Boolean(k.retired);
        sel.append(o);
      }
      sel.value = String(s.class_id);
      sel.addEventListener("change", () => this.changeClass(s, Number(sel.value)));
      const del = document.createElement("button");
      del.type = "button";
      del.className = "segment-delete";
      del.textContent = "✕";
      del.setAttribute("aria-label", `Delete the segment ${this.describe(s)}`);
      del.addEventListener("click", () => this.remove(s));
      li.append(" ", sel, " ", del);
    }
    return li;
  }

  // ------------------------------------------------------------ selection
  select(id, { seek = false } = {}) {
    this.selectedId = id;
    const s = this.selected;
    if (s) {
      this.onSelect();
      if (seek && this.seekTo) this.seekTo(s.start_s + 0.5 / this.V.fps);
      this.say(`Selected ${this.describe(s)}. Shift+I / Shift+O move its start / end to the playhead, C then a number changes its class, Delete removes it.`);
    }
    this.render();
  }

  deselect() {
    if (this.selectedId == null) return;
    this.selectedId = null;
    this.render();
  }

  // E: my segment under the playhead; pressed again, the next one there.
  selectAtPlayhead() {
    const t = this.now();
    const here = this.store.entries.filter((s) => this.editable(s) && s.start_s <= t + 1e-6 && t <= s.end_s + 1e-6);
    if (!here.length) {
      this.say("No segment under the playhead.");
      return;
    }
    const i = here.findIndex((s) => s.id === this.selectedId);
    this.select(here[(i + 1) % here.length].id);
  }

  // ------------------------------------------------------------ drawing
  frameStart(t) {
    return frameStartTime(t, this.V.fps, this.V.frame_count);
  }

  frameEnd(t) {
    return frameEndTime(t, this.V.fps, this.V.frame_count, this.V.duration_s);
  }

  markStart() {
    this.disarm();
    const t = this.now();
    this.mark = this.frameStart(t);
    this.render();
    this.say(`Segment start at ${formatTime(this.mark)} (frame ${frameIndex(t, this.V.fps, this.V.frame_count)}). Move to its last frame and press O (Esc cancels).`);
  }

  // O: the segment runs from the start mark to the end of the frame shown now (either order).
  markEnd() {
    if (this.mark == null) {
      this.say("Press I at the segment's first frame, then O at its last frame.", true);
      return;
    }
    if (!this.classes().length) {
      this.say("No classes yet: an admin adds them before segments.", true);
      return;
    }
    const t = this.now();
    const a = Math.min(this.mark, this.frameStart(t));
    const b = Math.max(this.frameEnd(t), this.mark + 1 / this.V.fps);
    this.mark = null;
    this.arm({ kind: "new", start: a, end: Math.min(b, this.V.duration_s) });
    const n = Math.min(9, this.classes().length);
    const d = this.defaultClass();
    this.say(`Segment ${formatTime(a)}–${formatTime(b)}: press its class number 1–${n}, or Enter for ${d ? d.name : "the chosen class"} (Esc cancels).`);
  }

  arm(state) {
    this.disarm();
    this.armed = { ...state, timer: setTimeout(() => this.disarm("Cancelled: no class chosen."), ARM_MS) };
    this.root.dataset.armed = state.kind === "new" ? "segment" : "segment-class";
    this.render();
  }

  disarm(message = null) {
    if (!this.armed) return;
    clearTimeout(this.armed.timer);
    this.armed = null;
    delete this.root.dataset.armed;
    if (message) this.say(message);
  }

  async chooseClass(cls) {
    const armed = this.armed;
    this.disarm();
    if (!armed || !cls) return;
    if (armed.kind === "new") await this.create(armed.start, armed.end, cls.id);
    else {
      const s = this.store.byId(armed.id);
      if (s) await this.changeClass(s, cls.id);
    }
  }

  async create(start, end, classId) {
    try {
      const seg = await this.store.create({ class_id: classId, start_s: start, end_s: end });
      this.selectedId = seg.id;
      this.onSelect();
      this.render();
      this.say(`Segment ${this.describe(seg)} saved.`);
    } catch (err) {
      this.say(`Segment not saved: ${errText(err)}`, true);
    }
  }

  // A drag on the segment lane (edges already on frame boundaries): the chosen class.
  drawn(start, end) {
    const cls = this.defaultClass();
    if (!cls) {
      this.say("No classes yet: an admin adds them before segments.", true);
      return;
    }
    this.create(start, end, cls.id);
  }

  // ------------------------------------------------------------ editing
  async moveEdge(seg, edge, t) {
    if (!seg || !this.editable(seg)) return;
    const patch = edge === "start" ? { start_s: t } : { end_s: t };
    if ((edge === "start" ? t : seg.start_s) >= (edge === "end" ? t : seg.end_s)) {
      this.say(`The ${edge} must stay ${edge === "start" ? "before the end" : "after the start"} of the segment.`, true);
      return;
    }
    try {
      await this.store.update(seg, patch);
      this.say(`Segment now ${this.describe(seg)}.`);
    } catch (err) {
      this.say(`Segment not changed: ${errText(err)}`, true);
      this.render();
    }
  }

  // Shift+I / Shift+O: the selected segment's start / end to the playhead's frame.
  edgeToPlayhead(edge) {
    const s = this.selected;
    if (!s) {
      this.say("Select a segment first (E: the one under the playhead).", true);
      return;
    }
    const t = this.now();
    this.moveEdge(s, edge, edge === "start" ? this.frameStart(t) : this.frameEnd(t));
  }

  armChangeClass() {
    const s = this.selected;
    if (!s) {
      this.say("Select a segment first (E: the one under the playhead).", true);
      return;
    }
    this.arm({ kind: "class", id: s.id });
    const n = Math.min(9, this.classes().length);
    this.say(`New class of ${this.describe(s)}: press 1–${n} (Esc cancels).`);
  }

  async changeClass(seg, classId) {
    if (seg.class_id === classId) return;
    try {
      await this.store.update(seg, { class_id: classId });
      this.say(`Segment now ${this.describe(seg)}.`);
    } catch (err) {
      this.say(`Class not changed: ${errText(err)}`, true);
      this.render();
    }
  }

  async remove(seg) {
    try {
      await this.store.remove(seg);
      this.say(`Segment ${this.describe(seg)} deleted (Z brings it back).`);
    } catch (err) {
      this.say(`Segment not deleted: ${errText(err)}`, true);
    }
  }

  async undo() {
    try {
      const what = await this.store.undo();
      this.say(what || "Nothing to undo.");
    } catch (err) {
      this.say(`Undo failed: ${errText(err)}`, true);
    }
  }

  // ------------------------------------------------------------ accepting predictions
  async acceptHere() {
    const t = this.now();
    if (this.modelVersion == null) {
      this.say("No model version is active: there are no predictions to accept.", true);
      return;
    }
    await this.accept({ at_s: t }, `at ${formatTime(t)}`);
  }

  async accept(body, where) {
    try {
      const out = await this.store.accept({ model_version: "active", ...body });
      const made = out.created;
      if (made.length === 1) {
        this.selectedId = made[0].id;
        this.onSelect();
        this.render();
        const score = made[0].prediction_score != null ? `, score ${made[0].prediction_score.toFixed(2)}` : "";
        this.say(`Accepted ${this.describe(made[0])}${score}. Adjust it like a drawn one.`);
      } else if (made.length) {
        this.say(`Accepted ${made.length} predicted segments${out.already_accepted.length ? ` (${out.already_accepted.length} were already yours)` : ""}.`);
      } else if (out.already_accepted.length) {
        this.say(`Already accepted: ${out.already_accepted.map((s) => this.describe(s)).join(", ")}.`);
      } else this.say(`No predicted segment ${where}.`);
    } catch (err) {
      this.say(`Not accepted: ${errText(err)}`, true);
    }
  }

  acceptCount() {
    const cls = Number(this.$("accept-class").value);
    const min = Number(this.$("accept-score").value);
    const n = this.predictions.filter((p) => p.class_id === cls && p.score >= min).length;
    this.$("accept-count").textContent = `${n} predicted segment${n === 1 ? "" : "s"} of this class score at least ${Number.isFinite(min) ? min : "?"}.`;
  }

  openAcceptAll() {
    if (this.modelVersion == null || !this.predictions.length) {
      this.say("No predicted segments to accept on this video.", true);
      return;
    }
    const t = this.now();
    const here = this.predictions.filter((p) => p.start_s <= t && t <= p.end_s).sort((a, b) => b.score - a.score)[0];
    const best = here || [...this.predictions].sort((a, b) => b.score - a.score)[0];
    if (best) this.$("accept-class").value = String(best.class_id);
    this.acceptCount();
    const dlg = this.$("accept-dialog");
    dlg.showModal();
    this.$("accept-score").focus();
    this.$("accept-score").select();
  }

  async submitAcceptAll() {
    const classId = Number(this.$("accept-class").value);
    const min = Number(this.$("accept-score").value);
    if (!Number.isFinite(min) || min < 0) {
      this.say("The score must be a number of at least 0.", true);
      return;
    }
    this.$("accept-dialog").close();
    const c = this.classOf(classId);
    await this.accept({ class_id: classId, min_score: min }, `of ${c ? c.name : "that class"} scoring at least ${min}`);
  }

  // ------------------------------------------------------------ export / import
  async exportVideo() {
    try {
      await download(`/export/segments?video_id=${this.V.id}`, `segments-${this.V.name}.json`);
      this.say("Segments exported (ActivityNet ground-truth JSON).");
    } catch (err) {
      this.say(`Export failed: ${errText(err)}`, true);
    }
  }

  async importFile(file) {
    if (!file) return;
    const form = new FormData();
    form.append("file", file);
    try {
      const r = await api("/import/segments", { method: "POST", body: form });
      await this.load();
      this.say(`${r.imported} of ${r.rows} segments imported (${r.already_present} already there).`);
    } catch (err) {
      this.say(`Nothing imported: ${errText(err)}`, true);
    }
  }

  // ------------------------------------------------------------ keys and buttons
  // The page's keydown handler asks first; true: the key was a segment key.
  handleKey(ev) {
    const key = ev.key;
    const mod = ev.ctrlKey || ev.metaKey || ev.altKey;
    if (this.armed && !mod && !["Shift", "Control", "Alt", "Meta"].includes(key)) {
      const classes = this.classes();
      if (/^[1-9]$/.test(key) && classes[Number(key) - 1]) this.chooseClass(classes[Number(key) - 1]);
      else if (key === "Enter" && this.armed.kind === "new") this.chooseClass(this.defaultClass());
      else this.disarm("Cancelled: no class chosen.");
      return true;
    }
    if (mod) return false;
    const k = key.length === 1 ? key.toLowerCase() : key;
    if (k === "i") ev.shiftKey ? this.edgeToPlayhead("start") : this.markStart();
    else if (k === "o") ev.shiftKey ? this.edgeToPlayhead("end") : this.markEnd();
    else if (k === "e") this.selectAtPlayhead();
    else if (k === "c" && !ev.shiftKey) this.armChangeClass();
    else if (k === "p") ev.shiftKey ? this.openAcceptAll() : this.acceptHere();
    else if ((key === "Delete" || key === "Backspace") && this.selected) this.remove(this.selected);
    else if (key === "Escape" && (this.mark != null || this.selectedId != null)) {
      this.mark = null;
      this.deselect();
      this.render();
      this.say("Segment mark and selection cleared.");
    } else return false;
    return true;
  }

  bindControls() {
    this.$("mark-start").addEventListener("click", () => this.markStart());
    this.$("mark-end").addEventListener("click", () => this.markEnd());
    this.$("accept-here").addEventListener("click", () => this.acceptHere());
    this.$("accept-all").addEventListener("click", () => this.openAcceptAll());
    this.$("accept-class").addEventListener("change", () => this.acceptCount());
    this.$("accept-score").addEventListener("input", () => this.acceptCount());
    this.$("accept-form").addEventListener("submit", (ev) => {
      ev.preventDefault();
      this.submitAcceptAll();
    });
    this.$("accept-cancel").addEventListener("click", () => this.$("accept-dialog").close());
    this.$("segments-export").addEventListener("click", () => this.exportVideo());
    this.$("segments-import").addEventListener("change", (ev) => {
      this.importFile(ev.target.files[0]);
      ev.target.value = "";
    });
  }
}
