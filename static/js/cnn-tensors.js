// The layer table with named dimensions: each layer's input and output tensors with the batch
// dimension (N × C × H × W, N × features), parameters, FLOPs and activation memory of a training
// step, receptive field, dtype and device; the step's totals against the server's limits. Click a
// row: its weight tensor (shape, a slice as numbers, min / max / mean) and its output for the
// image shown. Wire: `configured` / `shapes` (layers, cost) and `tensor` (docs/protocol-cnn.md).
import { $, on } from "./ui.js";
import { esc } from "./cnn-views.js";
import { bytes, flops, grid, num, shape } from "./cnn-numbers.js";
import { fmtInt } from "./cnn-builder.js";

export class LayerTable {
  // limits: boot.js LIMITS; model: () => the shown model's number (cnn.maps meta)
  constructor(sock, { limits, model, device }) {
    this.sock = sock;
    this.limits = limits;
    this.model = model;
    this.device = device;
    this.selected = null;  // {layer, out, in_channel, channel}
    on($("#layer-table"), "click", "tbody tr[data-index]", (e, row) => this.select(Number(row.dataset.index)));
    on($("#tensor"), "change", "input[data-slice]", (e, input) => {
      this.selected[input.dataset.slice] = Math.max(0, Number(input.value) || 0);
      this.request();
    });
    sock.on("tensor", (m) => this.showTensor(m));
  }

  // A layer table (`configured` or `shapes`) with its cost; `draft`: not applied yet.
  render({ layers, cost, input_shape: input, total_params: params }, { draft = false } = {}) {
    const table = $("#layer-table");
    if (!layers) return;
    const batch = cost?.batch ?? 1;
    const rows = layers.map((l) => {
      const stepFlops = 3 * batch * l.flops;
      const memory = 4 * batch * l.shape.reduce((a, b) => a * b, 1);
      const field = l.rf ? `${l.rf[0]}×${l.rf[0]}` : "";
      const on = this.selected?.layer === l.index ? ' class="on"' : "";
      return `<tr data-index="${l.index}"${on}><td class="num">${esc(l.name)}</td><td>${esc(l.kind)}</td>` +
        `<td class="num">${shape(l.in_shape, batch)}</td><td class="num">${shape(l.shape, batch)}</td>` +
        `<td class="num">${l.params ? fmtInt(l.params) : ""}</td><td class="num">${l.flops ? flops(stepFlops) : ""}</td>` +
        `<td class="num">${bytes(memory)}</td><td class="num">${field}</td></tr>`;
    }).join("");
    const over = (v, most) => (most && v > most ? ' class="bad"' : "");
    const L = this.limits;
    const foot = cost ? `<tr><td colspan="2">whole net${draft ? " (not applied)" : ""}</td>` +
      `<td class="num">${input ? shape(input, batch) : ""}</td><td></td><td class="num">${params != null ? fmtInt(params) : ""}</td>` +
      `<td class="num"${over(cost.step_work, L.max_step_flops)} title="charged against the limit: ${flops(cost.step_work)} (thin convs count as 64 channel pairs)">` +
      `${flops(cost.step_flops)}<br><span class="muted">limit ${flops(L.max_step_flops)}</span></td>` +
      `<td class="num"${over(cost.activation_bytes, L.max_activation_mb * 1e6)}>${bytes(cost.activation_bytes)}<br>` +
      `<span class="muted">limit ${bytes(L.max_activation_mb * 1e6)}</span></td><td></td></tr>` : "";
    table.innerHTML = `<caption>batch N = ${batch}; every tensor is float32 on ${esc(this.device())}. ` +
      `A training step ≈ 3 × the forward FLOPs (the backward pass costs about twice the forward); ` +
      `its memory is what autograd keeps for the backward pass. Click a row to see its tensors.</caption>` +
      `<thead><tr><th>layer</th><th>kind</th><th>input</th><th>output</th><th>parameters</th>` +
      `<th>FLOPs / step</th><th>memory / step</th><th>receptive field</th></tr></thead>` +
      `<tbody>${rows}</tbody><tfoot>${foot}</tfoot>`;
    if (cost) {
      $("#eval-cost").textContent = `One validation pass: ${fmtInt(cost.eval_images)} images, ` +
        `${flops(cost.eval_work)} (limit ${flops(L.max_eval_flops)}).`;
    }
  }

  select(index) {
    this.selected = { layer: index, out: 0, in_channel: 0, channel: 0 };
    for (const row of document.querySelectorAll("#layer-table tbody tr")) {
      row.classList.toggle("on", Number(row.dataset.index) === index);
    }
    this.request();
  }

  request() {
    const model = this.model();
    if (model === null || !this.selected) return;
    this.sock.send({ type: "tensor", model, ...this.selected });
  }

  // A new architecture: nothing is selected.
  forget() {
    this.selected = null;
    $("#tensor").innerHTML = "";
  }

  // New weights for the same layers (reset, drop): the selection is shown afresh.
  refresh() {
    if (this.selected) this.request();
  }

  view(v, slices) {
    const inputs = slices.map(([key, label, size]) =>
      `<label class="cnn-inline">${label} <input type="number" data-slice="${key}" min="0" max="${size - 1}" value="${this.selected[key]}"></label>`).join("");
    const more = v.rows > v.grid.length || v.cols > (v.grid[0]?.length || 0)
      ? `<span class="muted">(first ${v.grid.length} × ${v.grid[0]?.length || 0} of ${v.rows} × ${v.cols})</span>` : "";
    return `<div class="cnn-tensor-view"><h4 class="num">${esc(v.name)}</h4>
      <p class="num">shape ${v.dims.map((d, i) => `${d} ${v.shape[i]}`).join(" × ")} · ${esc(v.dtype)} · ${esc(v.device)}</p>
      <p class="num muted">min ${num(v.min)} · max ${num(v.max)} · mean ${num(v.mean)} · std ${num(v.std)}</p>
      <div class="buttons">${inputs}<span class="num">slice ${esc(v.slice)}</span> ${more}</div>
      <div class="cnn-tensor-grid">${grid(v.grid)}</div></div>`;
  }

  showTensor(m) {
    if (!this.selected || m.layer !== this.selected.layer) return;
    const w = m.weight;
    const a = m.activation;
    const weightSlices = !w ? [] : w.dims[0] === "out" && w.dims.length === 4
      ? [["out", "out", w.shape[0]], ["in_channel", "in", w.shape[1]]]
      : w.dims[0] === "out" ? [["out", "from row", w.shape[0]]] : [];
    const actSlices = a.dims.length === 4 ? [["channel", "channel", a.shape[1]]] : [];
    $("#tensor").innerHTML = `<h3 class="cnn-sub">${esc(m.name)}</h3><div class="cnn-tensor-pair">` +
      (w ? this.view(w, weightSlices) : `<div class="cnn-tensor-view"><h4>no weights</h4><p class="muted">${esc(m.name)} has no parameters: it only transforms its input.</p></div>`) +
      this.view(a, actSlices) + "</div>";
  }
}
