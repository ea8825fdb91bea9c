// Numbers as the CNN lab's panels print them: values, shapes with named dimensions, FLOPs,
// bytes, and small grids of numbers (a kernel, a window, a slice of a tensor) as tables.
import { esc } from "./cnn-views.js";

// A value with about 4 significant digits: 0.0123, -1.235, 1234.5; null/NaN as "–".
export function num(v, digits = 4) {
  if (v === null || v === undefined || Number.isNaN(v)) return "–";
  if (v === 0) return "0";
  const a = Math.abs(v);
  if (a >= 1e5 || a < 1e-3) return v.toExponential(2);
  return Number(v.toPrecision(digits)).toString();
}

const PREFIXES = [[1e12, "T"], [1e9, "G"], [1e6, "M"], [1e3, "k"]];

function scaled(value, unit) {
  for (const [size, prefix] of PREFIXES) {
    if (value >= size) return `${Number((value / size).toPrecision(3))} ${prefix}${unit}`;
  }
  return `${value} ${unit}`;
}

export const flops = (v) => scaled(v, "FLOP");
export const bytes = (v) => scaled(v, "B");

// "64 × 16 × 16 × 16" with the dimension names as a title: N × C × H × W, or N × features.
export function shape(dims, batch = null) {
  const names = dims.length === 3 ? ["C", "H", "W"] : ["features"];
  const all = batch === null ? dims : [batch, ...dims];
  const labels = batch === null ? names : ["N", ...names];
  return `<span class="cnn-dims" title="${labels.join(" × ")}">${all.join(" × ")}</span>`;
}

// A grid of numbers as a table; `mark` = [row, col] highlighted; `cls` = extra class.
export function grid(rows, { mark = null, cls = "" } = {}) {
  const body = rows.map((row, r) => `<tr>${row.map((v, c) => {
    const on = mark && mark[0] === r && mark[1] === c ? ' class="on"' : "";
    return `<td${on}>${num(v, 3)}</td>`;
  }).join("")}</tr>`).join("");
  return `<table class="cnn-grid ${esc(cls)}"><tbody>${body}</tbody></table>`;
}
