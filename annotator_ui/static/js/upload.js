// Uploading videos from the videos page: drop many files (or choose them), each uploads with
// its own progress, pause / resume / cancel, and survives a dropped connection.
//
// mode "tus": resumable uploads through the API with tus-js-client (vendored; window.tus).
//   Lost connections are retried and continue from the byte the server holds; an upload cut
//   off for good (or a closed tab) continues when the same file is dropped again (the
//   upload's URL is remembered in localStorage under the file's fingerprint).
// mode "direct": S3 storage with BACKTAL_S3_UPLOAD=direct — the file's parts go straight to
//   the bucket with presigned URLs (S3 multipart upload), the API completes and registers it.
//   Resuming asks the API which parts the bucket holds and sends only the others.
// The server decides what a finished file becomes (413 / 422 / the existing video).
import { api, ApiError, getToken } from "./api.js";

const PARALLEL = 3; // files uploading at once
const RETRY_DELAYS = [0, 1000, 3000, 5000, 10000, 20000, 30000];
const DIRECT_STORE = "backtal-direct-uploads";

const root = document.getElementById("upload");
if (root) init(root);

function init(section) {
  const mode = section.dataset.mode;
  const maxBytes = Number(section.dataset.maxBytes);
  const chunkBytes = Number(section.dataset.chunkBytes) || 8 * 1024 * 1024;
  const zone = section.querySelector("#dropzone");
  const input = section.querySelector("#upload-input");
  const list = section.querySelector("#upload-list");
  const notice = section.querySelector("#upload-notice");
  const items = [];

  const pick = () => input.click();
  zone.addEventListener("click", pick);
  zone.addEventListener("keydown", (e) => {
    if (e.key === "Enter" || e.key === " ") {
      e.preventDefault();
      pick();
    }
  });
  input.addEventListener("change", () => {
    addFiles([...input.files]);
    input.value = "";
  });
  for (const type of ["dragenter", "dragover"]) {
    zone.addEventListener(type, (e) => {
      e.preventDefault();
      zone.classList.add("over");
    });
  }
  zone.addEventListener("dragleave", () => zone.classList.remove("over"));
  zone.addEventListener("drop", (e) => {
    e.preventDefault();
    zone.classList.remove("over");
    addFiles([...(e.dataTransfer?.files || [])]);
  });
  // A page with uploads running asks before it is closed (they would pause until the files
  // are dropped again).
  window.addEventListener("beforeunload", (e) => {
    if (items.some((it) => it.state === "uploading" || it.state === "queued")) e.preventDefault();
  });

  function addFiles(files) {
    for (const file of files) {
      const it = makeItem(file);
      items.push(it);
      list.append(it.li);
      if (file.size > maxBytes) {
        let size = fmtBytes(file.size);
        let limit = fmtBytes(maxBytes);
        if (size === limit) [size, limit] = [`${file.size} bytes`, `${maxBytes} bytes`];
        fail(it, `${file.name} is ${size}, larger than the upload limit of ${limit}.`);
      } else if (file.size === 0) {
        fail(it, `${file.name} is empty.`);
      }
    }
    schedule();
  }

  function schedule() {
    let running = items.filter((it) => it.state === "uploading").length;
    for (const it of items) {
      if (running >= PARALLEL) break;
      if (it.state !== "queued") continue;
      running += 1;
      start(it);
    }
    const finished = items.filter((it) => it.state === "done" || it.state === "duplicate");
    const busy = items.some((it) => it.state === "uploading" || it.state === "queued");
    notice.hidden = !finished.length || busy;
    if (!notice.hidden) {
      const added = items.filter((it) => it.state === "done").length;
      notice.querySelector("[data-text]").textContent =
        `${added} new video${added === 1 ? "" : "s"} added; they are processed in the background.`;
    }
  }

  function makeItem(file) {
    const li = document.createElement("li");
    li.className = "upload-item";
    li.dataset.name = file.name;
    li.innerHTML = `
      <span class="upload-name"></span> <span class="muted small upload-size"></span>
      <progress max="100" value="0"></progress> <span class="upload-pct">0 %</span>
      <span class="upload-status" role="status"></span>
      <span class="upload-actions">
        <button type="button" data-act="pause">Pause</button>
        <button type="button" data-act="resume" hidden>Resume</button>
        <button type="button" data-act="cancel">Cancel</button>
      </span>`;
    li.querySelector(".upload-name").textContent = file.name;
    li.querySelector(".upload-size").textContent = fmtBytes(file.size);
    const it = { file, li, state: "queued", upload: null, direct: null, xhr: null };
    setState(it, "queued", "Waiting…");
    li.querySelector("[data-act=pause]").addEventListener("click", () => pause(it));
    li.querySelector("[data-act=resume]").addEventListener("click", () => resume(it));
    li.querySelector("[data-act=cancel]").addEventListener("click", () => cancel(it));
    return it;
  }

  function setState(it, state, text) {
    it.state = state;
    it.li.dataset.state = state;
    it.li.querySelector(".upload-status").textContent = text;
    const active = state === "uploading" || state === "queued";
    it.li.querySelector("[data-act=pause]").hidden = state !== "uploading";
    it.li.querySelector("[data-act=resume]").hidden = !(state === "paused" || state === "retry");
    it.li.querySelector("[data-act=cancel]").hidden =
      !(active || state === "paused" || state === "retry");
  }

  function progress(it, sent, total) {
    const pct = total ? Math.floor((sent / total) * 1000) / 10 : 0;
    const bar = it.li.querySelector("progress");
    bar.value = pct;
    it.li.dataset.sent = String(sent);
    it.li.querySelector(".upload-pct").textContent = `${pct.toFixed(pct < 100 ? 1 : 0)} %`;
  }

  function fail(it, message, state = "error") {
    setState(it, state, message);
    schedule();
  }

  function finished(it, videoId, created) {
    progress(it, it.file.size, it.file.size);
    it.li.dataset.videoId = String(videoId);
    setState(it, created ? "done" : "duplicate", created ? "Uploaded: " : "Already uploaded: ");
    const a = document.createElement("a");
    a.href = `/videos/${videoId}`;
    a.textContent = created ? "open" : `video ${videoId}`;
    it.li.querySelector(".upload-status").append(a);
    schedule();
  }

  async function start(it) {
    setState(it, "uploading", "Uploading…");
    try {
      if (mode === "direct") await startDirect(it);
      else await startTus(it);
    } catch (e) {
      fail(it, e instanceof ApiError ? e.detail : String(e));
    }
  }

  function pause(it) {
    if (it.state !== "uploading") return;
    setState(it, "paused", "Paused.");
    if (it.upload) it.upload.abort(false);
    if (it.xhr) it.xhr.abort();
    schedule();
  }

  function resume(it) {
    if (it.state !== "paused" && it.state !== "retry") return;
    if (it.upload) {
      setState(it, "uploading", "Uploading…");
      it.upload.start();
    } else {
      setState(it, "queued", "Waiting…");
      schedule();
    }
  }

  async function cancel(it) {
    const was = it.state;
    setState(it, "cancelled", "Cancelled.");
    if (it.xhr) it.xhr.abort();
    try {
      if (it.upload) await it.upload.abort(true); // tus termination: the server drops the bytes
      if (it.direct) {
        await api("/direct-uploads/abort", { method: "POST", body: it.direct.ref });
        forgetDirect(it.file);
      }
    } catch (_) {
      /* expired or gone already */
    }
    if (was !== "cancelled") schedule();
  }

  // ------------------------------------------------------------------ tus (through the API)
  async function startTus(it) {
    const token = await getToken();
    const file = it.file;
    const upload = new window.tus.Upload(file, {
      endpoint: "/api/v1/uploads",
      headers: { Authorization: `Bearer ${token}` },
      metadata: { filename: file.name, filetype: file.type || "application/octet-stream" },
      chunkSize: chunkBytes, // BACKTAL_UPLOAD_CHUNK_BYTES: each request, confirmed by the server
      retryDelays: RETRY_DELAYS,
      removeFingerprintOnSuccess: true,
      onProgress: (sent, total) => {
        progress(it, sent, total);
        if (it.state === "retry") setState(it, "uploading", "Uploading…");
      },
      onShouldRetry: (err, attempt, options) => {
        const status = err.originalResponse ? err.originalResponse.getStatus() : 0;
        const again = (status === 0 || status >= 500 || status === 409 || status === 423) &&
          attempt < options.retryDelays.length;
        if (again && it.state === "uploading") {
          it.li.querySelector(".upload-status").textContent =
            status ? `The server answered ${status}; retrying…` : "Connection lost; retrying…";
        }
        return again;
      },
      onSuccess: ({ lastResponse }) => {
        const id = lastResponse.getHeader("Backtal-Video-Id");
        finished(it, id, lastResponse.getHeader("Backtal-Video-Created") === "1");
      },
      onError: (err) => {
        if (it.state === "cancelled" || it.state === "paused") return;
        const res = err.originalResponse;
        if (res && res.getStatus() >= 400 && res.getStatus() < 500) {
          fail(it, detailOf(res) || `The server refused the file (${res.getStatus()}).`);
        } else {
          // still no connection after every retry: keep what the server has, let the
          // person resume (or the same file dropped again later continues)
          setState(it, "retry", "The connection is gone. Resume when it is back.");
          schedule();
        }
      },
    });
    it.upload = upload;
    const previous = await upload.findPreviousUploads();
    if (previous.length) upload.resumeFromPreviousUpload(previous[0]);
    upload.start();
  }

  // ------------------------------------------------------------------ S3 direct upload
  async function startDirect(it) {
    const file = it.file;
    if (!it.direct) {
      const kept = recallDirect(file);
      if (kept) it.direct = kept;
      else {
        const s = await api("/direct-uploads", {
          method: "POST",
          body: { filename: file.name, size: file.size, content_type: file.type || null },
        });
        it.direct = { ref: { key: s.key, upload_id: s.upload_id }, partSize: s.part_size, parts: s.part_count };
        keepDirect(file, it.direct);
      }
    }
    const d = it.direct;
    const numbers = Array.from({ length: d.parts }, (_, i) => i + 1);
    let answer;
    try {
      answer = await api("/direct-uploads/parts", { method: "POST", body: { ...d.ref, part_numbers: [] } });
    } catch (e) {
      if (e instanceof ApiError && e.status === 404) { // expired or finished: start over
        forgetDirect(file);
        it.direct = null;
        return startDirect(it);
      }
      throw e;
    }
    const have = new Map(answer.uploaded.map((p) => [p.part_number, p.size]));
    let done = [...have.values()].reduce((a, b) => a + b, 0);
    progress(it, done, file.size);
    const todo = numbers.filter((n) => !have.has(n));
    for (let i = 0; i < todo.length; i += 50) {
      const batch = todo.slice(i, i + 50);
      const signed = await api("/direct-uploads/parts", { method: "POST", body: { ...d.ref, part_numbers: batch } });
      for (const { part_number: n, url } of signed.urls) {
        const blob = file.slice((n - 1) * d.partSize, Math.min(file.size, n * d.partSize));
        await putPart(it, url, blob, (sent) => progress(it, done + sent, file.size));
        if (it.state !== "uploading") return; // paused or cancelled
        done += blob.size;
        progress(it, done, file.size);
      }
    }
    const resp = await api("/direct-uploads/complete", { method: "POST", body: d.ref, raw: true });
    forgetDirect(file);
    const video = await resp.json();
    finished(it, video.id, resp.status === 201); // 200: the same content was a video already
  }

  function putPart(it, url, blob, onProgress) {
    return new Promise((resolve, reject) => {
      let attempt = 0;
      const send = () => {
        const xhr = new XMLHttpRequest();
        it.xhr = xhr;
        xhr.open("PUT", url);
        xhr.upload.onprogress = (e) => onProgress(e.loaded);
        xhr.onload = () => {
          it.xhr = null;
          if (xhr.status >= 200 && xhr.status < 300) resolve();
          else retryOr(`the bucket answered ${xhr.status}`);
        };
        xhr.onerror = () => retryOr("connection lost");
        xhr.onabort = () => {
          it.xhr = null;
          resolve(); // paused or cancelled: the caller looks at the state
        };
        xhr.send(blob);
      };
      const retryOr = (why) => {
        it.xhr = null;
        if (it.state !== "uploading") return resolve();
        if (attempt >= RETRY_DELAYS.length) {
          setState(it, "retry", `The upload stopped (${why}). Resume when the connection is back.`);
          schedule();
          return resolve();
        }
        it.li.querySelector(".upload-status").textContent = `${why[0].toUpperCase()}${why.slice(1)}; retrying…`;
        setTimeout(send, RETRY_DELAYS[attempt++]);
      };
      send();
    });
  }

  function fingerprint(file) {
    return `${file.name}|${file.size}|${file.lastModified}`;
  }

  function recallDirect(file) {
    try {
      return JSON.parse(localStorage.getItem(DIRECT_STORE) || "{}")[fingerprint(file)] || null;
    } catch (_) {
      return null;
    }
  }

  function keepDirect(file, value) {
    try {
      const all = JSON.parse(localStorage.getItem(DIRECT_STORE) || "{}");
      all[fingerprint(file)] = value;
      localStorage.setItem(DIRECT_STORE, JSON.stringify(all));
    } catch (_) {
      /* private mode: resuming after a reload is not possible, the rest works */
    }
  }

  function forgetDirect(file) {
    try {
      const all = JSON.parse(localStorage.getItem(DIRECT_STORE) || "{}");
      delete all[fingerprint(file)];
      localStorage.setItem(DIRECT_STORE, JSON.stringify(all));
    } catch (_) {
      /* nothing kept */
    }
  }
}

function detailOf(res) {
  try {
    const body = JSON.parse(res.getBody());
    return typeof body.detail === "string" ? body.detail : null;
  } catch (_) {
    return null;
  }
}

function fmtBytes(n) {
  if (n < 1024) return `${n} B`;
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let v = n / 1024;
  let u = 0;
  while (v >= 1024 && u < units.length - 1) {
    v /= 1024;
    u += 1;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[u]}`;
}
