// Clicks of one video: optimistic adds with idempotency keys, pending queue, retries.
//
// Every new click gets a client key before it is sent; the server stores one click per
// (annotator, key), so resending after a lost response never duplicates. Unsent clicks
// are kept in localStorage (per user) until the server has them, and retried with
// backoff, when the browser comes back online, and on the next page load.

import { api, ApiError } from "./api.js";

const RETRY_MS = [1000, 2000, 4000, 8000, 15000];

function newKey(userId) {
  const rand = crypto.getRandomValues(new Uint32Array(2));
  return `u${userId}-${Date.now().toString(36)}-${rand[0].toString(36)}${rand[1].toString(36)}`;
}

export class ClickStore {
  constructor({ videoId, user, onChange, onMessage }) {
    this.videoId = videoId;
    this.user = user;
    this.onChange = onChange || (() => {});
    this.onMessage = onMessage || (() => {});
    this.entries = []; // {key, id, video_id, annotator_id, t_s, kind, class_id, state, ...}
    this.history = []; // keys of my clicks, in the order they were made (for undo)
    this.retryIndex = 0;
    this.retryTimer = null;
    this.storageKey = `backtal.pending.u${user.id}`;
    window.addEventListener("online", () => this.retryNow());
  }

  // ------------------------------------------------------------------ state
  get pending() {
    return this.entries.filter((e) => (e.state === "pending" || e.state === "sending") && !e.undone);
  }
  visible() {
    return this.entries
      .filter((e) => e.state !== "removed" && e.state !== "rejected" && !e.undone && !e.offPage)
      .sort((a, b) => a.t_s - b.t_s);
  }
  byKey(key) {
    return this.entries.find((e) => e.key === key);
  }
  changed() {
    this.onChange(this);
  }

  // Server clicks (oldest first) plus what this browser still has to send.
  load(serverClicks) {
    this.entries = serverClicks.map((c) => ({
      ...c,
      key: c.client_key || `id${c.id}`,
      state: "saved",
    }));
    const mine = serverClicks
      .filter((c) => c.annotator_id === this.user.id)
      .sort((a, b) => (a.created_at < b.created_at ? -1 : a.created_at > b.created_at ? 1 : a.id - b.id));
    this.history = mine.map((c) => c.client_key || `id${c.id}`);
    for (const p of this.readStored()) {
      if (p.video_id !== this.videoId) continue;
      if (this.byKey(p.key)) {
        this.forget(p.key); // already stored by the server
        continue;
      }
      this.entries.push({ ...p, state: "pending" });
      this.history.push(p.key);
    }
    this.changed();
    this.flush();
  }

  // ------------------------------------------------------------------ persistence
  readStored() {
    try {
      const v = JSON.parse(localStorage.getItem(this.storageKey) || "[]");
      return Array.isArray(v) ? v : [];
    } catch (_) {
      return [];
    }
  }
  writeStored(list) {
    try {
      if (list.length) localStorage.setItem(this.storageKey, JSON.stringify(list));
      else localStorage.removeItem(this.storageKey);
    } catch (_) {
      /* storage full or disabled: the queue lives in memory only */
    }
  }
  remember(e) {
    const list = this.readStored().filter((p) => p.key !== e.key);
    list.push({
      key: e.key,
      video_id: e.video_id,
      annotator_id: e.annotator_id,
      t_s: e.t_s,
      kind: e.kind,
      class_id: e.class_id,
      client_elapsed_ms: e.client_elapsed_ms,
      while_playing: e.while_playing,
      frame_index: e.frame_index,
    });
    this.writeStored(list);
  }
  forget(key) {
    this.writeStored(this.readStored().filter((p) => p.key !== key));
  }

  // ------------------------------------------------------------------ actions
  add({ t_s, frame_index, while_playing, client_elapsed_ms, kind = "background", class_id = null }) {
    const e = {
      key: newKey(this.user.id),
      id: null,
      video_id: this.videoId,
      annotator_id: this.user.id,
      t_s,
      frame_index,
      kind,
      class_id,
      client_elapsed_ms,
      while_playing,
      state: "pending",
    };
    this.entries.push(e);
    this.history.push(e.key);
    this.remember(e);
    this.changed();
    this.send(e);
    return e;
  }

  body(e) {
    const b = { t_s: e.t_s, kind: e.kind, client_key: e.key, while_playing: e.while_playing };
    if (e.class_id != null) b.class_id = e.class_id;
    if (e.client_elapsed_ms != null) b.client_elapsed_ms = Math.max(0, Math.min(86400000, Math.round(e.client_elapsed_ms)));
    return b;
  }

  async send(e) {
    if (e.state !== "pending") return;
    e.state = "sending";
    this.changed();
    try {
      const out = await api(`/videos/${e.video_id}/clicks`, { method: "POST", body: this.body(e) });
      Object.assign(e, { id: out.id, t_s: out.t_s, frame_index: out.frame_index, created_at: out.created_at });
      e.state = "saved";
      this.forget(e.key);
      this.retryIndex = 0;
      if (e.undone) {
        await this.remove(e, { quiet: true });
        return;
      }
      this.onMessage(`Click at ${out.t_s.toFixed(2)} s saved.`);
    } catch (err) {
      if (err instanceof ApiError && err.transient) {
        e.state = "pending";
        this.scheduleRetry();
        const n = this.pending.length;
        this.onMessage(`Network problem: ${n} click${n === 1 ? "" : "s"} pending, retrying…`);
      } else {
        e.state = "rejected";
        this.forget(e.key);
        this.onMessage(`Click not saved: ${err.detail || err.message}`, true);
      }
    }
    this.changed();
  }

  scheduleRetry() {
    if (this.retryTimer) return;
    const delay = RETRY_MS[Math.min(this.retryIndex, RETRY_MS.length - 1)];
    this.retryIndex += 1;
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      this.flush();
    }, delay);
  }

  retryNow() {
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
    this.flush();
  }

  // Send every pending click of this video, and those other pages left behind.
  flush() {
    for (const e of this.entries) if (e.state === "pending") this.send(e);
    for (const p of this.readStored()) {
      if (p.video_id === this.videoId || this.byKey(p.key)) continue;
      const e = { ...p, state: "pending", offPage: true };
      this.entries.push(e); // hidden from visible() by the filter in annotate.js
      this.send(e);
    }
  }

  // Remove a click: a saved one through the API; an unsent one from the queue; one in
  // flight is removed as soon as its POST returns.
  async remove(e, { quiet = false } = {}) {
    if (!e || e.state === "removed") return false;
    if (e.state === "sending") {
      e.undone = true;
      e.state = "removed";
      this.changed();
      return true;
    }
    if (e.state === "pending" || e.state === "rejected") {
      e.state = "removed";
      this.forget(e.key);
      this.changed();
      return true;
    }
    const before = e.state;
    e.state = "removed";
    this.changed();
    try {
      await api(`/clicks/${e.id}`, { method: "DELETE" });
      if (!quiet) this.onMessage(`Click at ${e.t_s.toFixed(2)} s removed.`);
      return true;
    } catch (err) {
      e.state = before;
      this.changed();
      this.onMessage(`Could not remove the click: ${err.detail || err.message}`, true);
      return false;
    }
  }

  // Undo my most recent click that is still there.
  async undo() {
    while (this.history.length) {
      const key = this.history.pop();
      const e = this.byKey(key);
      if (e && e.state !== "removed" && e.state !== "rejected") return this.remove(e);
    }
    this.onMessage("Nothing to undo.");
    return false;
  }
}
