// The worked example: the small image grid, the kernel, and one window at a time with its products.
// Stepping the window is local (no round trip); `lab.grid` holds the server's last `grid` message.
import { $, on, showError } from "./ui.js";
import { NAMES, cellGrid, el, num, showNote } from "./convolution-common.js";

// lab: { state, grid, presetKernels, commit } — shared with the page module, read at call time.
export function initWalk(lab) {
  const { state } = lab;
  let windowIndex = 0;
  let timer = null;

  function renderImageGrid() {
    const focused = document.activeElement?.closest?.("#image-grid .cell[data-r]");
    const refocus = focused ? `.cell[data-r="${focused.dataset.r}"][data-c="${focused.dataset.c}"]` : null;
    drawImageGrid();
    if (refocus) $(refocus, $("#image-grid"))?.focus();
  }

  function drawImageGrid() {
    const { grid } = lab;
    const p = state.padding;
    const image = state.grid;
    const n = image.length;
    const m = image[0].length;
    const w = grid && !grid.error ? grid.windows?.[windowIndex] : null;
    const taps = new Map();
    if (w) w.rows.forEach((r, i) => w.cols.forEach((c, j) => taps.set(`${r},${c}`, state.kernel[i]?.[j])));
    cellGrid($("#image-grid"), n + 2 * p, m + 2 * p, (r, c) => {
      const inside = r >= p && r < n + p && c >= p && c < m + p;
      const value = inside ? image[r - p][c - p] : 0;
      const cell = el("div", { class: `cell${inside ? "" : " pad"}${value ? " on" : ""}`, text: num(value) });
      if (inside) {
        cell.dataset.r = r - p;
        cell.dataset.c = c - p;
        cell.title = "click to flip";
        cell.tabIndex = 0;
        cell.setAttribute("role", "button");
        cell.setAttribute("aria-label", `pixel row ${r - p + 1}, column ${c - p + 1}: ${num(value)}`);
      }
      const key = `${r},${c}`;
      if (taps.has(key)) {
        cell.classList.add("tap");
        cell.append(el("sub", { text: `×${num(taps.get(key))}` }));
      }
      return cell;
    });
  }

  function flip(cell) {
    const r = Number(cell.dataset.r);
    const c = Number(cell.dataset.c);
    state.grid[r][c] = state.grid[r][c] === 1 ? 0 : 1;
    renderImageGrid(); // at once; the server's numbers follow
    lab.commit();
  }
  on($("#image-grid"), "click", ".cell[data-r]", (_, cell) => flip(cell));
  on($("#image-grid"), "keydown", ".cell[data-r]", (event, cell) => {
    if (event.key !== "Enter" && event.key !== " ") return;
    event.preventDefault();
    flip(cell);
  });

  function renderKernelGrid() {
    const k = state.kernel.length;
    cellGrid($("#kernel-grid"), k, k, (r, c) => el("input", {
      type: "number", step: "any", min: -100, max: 100, value: state.kernel[r][c],
      "data-r": r, "data-c": c, ariaLabel: `kernel weight row ${r + 1} column ${c + 1}`,
    }));
  }

  on($("#kernel-grid"), "change", "input", (_, input) => {
    const value = Number(input.value);
    if (input.value.trim() === "" || !Number.isFinite(value) || Math.abs(value) > 100) {
      input.setAttribute("aria-invalid", "true");
      showError("kernel weights are numbers from −100 to 100");
      return;
    }
    input.removeAttribute("aria-invalid");
    state.kernel[Number(input.dataset.r)][Number(input.dataset.c)] = value;
    lab.commit();
  });

  function renderPresetMenu() {
    const menu = $("#kernel-preset");
    menu.replaceChildren(el("option", { value: "", text: "a preset…" }));
    for (const name of Object.keys(lab.presetKernels)) menu.append(el("option", { value: name, text: NAMES[name] || name }));
  }
  $("#kernel-preset").addEventListener("change", (event) => {
    const kernel = lab.presetKernels[event.target.value];
    event.target.value = "";
    if (!kernel) return;
    state.kernel = structuredClone(kernel);
    renderKernelGrid();
    lab.commit();
  });

  function renderWalk() {
    const { grid } = lab;
    renderImageGrid();
    const error = grid?.error;
    showNote("#walk-error", error);
    const out = $("#output-grid");
    const windows = grid?.windows || [];
    if (error || !grid) {
      out.replaceChildren();
      $("#products").replaceChildren();
      $("#window-label").textContent = "";
      return;
    }
    const rows = grid.output.length;
    const cols = grid.output[0].length;
    cellGrid(out, rows, cols, (r, c) => {
      const index = r * cols + c;
      const when = index === windowIndex ? " current" : index > windowIndex ? " later" : "";
      const cell = el("div", { class: `cell value${when}`, text: num(grid.output[r][c]) });
      cell.dataset.index = index;
      cell.title = "show this window";
      return cell;
    });
    const w = windows[windowIndex];
    $("#window-label").textContent = `window ${windowIndex + 1} of ${windows.length} · output row ${Math.floor(windowIndex / cols) + 1}, column ${windowIndex % cols + 1}`;
    const k = w.products.length;
    const products = el("div", { class: "conv-products-grid" });
    products.style.setProperty("--cols", k);
    for (let i = 0; i < k; i++) {
      for (let j = 0; j < k; j++) {
        products.append(el("div", { class: `product${w.products[i][j] ? " nonzero" : ""}` }, [
          el("span", { class: "factors", text: `${num(w.values[i][j])}×${num(state.kernel[i]?.[j])}` }),
          el("span", { class: "result", text: num(w.products[i][j]) }),
        ]));
      }
    }
    const terms = w.products.flat().map(num).join(" + ").replace(/\+ -/g, "− ");
    $("#products").replaceChildren(
      el("div", { class: "conv-products-head", text: "pixel × weight, for each tap" }),
      products,
      el("div", { class: "conv-sum num", id: "window-sum" }, [
        el("span", { class: "muted", text: `${terms} = ` }),
        el("b", { text: num(w.total) }),
      ]),
    );
  }

  on($("#output-grid"), "click", ".cell[data-index]", (_, cell) => {
    windowIndex = Number(cell.dataset.index);
    renderWalk();
  });

  function stepWindow(delta) {
    const count = lab.grid?.windows?.length || 0;
    if (!count) return;
    windowIndex = (windowIndex + delta + count) % count;
    renderWalk();
  }
  $("#btn-first").addEventListener("click", () => { windowIndex = 0; renderWalk(); });
  $("#btn-prev").addEventListener("click", () => stepWindow(-1));
  $("#btn-next").addEventListener("click", () => stepWindow(1));
  $("#btn-animate").addEventListener("click", (event) => {
    const button = event.currentTarget;
    if (timer) {
      clearInterval(timer);
      timer = null;
    } else {
      timer = setInterval(() => stepWindow(1), 700);
    }
    button.setAttribute("aria-pressed", String(Boolean(timer)));
  });
  document.addEventListener("keydown", (event) => {
    if (event.target.closest?.("input, select, textarea, [role='button']")) return;
    if (event.key === "ArrowRight") stepWindow(1);
    if (event.key === "ArrowLeft") stepWindow(-1);
  });

  return {
    renderImageGrid,
    renderKernelGrid,
    renderPresetMenu,
    renderWalk,
    // a new `grid` message: keep the window if it still exists
    fitWindow(windows) { if (windowIndex >= windows.length) windowIndex = 0; },
    firstWindow() { windowIndex = 0; },
  };
}
