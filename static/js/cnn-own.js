// "Your own image": upload a picture, pick a bundled sample, or draw a digit; the server
// preprocesses it like the training data (POST /api/cnn/predict, docs/protocol-cnn.md §5) and the
// panel shows what the net sees, its class probabilities and every layer's feature maps.
import { $, on } from "./ui.js";
import { drawImage, fromBase64 } from "./cnn-draw.js";
import { renderMaps, renderProbs, esc, pct } from "./cnn-views.js";
import { DrawPad } from "./cnn-pad.js";

export class OwnImage {
  constructor(sock, { mapColors = () => "viridis" } = {}) {
    this.sock = sock;
    this.mapColors = mapColors;
    this.busy = false;
    this.pad = new DrawPad($("#pad"), { onStroke: () => this.predictDrawing() });
    $("#upload").addEventListener("change", (e) => {
      const file = e.target.files[0];
      e.target.value = "";
      if (file) this.predict((form) => form.append("file", file), file.name);
    });
    $("#sample").addEventListener("change", (e) => {
      const name = e.target.value;
      if (name) this.predict((form) => form.append("sample", name), name);
    });
    $("#pad-clear").addEventListener("click", () => this.pad.clear());
    $("#pad-predict").addEventListener("click", () => this.predictDrawing(true));
    on($(".cnn-own"), "dragover", ".cnn-own-input", (e) => e.preventDefault());
    on($(".cnn-own"), "drop", ".cnn-own-input", (e) => {
      e.preventDefault();
      const file = e.dataTransfer?.files?.[0];
      if (file) this.predict((form) => form.append("file", file), file.name);
    });
  }

  setSamples(names, dataset) {
    const select = $("#sample");
    const current = select.value;
    select.innerHTML = `<option value="">choose…</option>` +
      names.map((n) => `<option value="${esc(n)}">${esc(n)}</option>`).join("");
    if (names.includes(current)) select.value = current;
    this.dataset = dataset;
    $("#own-result").hidden = true;
    $("#own-empty").hidden = false;
    $("#own-layers").innerHTML = "";
    this.showError(null);
  }

  async predictDrawing(force = false) {
    if (this.pad.empty) return;
    if (this.busy && !force) return;
    const blob = await this.pad.toBlob();
    this.predict((form) => form.append("file", blob, "drawing.png"), "your drawing");
  }

  async predict(fill, what) {
    const form = new FormData();
    fill(form);
    this.busy = true;
    $(".cnn-own").classList.add("busy");
    try {
      const response = await fetch(`/api/cnn/predict?session=${this.sock.sessionId}`, { method: "POST", body: form });
      const body = await response.json().catch(() => ({}));
      if (!response.ok) {
        const detail = typeof body.detail === "string" ? body.detail : `the server answered ${response.status}`;
        throw new Error(detail);
      }
      this.showError(null);
      this.show(body, what);
    } catch (err) {
      this.showError(`${what}: ${err.message}`);
    } finally {
      this.busy = false;
      $(".cnn-own").classList.remove("busy");
    }
  }

  showError(message) {
    const el = $("#upload-error");
    el.hidden = !message;
    el.textContent = message || "";
  }

  show(reply, what) {
    $("#own-result").hidden = false;
    $("#own-empty").hidden = true;
    const [h, w, c] = reply.input.shape;
    drawImage($("#own-input"), fromBase64(reply.input.data), h, w, c);
    const best = renderProbs($("#own-probs"), reply.classes, reply.probabilities);
    $("#own-pred").innerHTML = `<span class="muted">${esc(what)} →</span> <b>${esc(reply.label)}</b> ` +
      `<span class="muted">(${pct(reply.probabilities[best], 0)} sure)</span>`;
    // maps larger than max_map_side come average-pooled: recover (h, w) from the byte count
    const arrays = new Map(reply.layers.map((l) => {
      const data = fromBase64(l.data);
      const [, lh, lw] = l.shape;
      const per = data.length / l.shown;
      const mh = per === lh * lw ? lh : Math.round(Math.sqrt((per * lh) / lw));
      return [l.index, { data, shape: [l.shown, mh, per / mh] }];
    }));
    renderMaps($("#own-layers"), reply.layers, (l) => arrays.get(l.index), { colormap: this.mapColors() });
  }
}
