// The perceptron lab's plot: the square [-1, 1]² (y up) with the two classes' points, the line
// wᵀx + b = 0 with w as an arrow, the last update, and the handles of a hand-placed initial line.
import { $ } from "./ui.js";
import { CLASS_COLORS, classMarker } from "./palette.js";

const POS = CLASS_COLORS[1]; // +1: blue
const NEG = CLASS_COLORS[0]; // −1: orange

// The part of the square where wᵀx + b ≥ 0 (Sutherland–Hodgman with one half-plane).
function positiveRegion(w, b) {
  const square = [[-1, -1], [1, -1], [1, 1], [-1, 1]];
  const f = ([x, y]) => w[0] * x + w[1] * y + b;
  const out = [];
  for (let i = 0; i < 4; i++) {
    const p = square[i];
    const q = square[(i + 1) % 4];
    const fp = f(p);
    const fq = f(q);
    if (fp >= 0) out.push(p);
    if ((fp >= 0) !== (fq >= 0)) {
      const t = fp / (fp - fq);
      out.push([p[0] + t * (q[0] - p[0]), p[1] + t * (q[1] - p[1])]);
    }
  }
  return out;
}

// The line through the current weights, or the dragged line while the user drags it.
function currentLine(config, frame, drag) {
  if (drag || (config.perceptron.init === "line" && (!frame || !frame.visits))) {
    const [p, q] = config.perceptron.line;
    const dx = q.x - p.x;
    const dy = q.y - p.y;
    const n = Math.hypot(dx, dy) || 1;
    const w = [-dy / n, dx / n];
    return { w, b: -(w[0] * p.x + w[1] * p.y) };
  }
  if (!frame || !frame.w) return null;
  return { w: frame.w, b: frame.b };
}

function clipLine(w, b) {
  // endpoints of wᵀx + b = 0 inside the square (same rule as ml_core.perceptron.line_segment)
  const hits = [];
  if (Math.abs(w[1]) > 1e-9) for (const x of [-1, 1]) hits.push([x, -(w[0] * x + b) / w[1]]);
  if (Math.abs(w[0]) > 1e-9) for (const y of [-1, 1]) hits.push([-(w[1] * y + b) / w[0], y]);
  const inside = hits.filter(([x, y]) => Math.abs(x) <= 1 + 1e-9 && Math.abs(y) <= 1 + 1e-9);
  if (inside.length < 2) return null;
  let best = null;
  let far = -1;
  for (const p of inside) for (const q of inside) {
    const d = Math.hypot(p[0] - q[0], p[1] - q[1]);
    if (d > far) { far = d; best = [p, q]; }
  }
  return far > 1e-9 ? best : null;
}

// plot.draw({ config, points, frame, drag }) paints the page's current state; plot.fromEvent(e)
// turns a pointer event into plot coordinates, clamped to the square.
export function createPlot(canvas) {
  const ctx = canvas.getContext("2d");

  function resizeCanvas() {
    const size = canvas.clientWidth || 460;
    const dpr = window.devicePixelRatio || 1;
    if (canvas.width !== Math.round(size * dpr)) {
      canvas.width = Math.round(size * dpr);
      canvas.height = Math.round(size * dpr);
    }
  }
  const S = () => canvas.width;
  const toPx = (x, y) => [((x + 1) / 2) * S(), ((1 - y) / 2) * S()];
  function fromEvent(event) {
    const r = canvas.getBoundingClientRect();
    const x = ((event.clientX - r.left) / r.width) * 2 - 1;
    const y = 1 - ((event.clientY - r.top) / r.height) * 2;
    return [Math.max(-1, Math.min(1, x)), Math.max(-1, Math.min(1, y))];
  }

  function polygon(pts) {
    ctx.beginPath();
    pts.forEach((p, i) => { const [x, y] = toPx(...p); if (i) ctx.lineTo(x, y); else ctx.moveTo(x, y); });
    ctx.closePath();
  }

  function segment(line, style, width, dash = []) {
    if (!line) return;
    const [a, b] = [toPx(...line[0]), toPx(...line[1])];
    ctx.save();
    ctx.strokeStyle = style;
    ctx.lineWidth = width;
    ctx.setLineDash(dash);
    ctx.beginPath();
    ctx.moveTo(...a);
    ctx.lineTo(...b);
    ctx.stroke();
    ctx.restore();
  }

  function arrow(from, to, color, label) {
    const [x0, y0] = toPx(...from);
    const [x1, y1] = toPx(...to);
    const angle = Math.atan2(y1 - y0, x1 - x0);
    const head = 0.025 * S();
    ctx.save();
    ctx.strokeStyle = ctx.fillStyle = color;
    ctx.lineWidth = 0.006 * S();
    ctx.beginPath();
    ctx.moveTo(x0, y0);
    ctx.lineTo(x1, y1);
    ctx.stroke();
    ctx.beginPath();
    ctx.moveTo(x1, y1);
    ctx.lineTo(x1 - head * Math.cos(angle - 0.45), y1 - head * Math.sin(angle - 0.45));
    ctx.lineTo(x1 - head * Math.cos(angle + 0.45), y1 - head * Math.sin(angle + 0.45));
    ctx.fill();
    ctx.font = `${Math.round(0.035 * S())}px system-ui, sans-serif`;
    ctx.fillText(label, x1 + 0.012 * S(), y1 - 0.012 * S());
    ctx.restore();
  }

  function ring(x, y, radius, color, width, dash = []) {
    const [px, py] = toPx(x, y);
    ctx.save();
    ctx.strokeStyle = color;
    ctx.lineWidth = width;
    ctx.setLineDash(dash);
    ctx.beginPath();
    ctx.arc(px, py, radius, 0, 2 * Math.PI);
    ctx.stroke();
    ctx.restore();
  }

  function draw({ config, points, frame, drag }) {
    resizeCanvas();
    const s = S();
    ctx.clearRect(0, 0, s, s);
    const model = currentLine(config, frame, drag);
    // Background: the −1 side orange, the +1 side blue (pale), as the classes.
    ctx.fillStyle = "rgba(245, 147, 34, 0.13)";
    ctx.fillRect(0, 0, s, s);
    if (model) {
      const region = Math.hypot(...model.w) < 1e-9 ? (model.b >= 0 ? positiveRegion([0, 0], 1) : [])
        : positiveRegion(model.w, model.b);
      if (region.length >= 3) {
        ctx.fillStyle = "#ffffff";
        polygon(region);
        ctx.fill();
        ctx.fillStyle = "rgba(8, 119, 189, 0.14)";
        polygon(region);
        ctx.fill();
      }
    }
    // Axes.
    ctx.strokeStyle = "rgba(16, 24, 40, 0.12)";
    ctx.lineWidth = 1;
    ctx.beginPath();
    ctx.moveTo(...toPx(-1, 0)); ctx.lineTo(...toPx(1, 0));
    ctx.moveTo(...toPx(0, -1)); ctx.lineTo(...toPx(0, 1));
    ctx.stroke();

    const last = frame && frame.last && !drag ? frame.last : null;
    if (last && !last.correct) segment(last.line_before, "rgba(31, 36, 48, 0.55)", 0.006 * s, [0.018 * s, 0.014 * s]);
    if (model) {
      const line = clipLine(model.w, model.b);
      segment(line, "#1f2430", 0.009 * s);
      if (line) {
        // w is drawn from the point of the line closest to the middle of the segment
        const mid = [(line[0][0] + line[1][0]) / 2, (line[0][1] + line[1][1]) / 2];
        const n = Math.hypot(...model.w);
        arrow(mid, [mid[0] + (0.22 * model.w[0]) / n, mid[1] + (0.22 * model.w[1]) / n], "#1f2430", "w");
      }
    }

    // Points.
    const wrong = new Set(frame && frame.wrong ? frame.wrong : []);
    const r = 0.014 * s;
    points.forEach(([x, y, label], i) => {
      const [px, py] = toPx(x, y);
      ctx.beginPath();
      classMarker(ctx, label > 0 ? 1 : 0, px, py, r); // the shapes of classes 1 and 0, as the colours
      ctx.fillStyle = label > 0 ? POS : NEG;
      ctx.fill();
      ctx.lineWidth = 0.004 * s;
      ctx.strokeStyle = "#ffffff";
      ctx.stroke();
      if (wrong.has(i) && !drag) ring(x, y, r + 0.006 * s, "#c62828", 0.005 * s);
    });
    if (frame && frame.status !== "converged" && frame.status !== "gave_up" && frame.n && !drag) {
      const [x, y] = points[frame.next_index] || [];
      if (x !== undefined) ring(x, y, r + 0.02 * s, "rgba(31, 36, 48, 0.45)", 0.003 * s, [0.008 * s, 0.008 * s]);
    }
    if (last && points[last.index]) {
      const [x, y] = points[last.index];
      ring(x, y, r + 0.018 * s, "#1f2430", 0.007 * s);
    }
    // Handles of the dragged line.
    if (config.perceptron.init === "line") {
      // After the first step the handles mark the initial line (faint); dragging starts over.
      const moved = frame && frame.visits > 0 && !drag;
      ctx.save();
      ctx.globalAlpha = moved ? 0.45 : 1;
      if (moved) {
        const [p, q] = config.perceptron.line;
        const w = [-(q.y - p.y), q.x - p.x];
        segment(clipLine(w, -(w[0] * p.x + w[1] * p.y)), "#ee4c2c", 0.003 * s, [0.004 * s, 0.008 * s]);
      }
      for (const h of config.perceptron.line) {
        const [px, py] = toPx(h.x, h.y);
        ctx.beginPath();
        ctx.arc(px, py, 0.02 * s, 0, 2 * Math.PI);
        ctx.fillStyle = "#ffffff";
        ctx.fill();
        ctx.lineWidth = 0.006 * s;
        ctx.strokeStyle = "#ee4c2c";
        ctx.stroke();
      }
      ctx.restore();
    }
    $("#empty-hint").hidden = points.length > 0;
  }

  return { draw, fromEvent };
}
