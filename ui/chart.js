// Canvas charts of our own: lines (with an optional right axis), horizontal
// bars and a heatmap. Each draws at the device's pixel ratio into a canvas
// the caller placed.

export const COLORS = ['#1f6feb', '#d9480f', '#2f9e44', '#9c36b5', '#e8590c', '#0c8599', '#c2255c', '#5c940d'];

// A fixed `width` sizes the canvas itself; without it, the page's layout does.
function setup(canvas, height, fixedWidth) {
  const ratio = window.devicePixelRatio || 1;
  if (fixedWidth) canvas.style.width = fixedWidth + 'px';
  const width = fixedWidth || canvas.clientWidth || 600;
  canvas.width = Math.round(width * ratio);
  canvas.height = Math.round(height * ratio);
  canvas.style.height = height + 'px';
  const ctx = canvas.getContext('2d');
  ctx.scale(ratio, ratio);
  ctx.font = '12px system-ui, sans-serif';
  return { ctx, width, height };
}

function range(values) {
  let lo = Infinity, hi = -Infinity;
  for (const v of values) if (Number.isFinite(v)) { lo = Math.min(lo, v); hi = Math.max(hi, v); }
  if (lo === Infinity) return [0, 1];
  if (lo === hi) { lo -= Math.abs(lo) * 0.1 || 0.5; hi += Math.abs(hi) * 0.1 || 0.5; }
  return [lo, hi];
}

function label(v) {
  const a = Math.abs(v);
  return a !== 0 && (a < 1e-3 || a >= 1e5) ? v.toExponential(1) : String(+v.toPrecision(3));
}

// series: [{name, points: [[x, y], ...], color, dashed, right}] — `right`
// series (the learning rate) get their own axis on the right.
export function lines(canvas, series, opts) {
  opts = opts || {};
  const { ctx, width, height } = setup(canvas, opts.height || 240);
  const left = series.filter((s) => !s.right), right = series.filter((s) => s.right);
  const pad = { l: 56, r: right.length ? 56 : 12, t: 12, b: 40 };
  const w = width - pad.l - pad.r, hgt = height - pad.t - pad.b;
  const xs = range(series.flatMap((s) => s.points.map((p) => p[0])));
  const yl = range(left.flatMap((s) => s.points.map((p) => p[1])));
  const yr = range(right.flatMap((s) => s.points.map((p) => p[1])));
  const X = (x) => pad.l + ((x - xs[0]) / (xs[1] - xs[0])) * w;
  const Y = (y, r) => pad.t + hgt - ((y - r[0]) / (r[1] - r[0])) * hgt;
  ctx.clearRect(0, 0, width, height);
  ctx.strokeStyle = '#ddd';
  ctx.fillStyle = '#555';
  for (let i = 0; i <= 4; i++) {
    const y = pad.t + (hgt * i) / 4;
    ctx.beginPath(); ctx.moveTo(pad.l, y); ctx.lineTo(pad.l + w, y); ctx.stroke();
    ctx.textAlign = 'right';
    ctx.fillText(label(yl[1] - ((yl[1] - yl[0]) * i) / 4), pad.l - 4, y + 4);
    if (right.length) {
      ctx.textAlign = 'left';
      ctx.fillText(label(yr[1] - ((yr[1] - yr[0]) * i) / 4), pad.l + w + 4, y + 4);
    }
  }
  ctx.textAlign = 'center';
  // Whole steps when x is whole (epochs), about six ticks.
  const whole = series.every((s) => s.points.every((p) => Number.isInteger(p[0])));
  const step = whole ? Math.max(1, Math.ceil((xs[1] - xs[0]) / 6)) : (xs[1] - xs[0]) / 5;
  for (let x = xs[0]; x <= xs[1] + step / 1e6; x += step) ctx.fillText(label(x), X(x), pad.t + hgt + 14);
  if (opts.xlabel) ctx.fillText(opts.xlabel, pad.l + w / 2, height - 4);
  series.forEach((s, i) => {
    ctx.strokeStyle = s.color || COLORS[i % COLORS.length];
    ctx.lineWidth = 2;
    ctx.setLineDash(s.dashed ? [5, 4] : []);
    ctx.beginPath();
    s.points.forEach((p, j) => {
      const y = Y(p[1], s.right ? yr : yl);
      if (j) ctx.lineTo(X(p[0]), y); else ctx.moveTo(X(p[0]), y);
    });
    ctx.stroke();
    if (s.points.length === 1) {
      ctx.beginPath();
      ctx.arc(X(s.points[0][0]), Y(s.points[0][1], s.right ? yr : yl), 3, 0, 2 * Math.PI);
      ctx.stroke();
    }
  });
  ctx.setLineDash([]);
  ctx.lineWidth = 1;
  // The legend along the bottom.
  let lx = pad.l;
  ctx.textAlign = 'left';
  for (const [i, s] of series.entries()) {
    ctx.fillStyle = s.color || COLORS[i % COLORS.length];
    ctx.fillRect(lx, height - 14, 10, 10);
    ctx.fillStyle = '#333';
    const text = s.name + (s.right ? ' (right axis)' : '');
    ctx.fillText(text, lx + 14, height - 5);
    lx += ctx.measureText(text).width + 30;
  }
}

// bars: [{label, value}] as horizontal bars with their values.
export function bars(canvas, items) {
  const row = 20;
  const { ctx, width } = setup(canvas, items.length * row + 8);
  const max = Math.max(1, ...items.map((b) => b.value));
  const labelW = Math.min(160, 12 + Math.max(...items.map((b) => ctx.measureText(b.label).width)));
  const w = width - labelW - 60;
  items.forEach((b, i) => {
    const y = 4 + i * row;
    ctx.fillStyle = '#333';
    ctx.textAlign = 'right';
    ctx.fillText(b.label, labelW - 6, y + 13);
    ctx.fillStyle = COLORS[0];
    ctx.fillRect(labelW, y + 2, (w * b.value) / max, row - 6);
    ctx.fillStyle = '#333';
    ctx.textAlign = 'left';
    ctx.fillText(String(b.value), labelW + (w * b.value) / max + 4, y + 13);
  });
}

// A confusion matrix (matrix[true][predicted]) with row-normalised shades
// and the counts written in.
export function heatmap(canvas, labels, matrix) {
  const n = labels.length, cell = Math.max(18, Math.min(48, Math.floor(480 / Math.max(1, n))));
  const pad = 90;
  const { ctx } = setup(canvas, pad + n * cell + 8, pad + n * cell + 8);
  ctx.textAlign = 'center';
  for (let t = 0; t < n; t++) {
    const total = matrix[t].reduce((a, b) => a + b, 0) || 1;
    for (let p = 0; p < n; p++) {
      const share = matrix[t][p] / total;
      ctx.fillStyle = `rgba(31, 111, 235, ${0.06 + 0.94 * share})`;
      ctx.fillRect(pad + p * cell, pad + t * cell, cell - 1, cell - 1);
      ctx.fillStyle = share > 0.5 ? '#fff' : '#222';
      if (cell >= 24) ctx.fillText(String(matrix[t][p]), pad + p * cell + cell / 2, pad + t * cell + cell / 2 + 4);
    }
  }
  ctx.fillStyle = '#333';
  ctx.textAlign = 'right';
  labels.forEach((l, i) => ctx.fillText(String(l).slice(0, 12), pad - 4, pad + i * cell + cell / 2 + 4));
  ctx.save();
  labels.forEach((l, i) => {
    ctx.save();
    ctx.translate(pad + i * cell + cell / 2 + 4, pad - 4);
    ctx.rotate(-Math.PI / 3);
    ctx.textAlign = 'left';
    ctx.fillText(String(l).slice(0, 12), 0, 0);
    ctx.restore();
  });
  ctx.restore();
  ctx.textAlign = 'left';
  ctx.fillText('true ↓  predicted →', 4, 14);
}
