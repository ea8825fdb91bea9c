// "Your own image": upload a picture, pick a bundled sample, or draw a digit. The server prepares
// it like the training data; POST /api/cnn/predict answers the class probabilities
// (docs/protocol-cnn.md §5), and the picture as the net sees it comes with its feature maps in
// the `cnn.maps` frames (source "upload") that follow on the socket — sent once, not twice.
// One picture at a time: an upload or a sample clears the drawing pad, the uploaded photo is shown
// as it was beside what the net sees, and a refused picture leaves no older result behind.
import { $, on } from "./ui.js";
import { drawImage } from "./cnn-draw.js";
import { renderMaps, renderProbs, esc, pct } from "./cnn-views.js";
import { DrawPad } from "./cnn-pad.js";

export class OwnImage {
  // onPredicted(): the picture became the image shown (its maps follow on the socket)
  constructor(sock, { mapColors = () => "viridis", onPredicted = () => {} } = {}) {
    this.sock = sock;
    this.onPredicted = onPredicted;
    this.mapColors = mapColors;
    this.busy = false;
    this.what = null;  // what the shown picture is: a file name, a sample, "your drawing"
    this.follow = true;  // false after a refused picture: the server's probe is the older one
    this.pad = new DrawPad($("#pad"), { onStroke: () => this.predictDrawing() });
    $("#upload").addEventListener("change", (e) => {
      const file = e.target.files[0];
      e.target.value = "";
      if (file) this.upload(file);
    });
    $("#sample").addEventListener("change", (e) => {
      const name = e.target.value;
      if (!name) return;
      this.pad.clear();
      this.predict((form) => form.append("sample", name), name, null);
    });
    $("#pad-clear").addEventListener("click", () => this.pad.clear());
    $("#pad-predict").addEventListener("click", () => this.predictDrawing(true));
    on($(".cnn-own"), "dragover", ".cnn-own-input", (e) => e.preventDefault());
    on($(".cnn-own"), "drop", ".cnn-own-input", (e) => {
      e.preventDefault();
      const file = e.dataTransfer?.files?.[0];
      if (file) this.upload(file);
    });
    // The uploaded picture stays the probe while the net trains on: follow every frame of it.
    sock.on("frame:cnn.maps", (f) => {
      if (f.meta.source === "upload" && this.follow) this.frame(f);
    });
  }

  setSamples(names, dataset) {
    const select = $("#sample");
    const current = select.value;
    select.innerHTML = `<option value="">choose…</option>` +
      names.map((n) => `<option value="${esc(n)}">${esc(n)}</option>`).join("");
    if (names.includes(current)) select.value = current;
    this.dataset = dataset;
    this.clearResult();
    this.follow = true;
    this.showError(null);
  }

  clearResult() {
    this.what = null;
    this.showPhoto(null);
    $("#own-result").hidden = true;
    $("#own-empty").hidden = false;
    $("#own-layers").innerHTML = "";
  }

  showPhoto(file) {
    const img = $("#own-photo");
    if (img.src) URL.revokeObjectURL(img.src);
    if (file) img.src = URL.createObjectURL(file);
    else img.removeAttribute("src");
    $("#own-photo-box").hidden = !file;
  }

  // A file (picked or dropped): the pad is cleared, so no older drawing sits beside its result.
  upload(file) {
    this.pad.clear();
    $("#sample").value = "";
    this.predict((form) => form.append("file", file), file.name, file);
  }

  async predictDrawing(force = false) {
    if (this.pad.empty) return;
    if (this.busy && !force) return;
    $("#sample").value = "";
    const blob = await this.pad.toBlob();
    this.predict((form) => form.append("file", blob, "drawing.png"), "your drawing", null);
  }

  // photo: the picture as the user gave it (a File), shown beside what the net sees; null: none
  async predict(fill, what, photo) {
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
      this.follow = true;
      this.what = what;
      this.showPhoto(photo);
      this.showPrediction(body.classes, body.probabilities);
      this.onPredicted();
    } catch (err) {
      this.clearResult();  // the result shown was another picture's: it must not pass for this one
      this.follow = false;
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

  showPrediction(classes, probabilities) {
    $("#own-result").hidden = false;
    $("#own-empty").hidden = true;
    const best = renderProbs($("#own-probs"), classes, probabilities);
    $("#own-pred").innerHTML = `<span class="muted">${esc(this.what)} →</span> <b>${esc(classes[best])}</b> ` +
      `<span class="muted">(${pct(probabilities[best], 0)} sure)</span>`;
  }

  // A cnn.maps frame of the uploaded picture: what the net sees, its maps, its probabilities now.
  frame(f) {
    this.what ||= "your image";  // a reloaded page whose session still shows an upload
    const input = f.arrays.input;
    const [h, w, c] = input.shape;
    drawImage($("#own-input"), input.data, h, w, c);
    renderMaps($("#own-layers"), f.meta.layers, (l) => f.arrays[`L${l.index}`], { colormap: this.mapColors() });
    this.showPrediction(f.meta.classes, f.arrays.probs.data);
  }
}
