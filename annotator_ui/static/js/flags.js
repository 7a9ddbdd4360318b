// Click QA flags in words, shared by the review page and the annotate page.

import { formatTime } from "./timebase.js";

// "0.30 s after its start" / "0.30 s before its end": where the click sits in the segment.
export function depthText(f) {
  return `${f.depth_s.toFixed(2)} s ${f.nearest_edge === "start" ? "after its start" : "before its end"}`;
}

export function flagText(f) {
  const span = `${f.class_name} ${formatTime(f.start_s)}–${formatTime(f.end_s)}`;
  return f.reason === "inside_prediction"
    ? `inside predicted ${span} (score ${f.score.toFixed(2)}), ${depthText(f)}`
    : `inside ground truth ${span}, ${depthText(f)}`;
}

// Every flag of one flagged click (the API's FlaggedClickOut), joined.
export function flagsText(item) {
  return item.flags.map(flagText).join("; ");
}
