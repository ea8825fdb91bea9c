// Architecture builder: conv blocks, then fully-connected layers, edited in place.
//
// The builder owns a draft `architecture` ({blocks: [...], fc: [...]}, the wire format of
// docs/protocol-cnn.md). Every edit calls onChange(architecture); the page sends `inspect` and
// hands the server's `shapes` reply back with setShapes(), which writes each layer's output
// shape and parameter count under its block, or the error under the block that caused it.
// What it offers comes from the server: the activations, the poolings and a new layer's fields
// (`configured.choices`, from the core's registries), the limits (boot.js LIMITS).
import { on } from "./ui.js";

const fmtShape = (shape) => shape.join("×");
export const fmtInt = (n) => Number(n).toLocaleString("en-US");

function select(field, options, value, label) {
  const opts = options.map((o) => `<option value="${o}"${o === value ? " selected" : ""}>${o.replace("_", " ")}</option>`).join("");
  return `<label class="cnn-f" title="${label}"><span>${label}</span><select data-field="${field}">${opts}</select></label>`;
}

function number(field, value, min, max, label, step = 1) {
  return `<label class="cnn-f" title="${label}"><span>${label}</span>` +
    `<input type="number" data-field="${field}" value="${value}" min="${min}" max="${max}" step="${step}"></label>`;
}

function tools(kind, i, n) {
  return `<span class="cnn-tools">
    <button type="button" data-act="up" data-list="${kind}" data-i="${i}" title="Move up" aria-label="Move up"${i === 0 ? " disabled" : ""}>↑</button>
    <button type="button" data-act="down" data-list="${kind}" data-i="${i}" title="Move down" aria-label="Move down"${i === n - 1 ? " disabled" : ""}>↓</button>
    <button type="button" data-act="copy" data-list="${kind}" data-i="${i}" title="Duplicate" aria-label="Duplicate"><svg viewBox="0 0 16 16" aria-hidden="true"><path d="M5 1h9v9h-2V3H5zM2 5h8v9H2z"/></svg></button>
    <button type="button" data-act="remove" data-list="${kind}" data-i="${i}" title="Remove" aria-label="Remove">×</button>
  </span>`;
}

export class Builder {
  // limits: the lab's settings (max_blocks, max_channels, ...); arch: the architecture shown first
  constructor(root, { limits, arch, onChange = () => {} }) {
    this.root = root;
    this.limits = limits;
    this.onChange = onChange;
    this.arch = structuredClone(arch);
    this.choices = null;  // configured.choices: {activations, pools, block, fc}
    this.shapes = null;
    on(root, "input", "[data-field]", (e, el) => this.edit(el));
    on(root, "change", "[data-field]", (e, el) => this.edit(el));
    on(root, "click", "button[data-act]", (e, el) => this.act(el.dataset.act, el.dataset.list, Number(el.dataset.i)));
  }

  get maxBlocks() { return this.limits.max_blocks; }
  get maxFc() { return this.limits.max_fc_layers; }

  // The server's `configured.choices` (they do not change while the page lives).
  setChoices(choices) {
    this.choices = choices;
  }

  set(arch) {
    this.arch = structuredClone(arch);
    this.render();
  }

  edit(el) {
    const item = el.closest("[data-kind]");
    const list = item.dataset.kind === "block" ? this.arch.blocks : this.arch.fc;
    const target = list[Number(item.dataset.i)];
    const field = el.dataset.field;
    if (el.type === "checkbox") target[field] = el.checked;
    else if (el.tagName === "SELECT") target[field] = el.value;
    else {
      const v = Number(el.value);
      if (el.value === "" || !Number.isFinite(v)) return;  // half-typed number: wait
      target[field] = v;
    }
    if (field === "pool") item.querySelector(".cnn-pool-opts").classList.toggle("off", target.pool === "none");
    this.onChange(this.arch);
  }

  act(act, kind, i) {
    const list = kind === "block" ? this.arch.blocks : this.arch.fc;
    if (act === "remove") {
      if (kind === "block" && list.length <= 1) return;
      list.splice(i, 1);
    } else if (act === "copy") {
      const max = kind === "block" ? this.maxBlocks : this.maxFc;
      if (list.length >= max) return;
      list.splice(i + 1, 0, structuredClone(list[i]));
    } else if (act === "up" && i > 0) {
      [list[i - 1], list[i]] = [list[i], list[i - 1]];
    } else if (act === "down" && i < list.length - 1) {
      [list[i + 1], list[i]] = [list[i], list[i + 1]];
    } else if (act === "add") {
      const max = kind === "block" ? this.maxBlocks : this.maxFc;
      if (list.length >= max) return;
      const last = list[list.length - 1];
      const { block, fc } = this.choices;
      const fresh = kind === "block"
        ? { ...structuredClone(block), channels: Math.min(this.limits.max_channels, last ? last.channels * 2 : block.channels) }
        : structuredClone(last || fc);
      list.push(fresh);
    }
    this.render();
    this.onChange(this.arch);
  }

  render() {
    if (!this.choices) return;  // nothing to offer before the server's first `configured`
    const { blocks, fc } = this.arch;
    const { activations, pools } = this.choices;
    const maxCh = this.limits.max_channels;
    const maxK = this.limits.max_kernel_size;
    const maxUnits = this.limits.max_fc_units;
    const parts = [`<li class="cnn-io" id="arch-input"><b>Input</b><span class="cnn-shape" data-shape="input"></span></li>`];
    blocks.forEach((b, i) => {
      parts.push(`<li class="cnn-block" data-kind="block" data-i="${i}">
        <div class="cnn-block-head"><b>Conv block ${i + 1}</b>${tools("block", i, blocks.length)}</div>
        <div class="cnn-fields">
          ${number("channels", b.channels, 1, maxCh, "channels")}
          ${number("kernel_size", b.kernel_size, 1, maxK, "kernel")}
          ${number("stride", b.stride, 1, 4, "stride")}
          ${number("padding", b.padding, 0, 3, "padding")}
          ${select("activation", activations, b.activation, "activation")}
          <label class="cnn-f cnn-f-check" title="batch norm"><span>batch norm</span><input type="checkbox" data-field="batch_norm"${b.batch_norm ? " checked" : ""}></label>
          ${select("pool", pools, b.pool, "pooling")}
          <span class="cnn-pool-opts${b.pool === "none" ? " off" : ""}">
            ${number("pool_size", b.pool_size, 1, 4, "pool size")}
            ${number("pool_stride", b.pool_stride, 1, 4, "pool stride")}
          </span>
          ${number("dropout", b.dropout, 0, 0.9, "dropout", 0.05)}
        </div>
        <div class="cnn-chain" data-chain="${i + 1}"></div>
        <div class="cnn-block-error" data-error="${i + 1}" hidden></div>
      </li>`);
    });
    parts.push(`<li class="cnn-add"><button type="button" data-act="add" data-list="block" data-i="0"${blocks.length >= this.maxBlocks ? " disabled" : ""}>+ conv block</button></li>`);
    parts.push(`<li class="cnn-io"><b>Flatten</b><span class="cnn-shape" data-shape="flatten"></span></li>`);
    fc.forEach((f, i) => {
      parts.push(`<li class="cnn-block cnn-fc" data-kind="fc" data-i="${i}">
        <div class="cnn-block-head"><b>Fully connected ${i + 1}</b>${tools("fc", i, fc.length)}</div>
        <div class="cnn-fields">
          ${number("units", f.units, 1, maxUnits, "units")}
          ${select("activation", activations, f.activation, "activation")}
          ${number("dropout", f.dropout, 0, 0.9, "dropout", 0.05)}
        </div>
        <div class="cnn-chain" data-chain="fc${i + 1}"></div>
        <div class="cnn-block-error" data-error="fc${i + 1}" hidden></div>
      </li>`);
    });
    parts.push(`<li class="cnn-add"><button type="button" data-act="add" data-list="fc" data-i="0"${fc.length >= this.maxFc ? " disabled" : ""}>+ fully-connected layer</button></li>`);
    parts.push(`<li class="cnn-io"><b>Output</b><span class="cnn-shape" data-shape="output"></span></li>`);
    this.root.innerHTML = parts.join("");
    if (this.shapes) this.setShapes(this.shapes);
  }

  // The server's `shapes` reply: fill in every block's chain of layers, or show where it breaks.
  setShapes(shapes) {
    this.shapes = shapes;
    const root = this.root;
    const chains = {};
    let flatten = null;
    let output = null;
    for (const layer of shapes.layers) {
      if (layer.name === "flatten") { flatten = layer; continue; }
      if (layer.name === "output") { output = layer; continue; }
      const m = /(fc)?(\d+)$/.exec(layer.name);
      if (!m) continue;
      const key = m[1] ? `fc${m[2]}` : m[2];
      (chains[key] ||= []).push(layer);
    }
    root.querySelectorAll("[data-chain]").forEach((el) => {
      const layers = chains[el.dataset.chain] || [];
      el.innerHTML = layers.map((l) => {
        const params = l.params ? ` · ${fmtInt(l.params)} p` : "";
        return `<span class="cnn-layer-chip k-${l.kind}" title="${l.detail || l.kind}">` +
          `<i>${l.name}</i> ${fmtShape(l.shape)}${params}</span>`;
      }).join('<span class="cnn-arrow">→</span>');
    });
    const inputEl = root.querySelector('[data-shape="input"]');
    if (inputEl && shapes.input_shape) inputEl.textContent = fmtShape(shapes.input_shape);
    const flatEl = root.querySelector('[data-shape="flatten"]');
    if (flatEl) flatEl.textContent = flatten ? `${fmtInt(flatten.shape[0])} features` : "";
    const outEl = root.querySelector('[data-shape="output"]');
    if (outEl) outEl.textContent = output ? `${output.shape[0]} classes · ${fmtInt(output.params)} p` : "";
    root.querySelectorAll("[data-error]").forEach((el) => { el.hidden = true; });
    root.querySelectorAll(".cnn-block.bad").forEach((el) => el.classList.remove("bad"));
    if (!shapes.ok && shapes.error) {
      const m = /^(conv|bn|act|pool|drop|fc|act_fc|drop_fc)(\d+)\b/.exec(shapes.error);
      if (m) {
        const key = m[1].includes("fc") ? `fc${m[2]}` : m[2];
        const el = root.querySelector(`[data-error="${key}"]`);
        if (el) {
          el.textContent = shapes.error;
          el.hidden = false;
          el.closest(".cnn-block").classList.add("bad");
        }
      }
    }
  }
}
