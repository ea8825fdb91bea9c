// Pooling the small grid: one pooling window at a time, on the image or on the convolved feature.
import { $, on } from "./ui.js";
import { cellGrid, el, num, showNote } from "./convolution-common.js";

const POOL_WORD = { max: "max", avg: "avg", min: "min" };

// lab: { grid } — the page's last `grid` message, read at call time.
export function initPool(lab) {
  let poolIndex = 0;

  function renderPool() {
    const pool = lab.grid?.pool;
    if (!pool) return;
    showNote("#pool-error", pool.error);
    $("#pool-input-title").textContent = pool.source === "image" ? "Image" : "Convolved feature";
    const input = $("#pool-input");
    const output = $("#pool-output");
    if (pool.error) {
      input.replaceChildren();
      output.replaceChildren();
      $("#pool-say").textContent = "";
      $("#pool-window-label").textContent = "";
      $("#pool-out-size").textContent = "";
      return;
    }
    const w = pool.windows[poolIndex];
    const inWindow = (r, c) => w.rows.includes(r) && w.cols.includes(c);
    const chosen = w.chosen ? [w.rows[w.chosen[0]], w.cols[w.chosen[1]]] : null;
    cellGrid(input, pool.input.length, pool.input[0].length, (r, c) => {
      const value = pool.input[r][c];
      let cls = "cell";
      if (pool.source === "image" && value === 1) cls += " on";
      if (inWindow(r, c)) cls += " tap";
      if (chosen && chosen[0] === r && chosen[1] === c) cls += " chosen";
      return el("div", { class: cls, text: num(value) });
    });
    const cols = pool.output[0].length;
    cellGrid(output, pool.output.length, cols, (r, c) => {
      const index = r * cols + c;
      const cell = el("div", { class: `cell value${index === poolIndex ? " current" : ""}`, text: num(pool.output[r][c]) });
      cell.dataset.index = index;
      return cell;
    });
    $("#pool-out-size").textContent = `${pool.output.length}×${cols}`;
    $("#pool-window-label").textContent = `window ${poolIndex + 1} of ${pool.windows.length}`;
    const values = w.rows.flatMap((r) => w.cols.map((c) => num(pool.input[r][c])));
    const n = values.length;
    const say = pool.mode === "avg"
      ? `avg(${values.join(", ")}) = (${values.join(" + ")}) / ${n} = ${num(w.result)}`
      : `${POOL_WORD[pool.mode]}(${values.join(", ")}) = ${num(w.result)} — the ringed cell`;
    $("#pool-say").textContent = say;
  }

  function stepPool(delta) {
    const count = lab.grid?.pool?.windows?.length || 0;
    if (!count) return;
    poolIndex = (poolIndex + delta + count) % count;
    renderPool();
  }
  $("#pool-prev").addEventListener("click", () => stepPool(-1));
  $("#pool-next").addEventListener("click", () => stepPool(1));
  on($("#pool-output"), "click", ".cell[data-index]", (_, cell) => {
    poolIndex = Number(cell.dataset.index);
    renderPool();
  });

  return {
    renderPool,
    // a new `grid` message: keep the window if it still exists
    fitWindow(windows) { if (poolIndex >= windows.length) poolIndex = 0; },
  };
}
