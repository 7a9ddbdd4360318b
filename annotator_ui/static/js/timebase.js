// Time rules of the browser side; mirror of server/timebase.py (frames) and
// model/timebase.py (snippets, the one home of that rule):
//   frame   = floor(t·fps + EPS), clamped to [0, frameCount − 1]
//   snippet = min(T − 1, floor(t / duration · T + EPS)), clamped to [0, T − 1]
// Seeks land in the middle of a frame ((k + 0.5) / fps) so the browser shows frame k
// whatever its rounding, and frameIndex() of that time gives k back.

export const EPS = 1e-6;

export function clamp(x, lo, hi) {
  return Math.min(hi, Math.max(lo, x));
}

export function frameIndex(t, fps, frameCount) {
  if (!(fps > 0) || !(frameCount > 0)) throw new RangeError("fps and frameCount must be positive");
  return clamp(Math.floor(t * fps + EPS), 0, frameCount - 1);
}

export function snippetIndex(t, duration, T) {
  if (!(duration > 0) || !(T > 0)) throw new RangeError("duration and T must be positive");
  return clamp(Math.floor((t / duration) * T + EPS), 0, T - 1);
}

// A time inside frame k (its middle), for seeking.
export function frameSeekTime(k, fps, frameCount) {
  return (clamp(k, 0, frameCount - 1) + 0.5) / fps;
}

// Step n frames from the frame shown at t.
export function stepFrames(t, n, fps, frameCount) {
  return frameSeekTime(frameIndex(t, fps, frameCount) + n, fps, frameCount);
}

// Step by s seconds, landing inside a frame.
export function stepSeconds(t, s, fps, frameCount) {
  const target = clamp(t + s, 0, frameCount / fps);
  return frameSeekTime(frameIndex(target, fps, frameCount), fps, frameCount);
}

// 83.456 -> "1:23.46"; with hours when needed.
export function formatTime(t) {
  if (!Number.isFinite(t)) return "–";
  const sign = t < 0 ? "-" : "";
  t = Math.round(Math.abs(t) * 100) / 100;
  const h = Math.floor(t / 3600);
  const m = Math.floor((t % 3600) / 60);
  const s = t % 60;
  const ss = s.toFixed(2).padStart(5, "0");
  return h ? `${sign}${h}:${String(m).padStart(2, "0")}:${ss}` : `${sign}${m}:${ss}`;
}

// Segment edges lie on frame boundaries k / fps, clamped to [0, duration]:
// the start of the frame shown at t (a segment's first frame), the end of that frame (its
// last frame, inclusive), or the boundary nearest to t (dragging an edge).
export function frameStartTime(t, fps, frameCount) {
  return frameIndex(t, fps, frameCount) / fps;
}

export function frameEndTime(t, fps, frameCount, duration) {
  return Math.min(duration, (frameIndex(t, fps, frameCount) + 1) / fps);
}

export function snapToFrameEdge(t, fps, duration) {
  if (!(fps > 0)) throw new RangeError("fps must be positive");
  return clamp(Math.round(t * fps) / fps, 0, duration);
}
