// Small canvas plots of a model's measure on the validation set: mAP per tIoU (one line per
// version or training), the DETAD false-positive breakdown (one stacked bar per version) and
// a learning curve (mAP against the number of background clicks). Plain canvas like
// plot.js; every plot writes what it drew into data-* attributes (tests, screen readers
// get the same numbers as tables next to it).

export const COLORS = ["#1864ab", "#c92a2a", "#2b8a3e", "#e67700", "#862e9c", "#0b7285"];

// DETAD: true positives and the five false-positive types (model/analysis.py), in order.
export const FP_PARTS = [
  ["true_positive", "true positive", "#2b8a3e"],
  ["double_detection", "double detection", "#74b816"],
  ["wrong_label", "wrong label", "#f59f00"],
  ["localization", "localization", "#e8590c"],
  ["confusion", "confusion", "#ae3ec9"],
  ["background", "background", "#868e96"],
];

function setup(canvas, height) {
  const cssW = canvas.clientWidth || 480;
  const cssH = canvas.clientHeight || height;
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(cssW * dpr);
  canvas.height = Math.round(cssH * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, cssW, cssH);
  ctx.font = "11px system-ui, sans-serif";
  return { ctx, w: cssW, h: cssH };
}

function empty(ctx, w, h, text) {
  ctx.fillStyle = "#59636e";
  ctx.textAlign = "center";
  ctx.textBaseline = "middle";
  ctx.fillText(text, w / 2, h / 2);
}

function legend(ctx, entries, x0, y0, maxX) {
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  let x = x0;
  let y = y0;
  for (const [name, color, dashed] of entries) {
    const tw = ctx.measureText(name).width + 30;
    if (x + tw > maxX && x > x0) {
      x = x0;
      y += 14;
    }
    ctx.strokeStyle = color;
    ctx.fillStyle = color;
    ctx.lineWidth = 2;
    ctx.setLineDash(dashed ? [5, 3] : []);
    ctx.beginPath();
    ctx.moveTo(x, y);
    ctx.lineTo(x + 18, y);
    ctx.stroke();
    ctx.setLineDash([]);
    ctx.lineWidth = 1;
    ctx.fillStyle = "#343a40";
    ctx.fillText(name, x + 22, y);
    x += tw;
  }
  return y;
}

// A line plot with a 0..1 (shown in %) y axis. series: [{label, color, dashed, points: [[x, y]]}]
function linePlot(canvas, series, { xLabel, xTicks, xFormat, height = 220, emptyText }) {
  const { ctx, w, h } = setup(canvas, height);
  const drawn = series.filter((s) => s.points.some(([, v]) => Number.isFinite(v)));
  canvas.dataset.series = String(drawn.length);
  canvas.dataset.points = String(drawn.reduce((n, s) => n + s.points.length, 0));
  if (!drawn.length) return empty(ctx, w, h, emptyText);
  const L = 42, R = 12, T = 12 + 14 * Math.ceil(drawn.length / 3), B = 32;
  const pw = w - L - R, ph = h - T - B;
  const xs = drawn.flatMap((s) => s.points.map(([x]) => x));
  const x0 = Math.min(...xs, ...(xTicks || []));
  const x1 = Math.max(...xs, ...(xTicks || []), x0 + 1e-9);
  const X = (x) => L + ((x - x0) / (x1 - x0 || 1)) * pw;
  const Y = (v) => T + ph - Math.max(0, Math.min(1, v)) * ph;
  ctx.strokeStyle = "#e9ecef";
  ctx.fillStyle = "#59636e";
  for (let i = 0; i <= 4; i++) {
    const y = T + (ph * i) / 4;
    ctx.beginPath();
    ctx.moveTo(L, y);
    ctx.lineTo(L + pw, y);
    ctx.stroke();
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    ctx.fillText(`${100 - 25 * i} %`, L - 4, y);
  }
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  for (const t of xTicks || [...new Set(xs)].sort((a, b) => a - b)) ctx.fillText(xFormat(t), X(t), T + ph + 4);
  ctx.fillText(xLabel, L + pw / 2, T + ph + 17);
  ctx.strokeStyle = "#adb5bd";
  ctx.strokeRect(L + 0.5, T + 0.5, pw, ph);
  drawn.forEach((s, i) => {
    const color = s.color || COLORS[i % COLORS.length];
    const pts = s.points.filter(([, v]) => Number.isFinite(v));
    ctx.strokeStyle = color;
    ctx.fillStyle = color;
    ctx.lineWidth = 2;
    ctx.setLineDash(s.dashed ? [5, 3] : []);
    ctx.beginPath();
    pts.forEach(([x, v], k) => (k ? ctx.lineTo(X(x), Y(v)) : ctx.moveTo(X(x), Y(v))));
    ctx.stroke();
    ctx.setLineDash([]);
    for (const [x, v] of pts) {
      ctx.beginPath();
      ctx.arc(X(x), Y(v), 3, 0, 2 * Math.PI);
      ctx.fill();
    }
    ctx.lineWidth = 1;
  });
  legend(ctx, drawn.map((s, i) => [s.label, s.color || COLORS[i % COLORS.length], s.dashed]), L, 10, w - 4);
}

/** mAP per tIoU. series: [{label, mAP: {"0.1": x, ...}, color?, dashed?}] */
export function drawTiouPlot(canvas, series) {
  const data = series.map((s) => ({
    ...s,
    points: Object.entries(s.mAP || {})
      .map(([t, v]) => [Number(t), v])
      .filter(([t]) => Number.isFinite(t))
      .sort((a, b) => a[0] - b[0]),
  }));
  linePlot(canvas, data, {
    xLabel: "tIoU threshold",
    xFormat: (t) => t.toFixed(1),
    emptyText: "Not measured on a validation set",
  });
}

/** The learning curve. points: [{background_clicks, label?, <measure>: x}] */
export function drawLearningCurve(canvas, points, measures) {
  const series = measures.map(([key, label], i) => ({
    label,
    color: COLORS[i % COLORS.length],
    dashed: i > 0,
    points: points.map((p) => [p.background_clicks, p[key]]),
  }));
  linePlot(canvas, series, {
    xLabel: "background clicks used (0 = video labels only)",
    xTicks: points.map((p) => p.background_clicks),
    xFormat: (x) => String(x),
    emptyText: "No trainings finished yet",
    height: 240,
  });
}

/** One stacked bar per row: the share of each DETAD kind among the analysed predictions.
 * rows: [{label, summary: {true_positive, counts: {type: n}}}] (summary null: no bar) */
export function drawFpBars(canvas, rows) {
  const usable = rows.filter((r) => r.summary);
  const height = 44 + 28 * Math.max(1, usable.length);
  canvas.style.height = `${height}px`;
  const { ctx, w, h } = setup(canvas, height);
  canvas.dataset.bars = String(usable.length);
  if (!usable.length) return empty(ctx, w, h, "No false-positive analysis (no validation set)");
  const labelW = Math.min(140, Math.max(...usable.map((r) => ctx.measureText(r.label).width)) + 10);
  const L = labelW, R = 12, T = 8, barH = 18;
  const pw = w - L - R;
  usable.forEach((r, i) => {
    const counts = { true_positive: r.summary.true_positive || 0, ...(r.summary.counts || {}) };
    const total = FP_PARTS.reduce((n, [k]) => n + (counts[k] || 0), 0);
    const y = T + i * 28;
    ctx.fillStyle = "#343a40";
    ctx.textAlign = "right";
    ctx.textBaseline = "middle";
    ctx.fillText(r.label, L - 6, y + barH / 2);
    if (!total) {
      ctx.textAlign = "left";
      ctx.fillText("no predictions analysed", L, y + barH / 2);
      return;
    }
    let x = L;
    for (const [k, , color] of FP_PARTS) {
      const part = ((counts[k] || 0) / total) * pw;
      ctx.fillStyle = color;
      ctx.fillRect(x, y, part, barH);
      if (part > 26) {
        ctx.fillStyle = "#fff";
        ctx.textAlign = "center";
        ctx.fillText(`${Math.round((100 * (counts[k] || 0)) / total)}%`, x + part / 2, y + barH / 2);
      }
      x += part;
    }
  });
  const y0 = T + usable.length * 28 + 6;
  ctx.textBaseline = "middle";
  let x = L;
  let y = y0;
  for (const [, name, color] of FP_PARTS) {
    const tw = ctx.measureText(name).width + 22;
    if (x + tw > w - 4) {
      x = L;
      y += 14;
    }
    ctx.fillStyle = color;
    ctx.fillRect(x, y - 5, 10, 10);
    ctx.fillStyle = "#343a40";
    ctx.textAlign = "left";
    ctx.fillText(name, x + 14, y);
    x += tw;
  }
}

/** "41.2 %" (null → "–") */
export function pct(v, digits = 1) {
  return Number.isFinite(v) ? `${(100 * v).toFixed(digits)} %` : "–";
}

/** "+3.1" points (null → "–") */
export function points(v, digits = 1) {
  if (!Number.isFinite(v)) return "–";
  const p = 100 * v;
  return `${p > 0 ? "+" : p < 0 ? "−" : "±"}${Math.abs(p).toFixed(digits)}`;
}
