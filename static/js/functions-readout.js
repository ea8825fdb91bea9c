// A read-out of a curve plot: point at it (mouse) or focus it and use the arrow keys (keyboard),
// and the samples under the cursor are written out, e.g. "x = 1.2000 · f(x) = 1.2000 ·
// f′(x) = 1.0000", and marked on the plot. The numbers are the server's samples (float32 arrays of
// the `functions` frame), the one nearest the cursor: what was drawn, not a re-computation.
//
//   const readout = createReadout(canvas, output, { series, redraw });
//   series() -> { xs: Float32Array, columns: [{ label, values, color }] } or null (nothing drawn);
//   xLabel: the x axis's name, or a function giving it.
//   readout.mark(plot) draws the cursor into a plot made by functions.js's axes().
import { fmt } from "./ui.js";

const KEY_STEPS = { ArrowRight: 1, ArrowLeft: -1, ArrowUp: 1, ArrowDown: -1, PageUp: 10, PageDown: -10 };

export function createReadout(canvas, output, { series, redraw, xLabel = "x" }) {
  let index = null; // the sample under the cursor, or null
  let plot = null; // the last plot drawn (its X, Y, inv maps)

  canvas.tabIndex = 0;
  canvas.setAttribute("aria-describedby", output.id);
  const hint = "Point at the curve, or focus it and press ← → (Shift: ×10, Home / End).";
  output.dataset.hint = hint;

  function nearest(x, xs) {
    let best = 0;
    for (let i = 1; i < xs.length; i++) if (Math.abs(xs[i] - x) < Math.abs(xs[best] - x)) best = i;
    return best;
  }

  function render() {
    const data = series();
    if (!data || index === null) { output.textContent = hint; return; }
    index = Math.max(0, Math.min(data.xs.length - 1, index));
    const label = typeof xLabel === "function" ? xLabel() : xLabel;
    const parts = [`${label} = ${fmt(data.xs[index], 4)}`];
    for (const column of data.columns) parts.push(`${column.label} = ${fmt(column.values[index], 4)}`);
    output.textContent = parts.join(" · ");
  }

  function moveTo(next) {
    index = next;
    render();
    redraw();
  }

  canvas.addEventListener("pointermove", (event) => {
    const data = series();
    if (!data || !plot) return;
    const rect = canvas.getBoundingClientRect();
    const [x] = plot.inv(event.clientX - rect.left, event.clientY - rect.top);
    const next = nearest(x, data.xs);
    if (next !== index) moveTo(next);
  });
  canvas.addEventListener("pointerleave", () => { if (document.activeElement !== canvas) moveTo(null); });
  canvas.addEventListener("focus", () => {
    const data = series();
    if (data && index === null) moveTo(nearest(0, data.xs)); // start at x = 0 (or the nearest)
  });
  canvas.addEventListener("blur", () => moveTo(null));
  canvas.addEventListener("keydown", (event) => {
    const data = series();
    if (!data) return;
    let next = index ?? nearest(0, data.xs);
    if (event.key in KEY_STEPS) next += KEY_STEPS[event.key] * (event.shiftKey ? 10 : 1);
    else if (event.key === "Home") next = 0;
    else if (event.key === "End") next = data.xs.length - 1;
    else return;
    event.preventDefault();
    moveTo(Math.max(0, Math.min(data.xs.length - 1, next)));
  });

  // Draw the cursor: a vertical line at the sample and a dot on each curve.
  function mark(p) {
    plot = p;
    render();
    const data = series();
    if (!data || index === null) return;
    const { ctx, X, Y, H } = p;
    const x = X(data.xs[index]);
    ctx.save();
    ctx.strokeStyle = "rgba(52, 64, 84, .55)";
    ctx.setLineDash([2, 3]);
    ctx.lineWidth = 1;
    ctx.beginPath(); ctx.moveTo(x, 0); ctx.lineTo(x, H); ctx.stroke();
    ctx.setLineDash([]);
    for (const column of data.columns) {
      const v = column.values[index];
      if (!Number.isFinite(v)) continue;
      ctx.beginPath();
      ctx.arc(x, Y(v), 4.5, 0, 2 * Math.PI);
      ctx.fillStyle = column.color;
      ctx.fill();
      ctx.lineWidth = 1.5;
      ctx.strokeStyle = "#fff";
      ctx.stroke();
    }
    ctx.restore();
  }

  return { mark, render };
}
