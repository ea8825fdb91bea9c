// "Where the net looks": a Grad-CAM or saliency heat map over the image shown (a validation
// image, your upload or your drawing) for the predicted class or any class you pick, computed
// with Captum on the server. Wire: `explain` → cnn.explain frame (docs/protocol-cnn.md §6).
import { $ } from "./ui.js";
import { drawImage } from "./cnn-draw.js";
import { drawGrid, makeColormap } from "./heatmap.js";
import { esc, pct } from "./cnn-views.js";

// dark (nothing) → purple → orange → pale yellow (most): "inferno"-like, readable over the image
const HEAT = makeColormap([[0, "#000004"], [0.35, "#781c6d"], [0.7, "#ed6925"], [1, "#fcffa4"]]);

export class Explainer {
  // model: () => the shown model's number
  constructor(sock, { model }) {
    this.sock = sock;
    this.model = model;
    this.active = false;  // asked once: follows the image shown from then on
    $("#explain-show").addEventListener("click", () => this.request());
    for (const id of ["#explain-method", "#explain-target"]) {
      $(id).addEventListener("change", () => this.request());
    }
    sock.on("frame:cnn.explain", (f) => this.frame(f));
  }

  reset(classes) {
    $("#explain-target").innerHTML = `<option value="">the predicted class</option>` +
      classes.map((c, k) => `<option value="${k}">${esc(c)}</option>`).join("");
    $("#explain-result").hidden = true;
    this.active = false;
  }

  request() {
    const model = this.model();
    if (model === null) return;
    this.active = true;
    const target = $("#explain-target").value;
    this.sock.send({
      type: "explain", model, method: $("#explain-method").value,
      target: target === "" ? null : Number(target),
    });
  }

  // The image shown changed (another validation image, an upload, a drawing).
  follow() {
    if (this.active) this.request();
  }

  frame(f) {
    const m = f.meta;
    const input = f.arrays.input;
    const [h, w, c] = input.shape;
    drawImage($("#explain-input"), input.data, h, w, c);
    drawImage($("#explain-under"), input.data, h, w, c);
    const heat = $("#explain-heat");
    drawGrid(heat, f.arrays.heat.data, w, h, HEAT);
    heat.dataset.method = m.method;
    $("#explain-result").hidden = false;
    const what = m.source === "val" ? `validation image #${m.index}` : "your image";
    const why = m.method === "gradcam"
      ? `Grad-CAM at ${esc(m.layer)}: the regions whose features raise the score of`
      : "Saliency: the pixels that, changed a little, would change most the score of";
    const predicted = m.classes[m.predicted];
    $("#explain-caption").innerHTML = `${why} <b>${esc(m.classes[m.target])}</b> in ${what} ` +
      `(the net says ${esc(predicted)}, ${pct(m.probabilities[m.predicted], 0)}; ` +
      `${esc(m.classes[m.target])} ${pct(m.probabilities[m.target], 1)}). Bright = more.`;
  }
}
