// "What each channel responds to": for every channel of a conv block, the 9 validation images
// that excite it most, each cropped to the receptive field of its strongest pixel (refreshed after
// every validation pass), and, on request, the input that excites it most, found by gradient
// ascent from noise (activation maximisation) and shown as it forms.
// Wire: `channels` → cnn.channels frames; `dream` / `dream_step` → cnn.dream frames (§6).
import { $, on } from "./ui.js";
import { drawImage, drawTiles, fitTiles } from "./cnn-draw.js";
import { esc } from "./cnn-views.js";
import { num } from "./cnn-numbers.js";

export class Channels {
  // model: () => the shown model's number; live: () => the last `configured`
  constructor(sock, { model, live }) {
    this.sock = sock;
    this.model = model;
    this.live = live;
    this.following = null;  // the conv row index whose block is shown
    this.job = 0;
    $("#channels-show").addEventListener("click", () => this.follow(Number($("#channels-layer").value)));
    sock.on("frame:cnn.channels", (f) => this.frame(f));
    sock.on("frame:cnn.dream", (f) => this.dream(f));
    on($("#channels"), "click", "button[data-dream]", (e, b) => this.visualise(Number(b.dataset.layer), Number(b.dataset.dream)));
  }

  // A new model (configured): offer its conv layers, forget what was shown.
  reset(layers) {
    const convs = layers.filter((l) => l.kind === "conv");
    $("#channels-layer").innerHTML = convs.map((l, i) =>
      `<option value="${l.index}"${i === Math.min(1, convs.length - 1) ? " selected" : ""}>` +
      `${esc(l.name)}: ${l.shape[0]} channels, each sees ${l.rf[0]}×${l.rf[0]} pixels</option>`).join("");
    this.following = null;
    $("#channels").innerHTML = '<p class="cnn-empty muted">Choose a conv layer and press Show.</p>';
    $("#dream").hidden = true;
  }

  follow(layer) {
    const model = this.model();
    if (model === null || Number.isNaN(layer)) return;
    this.following = layer;
    this.sock.send({ type: "channels", model, layer });
  }

  // The model restarted (reset, drop...): follow the same layer on the new one.
  refollow() {
    if (this.following !== null) this.follow(this.following);
  }

  frame(f) {
    const m = f.meta;
    const crops = f.arrays.crops;  // (channels, 9, s, s, C)
    const [channels, top, s, , c] = crops.shape;
    const size = top * s * s * c;
    const root = $("#channels");
    root.dataset.layer = m.name;
    root.dataset.step = m.step;
    $("#channels-caption").textContent = `${m.name} after validation at epoch ${m.epoch.toFixed(1)}: each square is the ` +
      `${m.field}×${m.field}-pixel field one pixel of the map sees, cut from the validation image where the channel peaks.`;
    if (root.children.length !== channels || root.dataset.conv !== String(m.conv)) {
      root.dataset.conv = m.conv;
      root.innerHTML = "";
      for (let k = 0; k < channels; k++) {
        const card = document.createElement("figure");
        card.className = "cnn-channel";
        card.innerHTML = `<canvas class="pixelated"></canvas><figcaption><span>channel ${k}</span>` +
          `<button type="button" class="cnn-small" data-dream="${k}" data-layer="${m.conv}" title="Find the input this channel likes most">visualise</button></figcaption>`;
        root.append(card);
      }
    }
    for (let k = 0; k < channels; k++) {
      const card = root.children[k];
      const canvas = card.querySelector("canvas");
      const layout = drawTiles(canvas, crops.data.subarray(k * size, (k + 1) * size), { n: top, h: s, w: s, c, mode: "hwc", cols: 3 });
      fitTiles(canvas, layout, s, s, 22);
      card.title = `channel ${k}: strongest responses ${m.values[k].slice(0, 3).map((v) => num(v, 3)).join(", ")}… ` +
        `(validation images ${m.images[k].slice(0, 3).join(", ")}…)`;
    }
  }

  visualise(layer, channel) {
    const model = this.model();
    if (model === null) return;
    $("#dream").hidden = false;
    $("#dream-caption").textContent = "starting from noise…";
    this.sock.send({ type: "dream", model, layer, channel });
  }

  dream(f) {
    const m = f.meta;
    this.job = m.job;
    const image = f.arrays.image;
    const [h, w, c] = image.shape;
    const canvas = $("#dream-canvas");
    drawImage(canvas, image.data, h, w, c);
    canvas.dataset.step = m.step;
    $("#dream-caption").innerHTML = `<b>${esc(m.name)}</b>, channel ${m.channel}: step ${m.step} of ${m.steps}, ` +
      `mean activation <b class="num">${num(m.activation)}</b>${m.done ? ` — done in ${m.seconds.toFixed(2)} s` : "…"}`;
    $("#dream").dataset.done = String(m.done);
    if (!m.done) this.sock.send({ type: "dream_step", job: m.job });
  }
}
