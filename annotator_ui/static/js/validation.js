// The video's validation flag on the annotate page: a badge for everyone ("validation
// video: never trains; its segments measure the model"), a checkbox for admins.

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
