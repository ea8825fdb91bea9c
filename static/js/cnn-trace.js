// "Every number traced": click a pixel of any feature map (or a class's probability bar) and see
// how the live model computed it: its receptive field on the input, each input channel's window
// × kernel and their sum, the bias, batch norm, the activation, the pooling window that consumes
// it, where it lands in the flattened vector; for the output, logits → softmax.
// Wire: `trace` request/reply (docs/protocol-cnn.md §6); the numbers come from ml_core/cnn_trace.py.
import { $, on } from "./ui.js";
import { esc } from "./cnn-views.js";
import { grid, num } from "./cnn-numbers.js";

export class Tracer {
  // sock: the LabSocket; maps: () => the last cnn.maps frame; live: () => the last `configured`
  constructor(sock, { maps, live }) {
    this.sock = sock;
    this.maps = maps;
    this.live = live;
    this.root = $("#trace");
    sock.on("trace", (m) => this.show(m));
    on($("#maps-probs"), "click", ".cnn-prob", (e, bar) => this.unit(this.outputIndex(), Number(bar.dataset.k)));
  }

  outputIndex() {
    return (this.live()?.layers.length || 1) - 1;
  }

  // A click on a feature-map canvas of layer `index`, channel `k`: the pixel under the pointer.
  pixel(index, k, event) {
    const frame = this.maps();
    const layer = frame?.meta.layers.find((l) => l.index === index);
    if (!layer) return;
    const canvas = event.target;
    const [, h, w] = layer.shape;  // the map's real size (the picture may be pooled down)
    const y = Math.min(h - 1, Math.floor((event.offsetY / canvas.clientHeight) * h));
    const x = Math.min(w - 1, Math.floor((event.offsetX / canvas.clientWidth) * w));
    this.sock.send({ type: "trace", model: frame.meta.model, layer: index, channel: k, y, x });
  }

  unit(index, unit) {
    const frame = this.maps();
    if (!frame) return;
    this.sock.send({ type: "trace", model: frame.meta.model, layer: index, channel: unit });
  }

  show(m) {
    this.root.hidden = false;
    const where = m.source === "val" ? `validation image #${m.index}` : "your image";
    const body = m.pixel ? this.pixelHtml(m.pixel) : this.unitHtml(m.unit);
    this.root.innerHTML = `<p class="cnn-trace-where muted">step ${m.step}, ${where}</p>${body}`;
    if (m.pixel) this.drawField(m.pixel);
  }

  pixelHtml(t) {
    const steps = [this.convHtml(t.conv)];
    if (t.norm) {
      const n = t.norm;
      steps.push(`<li><h4>${esc(n.layer)}: batch norm (eval mode: the running statistics)</h4>
        <p class="cnn-formula">(x − μ) / √(σ² + ε) · γ + β = (${num(n.x)} − ${num(n.mean)}) / √(${num(n.var)} + ${num(n.eps)}) · ${num(n.gamma)} + ${num(n.beta)}
        = ${num(n.normalised)} · ${num(n.gamma)} + ${num(n.beta)} = <b>${num(n.value)}</b></p></li>`);
    }
    if (t.act) {
      steps.push(`<li><h4>${esc(t.act.layer)}: activation</h4>
        <p class="cnn-formula">${esc(t.act.function)}(${num(t.act.x)}) = <b>${num(t.act.value)}</b></p></li>`);
    }
    if (t.pool) {
      const p = t.pool;
      const mark = [t.focus[0] - p.rows[0], t.focus[1] - p.cols[0]];
      const consumed = p.y === t.y && p.x === t.x && /^pool|^drop/.test(t.name)
        ? "the window that made it" : "the window that consumes it";
      steps.push(`<li><h4>${esc(p.layer)}: ${p.kind} pooling — ${consumed}</h4>
        <div class="cnn-inline-grid">${grid(p.window, { mark: p.kind === "max" ? mark : null })}
        <p class="cnn-formula">${p.kind} = <b>${num(p.value)}</b> → ${esc(p.layer)} row ${p.y}, column ${p.x}` +
        `${p.others ? ` (and ${p.others} more overlapping window${p.others > 1 ? "s" : ""})` : ""}</p></div></li>`);
    }
    if (t.flat_index !== null) {
      const [, h, w] = this.maps()?.meta.layers.find((l) => l.index === t.layer)?.shape || [0, 0, 0];
      steps.push(`<li><h4>flatten</h4><p class="cnn-formula">channel × H·W + row × W + column = ${t.channel} × ${h * w} + ${t.y} × ${w} + ${t.x}
        = element <b>${t.flat_index}</b> of the ${t.flat_size} numbers the first fully-connected layer reads</p></li>`);
    }
    const field = t.field
      ? `rows ${t.field[0]}–${t.field[2]}, columns ${t.field[1]}–${t.field[3]} of the input`
      : "only padding";
    return `<h3 class="cnn-trace-title"><b>${esc(t.name)}</b> channel ${t.channel}, row ${t.y}, column ${t.x} = <b class="num">${num(t.value)}</b></h3>
      <div class="cnn-trace-body">
        <figure class="cnn-field"><div class="cnn-field-box"><canvas class="pixelated"></canvas><i></i></div>
          <figcaption>It sees ${field}: its receptive field.</figcaption></figure>
        <ol class="cnn-steps">${steps.join("")}</ol>
      </div>`;
  }

  convHtml(c) {
    const shown = c.terms.filter((t) => t.window);
    const cards = shown.map((t) => `<div class="cnn-term">
        <span class="muted">input channel ${t.channel}</span>
        <div class="cnn-term-grids">${grid(t.window)}<span>×</span>${grid(t.kernel, { cls: "k" })}<span>=</span>${grid(t.products)}</div>
        <span>sum = <b class="num">${num(t.total)}</b></span></div>`).join("");
    const rest = c.terms.length - shown.length;
    const restSum = c.terms.slice(shown.length).reduce((a, t) => a + t.total, 0);
    const sums = c.terms.slice(0, 8).map((t) => num(t.total)).join(" + ") + (c.terms.length > 8 ? " + …" : "");
    return `<li><h4>${esc(c.layer)}: for each of the ${c.in_channels} input channels, its ${c.kernel_size}×${c.kernel_size}
        window (rows ${c.rows[0]}–${c.rows[1]}, columns ${c.cols[0]}–${c.cols[1]}, stride ${c.stride}, padding ${c.padding}) × the kernel, summed</h4>
      <div class="cnn-terms">${cards}</div>
      ${rest ? `<p class="muted">… ${rest} more input channels (the smallest sums), together ${num(restSum)}</p>` : ""}
      <p class="cnn-formula">${sums} + bias ${num(c.bias)} = <b>${num(c.value)}</b> (the pre-activation)</p></li>`;
  }

  unitHtml(u) {
    const rows = u.terms.map((t) => `<tr><td>${t.index}</td><td>${num(t.input)}</td><td>${num(t.weight)}</td><td>${num(t.product)}</td></tr>`).join("");
    let html = `<h3 class="cnn-trace-title"><b>${esc(u.name)}</b> unit ${u.unit} = Σ input × weight + bias = <b class="num">${num(u.value)}</b></h3>
      <table class="cnn-table small"><thead><tr><th>input #</th><th>value</th><th>weight</th><th>product</th></tr></thead><tbody>${rows}</tbody></table>
      <p class="cnn-formula">the ${u.terms.length} largest products above + the other ${u.inputs - u.terms.length} (${num(u.rest)}) + bias ${num(u.bias)} = <b>${num(u.value)}</b></p>`;
    if (u.activation) {
      html += `<p class="cnn-formula">${esc(u.activation.function)}(${num(u.activation.x)}) = <b>${num(u.activation.value)}</b></p>`;
    }
    if (u.probabilities.length) {
      const classes = this.live()?.dataset.classes || [];
      const total = u.exps.reduce((a, b) => a + b, 0);
      const soft = u.logits.map((z, k) => `<tr${k === u.unit ? ' class="on"' : ""}><td>${esc(classes[k] ?? k)}</td><td>${num(z)}</td>` +
        `<td>${num(u.exps[k])}</td><td>${num(u.probabilities[k])}</td></tr>`).join("");
      html += `<h4>softmax: probability = exp(logit − max logit) / sum of those (${num(total)})</h4>
        <table class="cnn-table small" id="softmax"><thead><tr><th>class</th><th>logit</th><th>exp(logit − max)</th><th>probability</th></tr></thead><tbody>${soft}</tbody></table>`;
    }
    return html;
  }

  // The probe image with the traced pixel's receptive field outlined.
  drawField(t) {
    const source = $("#maps-input");
    const canvas = this.root.querySelector(".cnn-field canvas");
    canvas.width = source.width;
    canvas.height = source.height;
    canvas.getContext("2d").drawImage(source, 0, 0);
    const box = this.root.querySelector(".cnn-field i");
    if (!t.field) { box.hidden = true; return; }
    const [top, left, bottom, right] = t.field;
    Object.assign(box.style, {
      top: `${(100 * top) / source.height}%`, left: `${(100 * left) / source.width}%`,
      height: `${(100 * (bottom - top + 1)) / source.height}%`, width: `${(100 * (right - left + 1)) / source.width}%`,
    });
  }
}

// The flatten step, from the layer table: which cell of the last maps becomes which element.
export function renderFlatten(root, layers) {
  const flatten = layers.find((l) => l.kind === "flatten");
  if (!flatten) return;
  const [c, h, w] = flatten.in_shape;
  const show = Math.min(c, 3);
  const cells = [];
  for (let k = 0; k < show; k++) {
    const rows = [];
    for (let y = 0; y < Math.min(h, 4); y++) {
      rows.push(Array.from({ length: Math.min(w, 4) }, (_, x) => k * h * w + y * w + x));
    }
    cells.push(`<div><span class="muted">channel ${k}</span><table class="cnn-grid index"><tbody>${rows.map((r) =>
      `<tr>${r.map((v) => `<td>${v}</td>`).join("")}</tr>`).join("")}</tbody></table></div>`);
  }
  root.innerHTML = `<p>The last maps (${c} channels of ${h}×${w}) become one vector of <b>${flatten.shape[0]}</b> numbers,
    in PyTorch's order: along each row, then row after row, then channel after channel —
    element = channel × ${h * w} + row × ${w} + column. Numbers in the cells are their positions${h > 4 || w > 4 ? " (first rows and columns)" : ""}:</p>
    <div class="cnn-flatten-cells">${cells.join("")}${c > show ? `<span class="muted">… ${c - show} more channels</span>` : ""}</div>`;
}
