// A small line plot on a canvas: training losses (left axis) and held-out metrics (right
// axis) per epoch.

const LOSS_COLORS = ["#c92a2a", "#e67700", "#862e9c", "#495057", "#a61e4d", "#5c940d"];
const VAL_COLORS = ["#1864ab", "#2b8a3e", "#0b7285", "#3b5bdb"];

function niceMax(v) {
  if (!(v > 0)) return 1;
  const p = Math.pow(10, Math.floor(Math.log10(v)));
  for (const m of [1, 2, 2.5, 5, 10]) if (m * p >= v) return m * p;
  return 10 * p;
}

// history: [{epoch, losses: {name: value}, val: {name: value}}]
export function seriesOf(history) {
  const losses = new Map();
  const vals = new Map();
  for (const h of history || []) {
    for (const [k, v] of Object.entries(h.losses || {})) {
      if (Number.isFinite(v)) (losses.get(k) || losses.set(k, []).get(k)).push([h.epoch, v]);
    }
    for (const [k, v] of Object.entries(h.val || {})) {
      if (Number.isFinite(v)) (vals.get(k) || vals.set(k, []).get(k)).push([h.epoch, v]);
    }
  }
  return { losses, vals };
}

export function drawTrainingCurves(canvas, history) {
  const cssW = canvas.clientWidth || 600;
  const cssH = canvas.clientHeight || 260;
  const dpr = window.devicePixelRatio || 1;
  canvas.width = Math.round(cssW * dpr);
  canvas.height = Math.round(cssH * dpr);
  const ctx = canvas.getContext("2d");
  ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
  ctx.fillStyle = "#fff";
  ctx.fillRect(0, 0, cssW, cssH);
  ctx.font = "11px system-ui, sans-serif";
  const { losses, vals } = seriesOf(history);
  const epochs = (history || []).map((h) => h.epoch);
  canvas.dataset.points = String(epochs.length);
  if (!epochs.length) {
    ctx.fillStyle = "#59636e";
    ctx.textAlign = "center";
    ctx.fillText("No epochs yet", cssW / 2, cssH / 2);
    return;
  }
  const L = 48, R = vals.size ? 48 : 12, T = 30, B = 30;
  const w = cssW - L - R;
  const h = cssH - T - B;
  const e0 = Math.min(...epochs);
  const e1 = Math.max(...epochs, e0 + 1);
  let lmax = 0;
  for (const pts of losses.values()) for (const [, v] of pts) lmax = Math.max(lmax, v);
  lmax = niceMax(lmax);
  let vmax = 0;
  for (const pts of vals.values()) for (const [, v] of pts) vmax = Math.max(vmax, v);
  vmax = vmax <= 1 ? 1 : niceMax(vmax);
  const X = (e) => L + ((e - e0) / (e1 - e0)) * w;
  const YL = (v) => T + h - (Math.max(0, v) / lmax) * h;
  const YV = (v) => T + h - (Math.max(0, v) / vmax) * h;

  // grid + axes
  ctx.strokeStyle = "#e9ecef";
  ctx.fillStyle = "#59636e";
  ctx.textBaseline = "middle";
  for (let i = 0; i <= 4; i++) {
    const y = T + (h * i) / 4;
    ctx.beginPath();
    ctx.moveTo(L, y);
    ctx.lineTo(L + w, y);
    ctx.stroke();
    ctx.textAlign = "right";
    ctx.fillText(String(+(lmax * (1 - i / 4)).toPrecision(3)), L - 4, y);
    if (vals.size) {
      ctx.textAlign = "left";
      ctx.fillText(String(+(vmax * (1 - i / 4)).toPrecision(3)), L + w + 4, y);
    }
  }
  ctx.textAlign = "center";
  ctx.textBaseline = "top";
  const stepE = Math.max(1, Math.ceil((e1 - e0) / 10));
  for (let e = e0; e <= e1; e += stepE) ctx.fillText(String(e), X(e), T + h + 4);
  ctx.fillText("epoch", L + w / 2, T + h + 16);
  ctx.strokeStyle = "#adb5bd";
  ctx.strokeRect(L + 0.5, T + 0.5, w, h);

  const line = (pts, Y, color, dashed) => {
    ctx.strokeStyle = color;
    ctx.fillStyle = color;
    ctx.lineWidth = 2;
    ctx.setLineDash(dashed ? [5, 3] : []);
    ctx.beginPath();
    pts.forEach(([e, v], i) => (i ? ctx.lineTo(X(e), Y(v)) : ctx.moveTo(X(e), Y(v))));
    ctx.stroke();
    ctx.setLineDash([]);
    for (const [e, v] of pts) {
      ctx.beginPath();
      ctx.arc(X(e), Y(v), 2.5, 0, 2 * Math.PI);
      ctx.fill();
    }
    ctx.lineWidth = 1;
  };
  const legend = [];
  [...losses.entries()].forEach(([k, pts], i) => {
    const c = LOSS_COLORS[i % LOSS_COLORS.length];
    line(pts, YL, c, false);
    legend.push([`${k} (loss)`, c, false]);
  });
  [...vals.entries()].forEach(([k, pts], i) => {
    const c = VAL_COLORS[i % VAL_COLORS.length];
    line(pts, YV, c, true);
    legend.push([`${k} (held-out, right axis)`, c, true]);
  });
  ctx.textAlign = "left";
  ctx.textBaseline = "middle";
  let x = L;
  let y = 12;
  for (const [name, c, dashed] of legend) {
    const tw = ctx.measureText(name).width + 30;
    if (x + tw > cssW - 4) {
      x = L;
      y += 14;
    }
    ctx.strokeStyle = c;
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
}

// The same numbers as a table, for screen readers and copying.
export function fillCurvesTable(table, history) {
  const { losses, vals } = seriesOf(history);
  const cols = [...losses.keys()].map((k) => ["losses", k]).concat([...vals.keys()].map((k) => ["val", k]));
  const head = document.createElement("tr");
  for (const name of ["Epoch", ...cols.map(([g, k]) => (g === "val" ? `${k} (held-out)` : k))]) {
    const th = document.createElement("th");
    th.scope = "col";
    th.textContent = name;
    head.append(th);
  }
  table.tHead.replaceChildren(head);
  table.tBodies[0].replaceChildren(
    ...(history || []).map((hst) => {
      const tr = document.createElement("tr");
      const cells = [String(hst.epoch), ...cols.map(([g, k]) => {
        const v = (hst[g] || {})[k];
        return Number.isFinite(v) ? v.toFixed(4) : "–";
      })];
      for (const c of cells) {
        const td = document.createElement("td");
        td.textContent = c;
        tr.append(td);
      }
      return tr;
    }),
  );
}
