// The canvas timeline under the video: ruler, clicks, the annotator's segments, suggestions
// (hollow markers: moments the model is unsure about), ground truth, predicted segments per
// class (shaded by score), the activation curve of one class, the playhead.
// Wheel zooms around the pointer, drag pans, a click seeks (or selects a click marker or a
// segment), hovering shows the thumbnail of that moment. On the segment lane a drag draws a
// segment and dragging a segment's edge moves it; both snap to frame boundaries.

import { clamp, formatTime, snapToFrameEdge } from "./timebase.js";

export const CLASS_COLORS = ["#d9480f", "#1971c2", "#2b8a3e", "#9c36b5", "#e67700", "#0b7285", "#c2255c", "#5c940d", "#495057", "#3b5bdb"];
export const ANNOTATOR_COLORS = ["#212529", "#c92a2a", "#1864ab", "#2b8a3e", "#862e9c", "#d9480f", "#0b7285", "#a61e4d"];
export const PENDING_COLOR = "#b35c00";
export const SUGGESTION_COLOR = "#7048e8";
export const FLAG_COLOR = "#e8590c";

export function classColor(index) {
  return CLASS_COLORS[((index % CLASS_COLORS.length) + CLASS_COLORS.length) % CLASS_COLORS.length];
}

export function annotatorColor(id) {
  return ANNOTATOR_COLORS[Math.abs(id) % ANNOTATOR_COLORS.length];
}

function hexToRgb(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

function rgba(hex, a) {
  const [r, g, b] = hexToRgb(hex);
  return `rgba(${r},${g},${b},${a})`;
}

// Bar opacity for a segment score: 0.3 (score ≤ 0) to 1 (score ≥ 1).
export function scoreAlpha(score) {
  return 0.3 + 0.7 * clamp(Number(score) || 0, 0, 1);
}

const TICK_STEPS = [0.04, 0.1, 0.2, 0.5, 1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600];
const GUTTER = 104;
const PAD_RIGHT = 8;
const EDGE_GRAB_PX = 6; // a pointer this close to a segment's edge drags the edge

export class Timeline {
  constructor(canvas, { duration, fps, onSeek, onSelect, onSuggestion, onSegmentDrawn, onSegmentEdge, onSegmentSelect, segmentLane = false, thumbEl }) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.duration = duration;
    this.fps = fps;
    this.onSeek = onSeek || (() => {});
    this.onSelect = onSelect || (() => {});
    this.onSuggestion = onSuggestion || (() => {});
    this.onSegmentDrawn = onSegmentDrawn || (() => {}); // (start_s, end_s) on frame edges
    this.onSegmentEdge = onSegmentEdge || (() => {}); // (segment, "start"|"end", t on a frame edge)
    this.onSegmentSelect = onSegmentSelect || (() => {});
    this.thumbEl = thumbEl;
    this.view = { t0: 0, t1: duration };
    this.time = 0;
    this.hoverX = null;
    this.clicks = [];
    this.flagged = new Set(); // ids of clicks the click QA flagged: drawn with a "!" badge
    this.suggestions = []; // open suggestions [{id, t_s, score, reason}], best first
    this.currentSuggestion = null; // id of the one the annotator jumped to
    this.classes = [];
    this.segments = null; // null: no prediction layer at all
    this.curves = null;
    this.gt = [];
    this.showGT = false;
    this.showPredictions = true;
    this.curveClass = null;
    this.selectedKey = null;
    this.segmentLane = segmentLane; // the annotator's segment lane (the annotate page)
    this.mySegments = []; // the annotator's segments (admin: everyone's) [{id, class_id, start_s, end_s, ...}]
    this.selectedSegment = null; // id
    this.segmentMark = null; // the start mark (I) of a segment being made, seconds
    this.segmentEditable = () => true;
    this.colorFor = () => ANNOTATOR_COLORS[0];
    this.thumbs = null;
    this.drawCount = 0;
    this.drag = null;
    this.raf = 0;
    this.bind();
    new ResizeObserver(() => this.request()).observe(canvas.parentElement);
  }

  // ------------------------------------------------------------------ data
  set(fields) {
    Object.assign(this, fields);
    this.request();
  }

  setTime(t, { follow = false } = {}) {
    this.time = t;
    if (follow) {
      const span = this.view.t1 - this.view.t0;
      if (t > this.view.t1 || t < this.view.t0) this.setView(t - 0.1 * span, t + 0.9 * span);
    }
    this.request();
  }

  minSpan() {
    return Math.min(this.duration, Math.max(0.4, 12 / this.fps));
  }

  setView(t0, t1) {
    let span = clamp(t1 - t0, this.minSpan(), this.duration);
    t0 = clamp(t0, 0, this.duration - span);
    this.view = { t0, t1: t0 + span };
    this.request();
  }

  zoom(factor, around = null) {
    const { t0, t1 } = this.view;
    const c = around == null ? clamp(this.time, t0, t1) : around;
    const span = clamp((t1 - t0) * factor, this.minSpan(), this.duration);
    const f = (c - t0) / (t1 - t0 || 1);
    this.setView(c - f * span, c - f * span + span);
  }

  fit() {
    this.setView(0, this.duration);
  }

  // Move the view by a fraction of its width (negative: towards the start).
  pan(fraction) {
    const span = this.view.t1 - this.view.t0;
    this.setView(this.view.t0 + fraction * span, this.view.t1 + fraction * span);
  }

  // ------------------------------------------------------------------ geometry
  lanes() {
    const lanes = [{ id: "ruler", h: 22 }, { id: "clicks", h: 30, label: "Clicks" }];
    if (this.segmentLane) lanes.push({ id: "segs", h: 26, label: "Segments" });
    if (this.suggestions.length) lanes.push({ id: "suggest", h: 20, label: "Suggestions" });
    if (this.showGT && this.gt.length) {
      for (const c of this.classes) lanes.push({ id: "gt", cls: c, h: 14, label: `GT · ${c.name}` });
    }
    if (this.showPredictions && this.segments) {
      for (const c of this.classes) lanes.push({ id: "pred", cls: c, h: 18, label: c.name });
    }
    const curveCls = this.classes.find((c) => c.id === this.curveClass);
    if (curveCls && this.curves && this.curves.classes && this.curves.classes[String(curveCls.id)]) {
      lanes.push({ id: "curve", cls: curveCls, h: 48, label: `Curve · ${curveCls.name}` });
    }
    let y = 0;
    for (const l of lanes) {
      l.y = y;
      y += l.h;
    }
    return { lanes, height: y + 2 };
  }

  width() {
    return this.canvas.parentElement.clientWidth || 600;
  }

  x(t) {
    const w = this.width() - GUTTER - PAD_RIGHT;
    return GUTTER + ((t - this.view.t0) / (this.view.t1 - this.view.t0)) * w;
  }

  t(x) {
    const w = this.width() - GUTTER - PAD_RIGHT;
    return this.view.t0 + ((x - GUTTER) / w) * (this.view.t1 - this.view.t0);
  }

  // ------------------------------------------------------------------ drawing
  request() {
    if (this.raf) return;
    this.raf = requestAnimationFrame(() => {
      this.raf = 0;
      this.draw();
    });
  }

  draw() {
    const { lanes, height } = this.lanes();
    const cssW = this.canvas.parentElement.clientWidth || 600;
    const dpr = window.devicePixelRatio || 1;
    if (this.canvas.width !== Math.round(cssW * dpr) || this.canvas.height !== Math.round(height * dpr)) {
      this.canvas.style.width = `${cssW}px`;
      this.canvas.style.height = `${height}px`;
      this.canvas.width = Math.round(cssW * dpr);
      this.canvas.height = Math.round(height * dpr);
    }
    const ctx = this.ctx;
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, cssW, height);
    ctx.fillStyle = "#ffffff";
    ctx.fillRect(0, 0, cssW, height);
    this.lanesCache = lanes;
    const drawn = [];
    const suggested = [];
    const flaggedDrawn = [];
    const segsDrawn = [];
    ctx.font = "11px system-ui, sans-serif";
    ctx.textBaseline = "middle";
    for (const lane of lanes) {
      if (lane.id !== "ruler") {
        ctx.fillStyle = lane.id === "pred" || lane.id === "gt" ? "#f8f9fa" : "#ffffff";
        ctx.fillRect(GUTTER, lane.y, cssW - GUTTER, lane.h);
        ctx.strokeStyle = "#dee2e6";
        ctx.beginPath();
        ctx.moveTo(0, lane.y + 0.5);
        ctx.lineTo(cssW, lane.y + 0.5);
        ctx.stroke();
      }
      ctx.save();
      ctx.beginPath();
      ctx.rect(GUTTER, lane.y, cssW - GUTTER - PAD_RIGHT, lane.h);
      ctx.clip();
      if (lane.id === "ruler") this.drawRuler(lane, cssW);
      else if (lane.id === "clicks") this.drawClicks(lane, flaggedDrawn);
      else if (lane.id === "segs") this.drawMySegments(lane, segsDrawn);
      else if (lane.id === "suggest") this.drawSuggestions(lane, suggested);
      else if (lane.id === "gt") this.drawGT(lane);
      else if (lane.id === "pred") this.drawPred(lane, drawn);
      else if (lane.id === "curve") this.drawCurve(lane);
      ctx.restore();
      // label gutter
      ctx.fillStyle = "#f1f3f5";
      ctx.fillRect(0, lane.y + 1, GUTTER - 4, lane.h - 1);
      if (lane.label) {
        if (lane.cls) {
          ctx.fillStyle = classColor(lane.cls.index);
          ctx.fillRect(4, lane.y + lane.h / 2 - 4, 8, 8);
        }
        ctx.fillStyle = "#343a40";
        ctx.fillText(lane.label, lane.cls ? 16 : 6, lane.y + lane.h / 2, GUTTER - 22);
      }
    }
    // playhead
    const px = this.x(this.time);
    if (px >= GUTTER && px <= cssW - PAD_RIGHT) {
      ctx.strokeStyle = "#e03131";
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(px, 0);
      ctx.lineTo(px, height);
      ctx.stroke();
      ctx.fillStyle = "#e03131";
      ctx.beginPath();
      ctx.moveTo(px - 5, 0);
      ctx.lineTo(px + 5, 0);
      ctx.lineTo(px, 7);
      ctx.fill();
      ctx.lineWidth = 1;
    }
    if (this.hoverX != null && this.hoverX >= GUTTER) {
      ctx.strokeStyle = "rgba(0,0,0,0.35)";
      ctx.setLineDash([3, 3]);
      ctx.beginPath();
      ctx.moveTo(this.hoverX + 0.5, 0);
      ctx.lineTo(this.hoverX + 0.5, height);
      ctx.stroke();
      ctx.setLineDash([]);
    }
    this.drawCount += 1;
    const ds = this.canvas.dataset;
    ds.segments = JSON.stringify(drawn);
    ds.suggestions = JSON.stringify(suggested);
    ds.flagged = JSON.stringify(flaggedDrawn);
    ds.mySegments = JSON.stringify(segsDrawn);
    const segLane = lanes.find((l) => l.id === "segs");
    if (segLane) ds.segmentLane = JSON.stringify({ y0: segLane.y, y1: segLane.y + segLane.h });
    ds.view = `${this.view.t0.toFixed(3)},${this.view.t1.toFixed(3)}`;
    ds.draws = String(this.drawCount);
    ds.predictionLanes = String(lanes.filter((l) => l.id === "pred").length);
  }

  drawRuler(lane, cssW) {
    const ctx = this.ctx;
    const span = this.view.t1 - this.view.t0;
    const pxPerS = (cssW - GUTTER - PAD_RIGHT) / span;
    const step = TICK_STEPS.find((s) => s * pxPerS >= 70) || 7200;
    ctx.strokeStyle = "#adb5bd";
    ctx.fillStyle = "#495057";
    ctx.textBaseline = "top";
    for (let t = Math.ceil(this.view.t0 / step) * step; t <= this.view.t1 + 1e-9; t += step) {
      const x = Math.round(this.x(t)) + 0.5;
      ctx.beginPath();
      ctx.moveTo(x, lane.h - 8);
      ctx.lineTo(x, lane.h);
      ctx.stroke();
      const label = step < 1 ? formatTime(t) : formatTime(t).replace(/\.00$/, "");
      ctx.fillText(label, x + 3, 3);
    }
    ctx.textBaseline = "middle";
  }

  drawClicks(lane, flaggedDrawn = []) {
    const ctx = this.ctx;
    for (const c of this.clicks) {
      if (c.t_s < this.view.t0 - 1 || c.t_s > this.view.t1 + 1) continue;
      const x = Math.round(this.x(c.t_s)) + 0.5;
      const pending = c.state !== "saved";
      const color = pending ? PENDING_COLOR : this.colorFor(c);
      const selected = c.key === this.selectedKey;
      if (selected) {
        ctx.fillStyle = "rgba(255, 212, 59, 0.55)";
        ctx.fillRect(x - 6, lane.y + 1, 12, lane.h - 1);
      }
      ctx.strokeStyle = color;
      ctx.lineWidth = selected ? 3 : 2;
      if (pending) ctx.setLineDash([3, 2]);
      ctx.beginPath();
      ctx.moveTo(x, lane.y + 9);
      ctx.lineTo(x, lane.y + lane.h);
      ctx.stroke();
      ctx.setLineDash([]);
      ctx.beginPath();
      let head = color;
      if (c.kind === "action") {
        // action clicks: a square head in the colour of their class
        const cls = this.classes.find((k) => k.id === c.class_id);
        if (!pending && cls) head = classColor(cls.index);
        ctx.rect(x - 4.5, lane.y + 1.5, 9, 9);
      } else {
        ctx.moveTo(x - 5, lane.y + 2);
        ctx.lineTo(x + 5, lane.y + 2);
        ctx.lineTo(x, lane.y + 10);
        ctx.closePath();
      }
      if (pending) {
        ctx.fillStyle = "#ffffff";
        ctx.fill();
        ctx.lineWidth = 1.5;
        ctx.stroke();
      } else {
        ctx.fillStyle = head;
        ctx.fill();
      }
      ctx.lineWidth = 1;
      if (c.id && this.flagged.has(c.id)) {
        // the click QA's "check this one": an orange disc with "!" beside the marker's foot
        const fx = x + 8;
        const fy = lane.y + lane.h - 8;
        ctx.fillStyle = FLAG_COLOR;
        ctx.beginPath();
        ctx.arc(fx, fy, 6, 0, 2 * Math.PI);
        ctx.fill();
        ctx.fillStyle = "#ffffff";
        ctx.font = "bold 10px system-ui, sans-serif";
        ctx.textAlign = "center";
        ctx.fillText("!", fx, fy + 0.5);
        ctx.textAlign = "start";
        ctx.font = "11px system-ui, sans-serif";
        flaggedDrawn.push({ id: c.id, x: fx, y: fy });
      }
    }
  }

  // Hollow circles; the one the annotator jumped to is thicker with a tinted halo.
  drawSuggestions(lane, suggested) {
    const ctx = this.ctx;
    const y = lane.y + lane.h / 2;
    for (const s of this.suggestions) {
      if (s.t_s < this.view.t0 - 1 || s.t_s > this.view.t1 + 1) continue;
      const x = Math.round(this.x(s.t_s)) + 0.5;
      const current = s.id === this.currentSuggestion;
      if (current) {
        ctx.fillStyle = "rgba(112, 72, 232, 0.18)";
        ctx.fillRect(x - 8, lane.y + 1, 16, lane.h - 1);
      }
      ctx.strokeStyle = SUGGESTION_COLOR;
      ctx.lineWidth = current ? 3 : 2;
      ctx.beginPath();
      ctx.arc(x, y, 6, 0, 2 * Math.PI);
      ctx.stroke();
      ctx.lineWidth = 1;
      suggested.push({ id: s.id, t_s: s.t_s, reason: s.reason, x, y, current });
    }
  }

  // The annotator's segments in their class colour (those accepted from the model with a
  // dotted top edge), the selected one outlined with edge handles; the start mark of a
  // segment being made; what a drag is drawing or moving.
  drawMySegments(lane, out) {
    const ctx = this.ctx;
    const d = this.drag;
    const y0 = lane.y + 3;
    const h = lane.h - 6;
    for (const s of this.mySegments) {
      let a = s.start_s;
      let b = s.end_s;
      if (d && d.mode === "edge" && d.seg.id === s.id) [a, b] = d.edge === "start" ? [d.t, b] : [a, d.t];
      if (b < this.view.t0 || a > this.view.t1) continue;
      const x0 = this.x(a);
      const x1 = this.x(b);
      const cls = this.classes.find((k) => k.id === s.class_id);
      const color = cls ? classColor(cls.index) : "#868e96";
      const selected = s.id === this.selectedSegment;
      ctx.fillStyle = rgba(color, selected ? 0.75 : 0.55);
      ctx.fillRect(x0, y0, Math.max(1, x1 - x0), h);
      ctx.strokeStyle = color;
      ctx.lineWidth = 1;
      ctx.strokeRect(x0 + 0.5, y0 + 0.5, Math.max(1, x1 - x0) - 1, h - 1);
      if (s.source === "prediction") {
        ctx.setLineDash([2, 2]);
        ctx.strokeStyle = "#212529";
        ctx.beginPath();
        ctx.moveTo(x0, y0 + 1.5);
        ctx.lineTo(x1, y0 + 1.5);
        ctx.stroke();
        ctx.setLineDash([]);
      }
      if (selected) {
        ctx.strokeStyle = "#f59f00";
        ctx.lineWidth = 2;
        ctx.strokeRect(x0 - 1, y0 - 1, Math.max(1, x1 - x0) + 2, h + 2);
        ctx.fillStyle = "#f59f00";
        ctx.fillRect(x0 - 2, y0, 4, h);
        ctx.fillRect(x1 - 2, y0, 4, h);
        ctx.lineWidth = 1;
      }
      out.push({
        id: s.id,
        class_id: s.class_id,
        start_s: a,
        end_s: b,
        source: s.source,
        selected,
        x0,
        x1,
        y0,
        y1: y0 + h,
      });
    }
    if (d && d.mode === "draw" && d.moved) {
      const x0 = this.x(Math.min(d.t0, d.t1));
      const x1 = this.x(Math.max(d.t0, d.t1));
      ctx.fillStyle = "rgba(245, 159, 0, 0.35)";
      ctx.fillRect(x0, y0, Math.max(1, x1 - x0), h);
      ctx.strokeStyle = "#f59f00";
      ctx.setLineDash([4, 2]);
      ctx.strokeRect(x0 + 0.5, y0 + 0.5, Math.max(1, x1 - x0) - 1, h - 1);
      ctx.setLineDash([]);
    }
    if (this.segmentMark != null) {
      const x = Math.round(this.x(this.segmentMark)) + 0.5;
      ctx.strokeStyle = "#f59f00";
      ctx.lineWidth = 2;
      ctx.beginPath();
      ctx.moveTo(x, lane.y);
      ctx.lineTo(x, lane.y + lane.h);
      ctx.stroke();
      ctx.fillStyle = "#f59f00";
      ctx.beginPath();
      ctx.moveTo(x, lane.y + 2);
      ctx.lineTo(x + 8, lane.y + 6);
      ctx.lineTo(x, lane.y + 10);
      ctx.fill();
      ctx.lineWidth = 1;
    }
  }

  // An editable segment whose edge is within EDGE_GRAB_PX of x: {seg, edge}; the selected
  // segment first, then the nearest edge.
  segmentEdgeNear(x) {
    let best = null;
    let bestD = EDGE_GRAB_PX + 1;
    for (const s of this.mySegments) {
      if (!this.segmentEditable(s)) continue;
      for (const edge of ["start", "end"]) {
        const dist = Math.abs(this.x(edge === "start" ? s.start_s : s.end_s) - x);
        const bias = s.id === this.selectedSegment ? -0.5 : 0;
        if (dist + bias < bestD) {
          best = { seg: s, edge };
          bestD = dist + bias;
        }
      }
    }
    return best;
  }

  segmentAt(x) {
    const t = this.t(x);
    const here = this.mySegments.filter((s) => s.start_s <= t && t <= s.end_s);
    return here.find((s) => s.id === this.selectedSegment) || here[here.length - 1] || null;
  }

  snap(t) {
    return snapToFrameEdge(clamp(t, 0, this.duration), this.fps, this.duration);
  }

  drawGT(lane) {
    const ctx = this.ctx;
    const color = classColor(lane.cls.index);
    for (const g of this.gt) {
      if (g.class_id !== lane.cls.id || g.end_s < this.view.t0 || g.start_s > this.view.t1) continue;
      const x0 = this.x(g.start_s);
      const x1 = this.x(g.end_s);
      ctx.fillStyle = "#495057";
      ctx.fillRect(x0, lane.y + 3, Math.max(1, x1 - x0), lane.h - 6);
      ctx.fillStyle = color;
      ctx.fillRect(x0, lane.y + 5, Math.max(1, x1 - x0), lane.h - 10);
    }
  }

  drawPred(lane, drawn) {
    const ctx = this.ctx;
    const color = classColor(lane.cls.index);
    for (const s of this.segments) {
      if (s.class_id !== lane.cls.id || s.end_s < this.view.t0 || s.start_s > this.view.t1) continue;
      const x0 = this.x(s.start_s);
      const x1 = this.x(s.end_s);
      const y0 = lane.y + 3;
      const h = lane.h - 5;
      ctx.fillStyle = rgba(color, scoreAlpha(s.score));
      ctx.fillRect(x0, y0, Math.max(1, x1 - x0), h);
      ctx.strokeStyle = color;
      ctx.strokeRect(x0 + 0.5, y0 + 0.5, Math.max(1, x1 - x0) - 1, h - 1);
      drawn.push({
        class_id: s.class_id,
        start_s: s.start_s,
        end_s: s.end_s,
        score: s.score,
        color,
        x0: Math.max(GUTTER, x0),
        x1: Math.min(this.width() - PAD_RIGHT, x1),
        y0,
        y1: y0 + h,
      });
    }
  }

  drawCurve(lane) {
    const ctx = this.ctx;
    const times = this.curves.times_s || [];
    const values = this.curves.classes[String(lane.cls.id)] || [];
    const n = Math.min(times.length, values.length);
    if (!n) return;
    let hi = 1;
    for (let i = 0; i < n; i++) hi = Math.max(hi, values[i]);
    const color = classColor(lane.cls.index);
    const base = lane.y + lane.h - 3;
    const scale = (lane.h - 8) / hi;
    ctx.beginPath();
    let started = false;
    let firstX = 0;
    let lastX = 0;
    for (let i = 0; i < n; i++) {
      if (i + 1 < n && times[i + 1] < this.view.t0) continue;
      if (i > 0 && times[i - 1] > this.view.t1) break;
      const x = this.x(times[i]);
      const y = base - Math.max(0, values[i]) * scale;
      if (!started) {
        ctx.moveTo(x, y);
        firstX = x;
        started = true;
      } else ctx.lineTo(x, y);
      lastX = x;
    }
    ctx.strokeStyle = color;
    ctx.lineWidth = 1.5;
    ctx.stroke();
    ctx.lineTo(lastX, base);
    ctx.lineTo(firstX, base);
    ctx.closePath();
    ctx.fillStyle = rgba(color, 0.15);
    ctx.fill();
    ctx.lineWidth = 1;
  }

  // ------------------------------------------------------------------ interaction
  laneAt(y) {
    return (this.lanesCache || []).find((l) => y >= l.y && y < l.y + l.h);
  }

  clickNear(x) {
    let best = null;
    let bestD = 7;
    for (const c of this.clicks) {
      const d = Math.abs(this.x(c.t_s) - x);
      if (d < bestD) {
        best = c;
        bestD = d;
      }
    }
    return best;
  }

  suggestionNear(x) {
    let best = null;
    let bestD = 8;
    for (const s of this.suggestions) {
      const d = Math.abs(this.x(s.t_s) - x);
      if (d < bestD) {
        best = s;
        bestD = d;
      }
    }
    return best;
  }

  bind() {
    const cv = this.canvas;
    const pos = (ev) => {
      const r = cv.getBoundingClientRect();
      return { x: ev.clientX - r.left, y: ev.clientY - r.top };
    };
    cv.addEventListener("wheel", (ev) => {
      ev.preventDefault();
      const { x } = pos(ev);
      const span = this.view.t1 - this.view.t0;
      if (ev.shiftKey || Math.abs(ev.deltaX) > Math.abs(ev.deltaY)) {
        const d = (ev.shiftKey ? ev.deltaY : ev.deltaX) || 0;
        const w = this.width() - GUTTER - PAD_RIGHT;
        this.setView(this.view.t0 + (d / w) * span, this.view.t1 + (d / w) * span);
      } else {
        const around = x >= GUTTER ? this.t(x) : null;
        this.zoom(Math.exp(ev.deltaY * 0.0015), around);
      }
    }, { passive: false });
    cv.addEventListener("pointerdown", (ev) => {
      if (ev.button !== 0) return;
      const p = pos(ev);
      const lane = p.x >= GUTTER ? this.laneAt(p.y) : null;
      if (lane && lane.id === "segs" && ev.pointerType !== "touch") {
        const grab = this.segmentEdgeNear(p.x);
        if (grab) {
          const t = grab.edge === "start" ? grab.seg.start_s : grab.seg.end_s;
          this.drag = { mode: "edge", x: p.x, seg: grab.seg, edge: grab.edge, t, from: t, moved: false };
        } else {
          const t = this.snap(this.t(p.x));
          this.drag = { mode: "draw", x: p.x, t0: t, t1: t, moved: false };
        }
      } else {
        this.drag = { mode: "pan", x: p.x, y: p.y, t0: this.view.t0, t1: this.view.t1, moved: false };
      }
      cv.setPointerCapture(ev.pointerId);
    });
    cv.addEventListener("pointermove", (ev) => {
      const p = pos(ev);
      this.hoverX = p.x;
      const d = this.drag;
      if (d) {
        const dx = p.x - d.x;
        if (Math.abs(dx) > 3) d.moved = true;
        if (d.moved && d.mode === "pan") {
          const w = this.width() - GUTTER - PAD_RIGHT;
          const dt = (-dx / w) * (d.t1 - d.t0);
          this.setView(d.t0 + dt, d.t1 + dt);
        } else if (d.moved && d.mode === "edge") {
          // at least one frame long: the start stays before the end and vice versa
          const frame = 1 / this.fps;
          const t = this.snap(this.t(p.x));
          d.t = d.edge === "start" ? Math.min(t, d.seg.end_s - frame) : Math.max(t, d.seg.start_s + frame);
          d.t = clamp(d.t, 0, this.duration);
        } else if (d.moved && d.mode === "draw") d.t1 = this.snap(this.t(p.x));
      } else {
        const lane = p.x >= GUTTER ? this.laneAt(p.y) : null;
        cv.style.cursor = lane && lane.id === "segs" ? (this.segmentEdgeNear(p.x) ? "ew-resize" : "crosshair") : "";
      }
      this.showThumb(p.x);
      this.request();
    });
    cv.addEventListener("pointerup", (ev) => {
      const d = this.drag;
      this.drag = null;
      if (d && d.moved && d.mode === "edge") {
        if (Math.abs(d.t - d.from) > 1e-9) this.onSegmentEdge(d.seg, d.edge, d.t);
        this.request();
        return;
      }
      if (d && d.moved && d.mode === "draw") {
        const a = Math.min(d.t0, d.t1);
        const b = Math.max(d.t0, d.t1);
        if (b - a >= 1 / this.fps - 1e-9) this.onSegmentDrawn(a, b);
        this.request();
        return;
      }
      if (!d || d.moved) return;
      const p = pos(ev);
      if (p.x < GUTTER) return;
      const lane = this.laneAt(p.y);
      if (lane && lane.id === "segs") {
        const s = this.segmentAt(p.x);
        if (s) {
          this.onSegmentSelect(s);
          return;
        }
      }
      if (lane && lane.id === "clicks") {
        const c = this.clickNear(p.x);
        if (c) {
          this.onSelect(c);
          return;
        }
      }
      if (lane && lane.id === "suggest") {
        const s = this.suggestionNear(p.x);
        if (s) {
          this.onSuggestion(s);
          return;
        }
      }
      this.onSeek(clamp(this.t(p.x), 0, this.duration));
    });
    cv.addEventListener("pointercancel", () => {
      this.drag = null; // a touch the browser took over (a page scroll)
      this.request();
    });
    cv.addEventListener("pointerleave", () => {
      this.hoverX = null;
      if (this.thumbEl) this.thumbEl.hidden = true;
      this.request();
    });
  }

  // ------------------------------------------------------------------ thumbnails
  setThumbnails(info, url) {
    this.thumbs = info && url ? { ...info, url } : null;
  }

  showThumb(x) {
    const el = this.thumbEl;
    if (!el) return;
    if (x < GUTTER) {
      el.hidden = true;
      return;
    }
    const t = clamp(this.t(x), 0, this.duration);
    el.querySelector(".thumb-time").textContent = formatTime(t);
    const img = el.querySelector(".thumb-img");
    const th = this.thumbs;
    if (th && th.times_s && th.times_s.length) {
      // last tile at or before t
      let lo = 0;
      let hi = th.times_s.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (th.times_s[mid] <= t + 1e-6) lo = mid;
        else hi = mid - 1;
      }
      const scale = Math.min(1, 160 / th.tile_width);
      const n = th.times_s.length;
      const rows = Math.ceil(n / th.columns);
      const cols = Math.min(th.columns, n); // the sprite is only as wide as its tiles
      const col = lo % th.columns;
      const row = Math.floor(lo / th.columns);
      img.hidden = false;
      img.style.width = `${th.tile_width * scale}px`;
      img.style.height = `${th.tile_height * scale}px`;
      img.style.backgroundImage = `url("${th.url}")`;
      img.style.backgroundSize = `${cols * th.tile_width * scale}px ${rows * th.tile_height * scale}px`;
      img.style.backgroundPosition = `${-col * th.tile_width * scale}px ${-row * th.tile_height * scale}px`;
    } else {
      img.hidden = true;
    }
    el.hidden = false;
    const w = el.offsetWidth || 60;
    el.style.left = `${clamp(x - w / 2, 0, this.width() - w)}px`;
  }
}
