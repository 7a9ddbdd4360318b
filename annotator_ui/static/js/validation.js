// The validation flag of videos: on the annotate page a badge for everyone ("validation
// video: never trains; its segments measure the model") and a checkbox for admins; on the
// video list a checkbox per video for admins (bound when this module loads there).

import { api } from "./api.js";

export async function initValidationFlag({ videoId, isAdmin, say }) {
  const box = document.getElementById("validation-toggle");
  const wrap = document.getElementById("validation-control");
  const badge = document.getElementById("validation-badge");
  let video;
  try {
    video = await api(`/videos/${videoId}`);
  } catch (e) {
    return; // the page works without it
  }
  const show = (on) => {
    badge.hidden = !on;
    if (box) box.checked = on;
    document.getElementById("annotate").dataset.validation = on ? "1" : "0";
  };
  show(Boolean(video.is_validation));
  if (!isAdmin || !box) return;
  wrap.hidden = false;
  box.addEventListener("change", async () => {
    const on = box.checked;
    try {
      const out = await api(`/videos/${videoId}`, { method: "PATCH", body: { is_validation: on } });
      show(out.is_validation);
      say(
        out.is_validation
          ? "Validation video: it never trains; its segments (or imported ground truth) measure every trained version."
          : "Training video again: its labels and clicks train the model.",
      );
    } catch (e) {
      show(!on);
      say(`Not changed: ${e.detail || e.message}`, true);
    }
  });
}

// The video list: each admin checkbox marks its video (PATCH /videos/{id}).
function bindListCheckboxes() {
  const status = document.getElementById("validation-status");
  const say = (text, isError = false) => {
    if (!status) return;
    status.textContent = text;
    status.classList.toggle("error", isError);
  };
  for (const box of document.querySelectorAll("input.validation-toggle[data-video-id]")) {
    box.addEventListener("change", async () => {
      const on = box.checked;
      box.disabled = true;
      try {
        const out = await api(`/videos/${box.dataset.videoId}`, { method: "PATCH", body: { is_validation: on } });
        box.checked = out.is_validation;
        say(`${out.title}: ${out.is_validation ? "a validation video (never trains)" : "a training video again"}.`);
      } catch (e) {
        box.checked = !on;
        say(`Not changed: ${e.detail || e.message}`, true);
      } finally {
        box.disabled = false;
      }
    });
  }
}

bindListCheckboxes();
