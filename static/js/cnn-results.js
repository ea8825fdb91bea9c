// The CNN lab's result panels as they follow training: the validation evaluation (confusion
// matrix, per-class bars), kernels and feature maps of one image (with the enlarged map and the
// image picker), the gallery of mistakes and the hardest training images to select and drop.
// Wire contract: docs/protocol-cnn.md; drawing is cnn-views.js, the socket and config are cnn.js.
import { $, on, fmt, pct } from "./ui.js";
import { fmtInt } from "./cnn-builder.js";
import { drawImage } from "./cnn-draw.js";
import {
  renderMaps, renderKernels, renderProbs, renderConfusion, renderPerClass, renderGallery, esc,
} from "./cnn-views.js";

export class Results {
  // live: () => the last `configured` message (classes, dataset sizes, live config);
  // onPixel(layer, channel, event): a feature-map pixel clicked; onSelect(): another image shown
  constructor(sock, { live, onPixel = () => {}, onSelect = () => {} }) {
    this.sock = sock;
    this.live = live;
    this.onSelect = onSelect;
    this.lastMaps = null;          // the last cnn.maps frame (its meta.model numbers the model)
    this.mapIndex = 0;             // the validation image whose maps are shown
    this.selectedHard = new Set(); // ids of hardest images chosen for dropping
    this.pair = null;              // [true, pred] of a confusion cell filtering the mistakes
    this.gallery = null;           // the last cnn.gallery frame
    this.zoom = null;              // {layer, k}: the enlarged feature map
    this.flippedIds = null;
    this.dropBefore = null;        // the last drop's reply: validation before it, to compare
    // Per data setup (the config without its remedies): the shrunk classes' accuracy under each
    // remedy tried, so the page shows them side by side. Kept across configures on purpose.
    this.remedies = new Map();

    // Messages before the page's first `configured` (left from a previous connection of the
    // session) belong to no run the page shows: they are skipped.
    sock.on("evaluation", (ev) => this.live() && this.evaluation(ev));

    const kernelRoot = $("#kernels");
    sock.on("frame:cnn.kernels", (f) => renderKernels(kernelRoot, f));
    sock.on("frame:cnn.maps", (f) => this.maps(f));
    on($("#layers"), "click", ".cnn-maps canvas", (e, canvas) => {
      const col = canvas.closest("[data-layer]");
      this.zoom = { layer: col.dataset.layer, k: [...canvas.parentNode.children].indexOf(canvas) };
      this.drawZoom();
      onPixel(Number(col.dataset.layer), this.zoom.k, e);
    });
    $("#img-prev").addEventListener("click", () => this.selectImage(this.mapIndex - 1));
    $("#img-next").addEventListener("click", () => this.selectImage(this.mapIndex + 1));
    $("#img-random").addEventListener("click", () => this.selectImage(Math.floor(Math.random() * (this.live()?.dataset.val || 1))));
    $("#map-colors").addEventListener("change", () => this.selectImage(this.mapIndex));

    sock.on("frame:cnn.gallery", (f) => {
      if (!this.live()) return;
      this.gallery = f;
      this.renderMistakes();
    });
    on($("#confusion"), "click", "td", (e, td) => {
      const t = Number(td.dataset.t);
      const p = Number(td.dataset.p);
      if (t === p || td.textContent === "0" || (this.pair && this.pair[0] === t && this.pair[1] === p)) this.pair = null;
      else this.pair = [t, p];
      this.renderMistakes();
      if (this.pair) $(".cnn-mistakes").scrollIntoView({ behavior: "smooth", block: "nearest" });
    });
    on($(".cnn-mistakes"), "click", "#gallery-all", () => {
      this.pair = null;
      this.renderMistakes();
    });
    on($("#gallery"), "click", "figure", (e, fig) => {
      this.selectImage(Number(fig.dataset.index));
      $(".cnn-inside").scrollIntoView({ behavior: "smooth", block: "start" });
    });

    sock.on("frame:cnn.hardest", (f) => this.live() && this.hardest(f));
    $("#btn-select-flipped").addEventListener("click", () => {
      for (const id of this.flippedIds || []) this.selectedHard.add(id);
      for (const fig of document.querySelectorAll("#hardest figure")) {
        fig.classList.toggle("selected", this.selectedHard.has(Number(fig.dataset.id)));
      }
      this.updateDrop();
    });
    on($("#hardest"), "click", "figure", (e, fig) => {
      const id = Number(fig.dataset.id);
      if (this.selectedHard.has(id)) this.selectedHard.delete(id);
      else this.selectedHard.add(id);
      fig.classList.toggle("selected", this.selectedHard.has(id));
      this.updateDrop();
    });
    $("#btn-drop").addEventListener("click", () => {
      sock.send({ type: "drop", ids: [...this.selectedHard].slice(0, 1000) });
      this.selectedHard.clear();
      this.updateDrop();
    });
    $("#btn-restore").addEventListener("click", () => sock.send({ type: "restore" }));
    $("#btn-drop-suspects").addEventListener("click", () => {
      const count = Number($("#suspects-count").value);
      if (count >= 1) sock.send({ type: "drop_suspects", count });
    });
    sock.on("dropped", (m) => this.dropped(m));
  }

  // A new configuration: forget the selections and empty every panel.
  reset() {
    this.mapIndex = 0;
    this.lastMaps = null;
    $("#trace").hidden = true;
    this.selectedHard.clear();
    this.pair = null;
    this.gallery = null;
    $("#layers").innerHTML = "";
    $("#kernels").innerHTML = "";
    $("#confusion").innerHTML = "";
    $("#per-class").innerHTML = '<p class="cnn-empty muted">Press play: after each validation pass the matrix ' +
      "shows which classes the net confuses, and the bars how often each class is right.</p>";
    $("#eval-caption").textContent = "";
    $("#eval-note").hidden = true;
    $("#gallery").innerHTML = '<p class="cnn-empty muted">Train to see the mistakes.</p>';
    $("#hardest").innerHTML = '<p class="cnn-empty muted">Train to see which images are hardest.</p>';
    $("#hardest-caption").textContent = "";
    $("#gallery-caption").textContent = "";
    $("#test-result").textContent = "";
    $("#gap-note").hidden = true;
    $("#suspects").hidden = true;
    $("#suspects-result").textContent = "";
    this.dropBefore = null;
    this.updateDrop();
  }

  evaluation(ev) {
    renderConfusion($("#confusion"), ev);
    renderPerClass($("#per-class"), ev);
    $("#eval-caption").textContent = `${pct(ev.accuracy, 1)} of ${fmtInt(ev.counts.reduce((a, b) => a + b, 0))} validation images · epoch ${ev.epoch.toFixed(1)}`;
    const worst = ev.per_class_accuracy.reduce((w, a, k) => (a !== null && (w < 0 || a < ev.per_class_accuracy[w]) ? k : w), -1);
    const note = $("#eval-note");
    if (worst >= 0 && ev.accuracy >= 0.6 && ev.accuracy - ev.per_class_accuracy[worst] > 0.2) {
      const shrunk = this.live().config.imbalance.classes.includes(worst);
      note.hidden = false;
      note.innerHTML = `Overall accuracy is <b>${pct(ev.accuracy)}</b>, but class <b>${esc(ev.classes[worst])}</b> ` +
        `is right only <b>${pct(ev.per_class_accuracy[worst])}</b> of the time.` +
        (shrunk ? " It was shrunk by the class-imbalance control: try the weighted loss or oversampling." : "");
    } else note.hidden = true;
    this.remedyNote(ev);
    this.dropNote(ev);
  }

  // Class imbalance: the shrunk classes' validation accuracy with each remedy tried on this data.
  remedyNote(ev) {
    const config = this.live().config;
    const shrunk = config.imbalance.classes;
    const note = $("#remedy-note");
    if (!shrunk.length) {
      note.hidden = true;
      return;
    }
    const { weighted_loss: weighted, oversample, ...setup } = config;
    const key = JSON.stringify(setup);
    if (!this.remedies.has(key)) this.remedies.set(key, new Map());
    const tried = this.remedies.get(key);
    const remedy = weighted && oversample ? "weighted loss + oversampling"
      : weighted ? "weighted loss" : oversample ? "oversampling" : "no remedy";
    tried.set(remedy, { acc: shrunk.map((k) => ev.per_class_accuracy[k]), epoch: ev.epoch });
    const order = ["no remedy", "weighted loss", "oversampling", "weighted loss + oversampling"];
    const rows = order.filter((r) => tried.has(r)).map((r) => {
      const t = tried.get(r);
      const accs = t.acc.map((a) => (a === null ? "–" : pct(a, 0))).join(" / ");
      return `<span class="cnn-remedy${r === remedy ? " now" : ""}" data-remedy="${esc(r)}">${esc(r)}: ` +
        `<b class="num">${accs}</b> <span class="muted">at epoch ${t.epoch.toFixed(1)}</span></span>`;
    });
    const names = shrunk.map((k) => esc(ev.classes[k])).join(", ");
    note.hidden = false;
    note.innerHTML = `Shrunk class ${names}, validation accuracy: ${rows.join(" · ")}` +
      (tried.size < 2 ? `. Tick <i>weighted loss</i> or <i>oversample</i> and train again to compare.` : "");
  }

  // After dropping the highest-loss images: validation before the drop against the retrained net.
  dropNote(ev) {
    const m = this.dropBefore;
    if (!m || m.val_before === null) return;
    $("#suspects-result").innerHTML = this.dropSummary(m) + ` Validation accuracy: <b class="num">${pct(m.val_before, 1)}</b> ` +
      `at epoch ${m.val_epoch.toFixed(1)} before the drop, <b class="num">${pct(ev.accuracy, 1)}</b> now ` +
      `<span class="muted">(epoch ${ev.epoch.toFixed(1)} of the retrained net)</span>.`;
  }

  dropSummary(m) {
    const flipped = this.live()?.dataset.flipped ? ` — ${fmtInt(m.flipped)} of them (${pct(m.flipped / Math.max(m.dropped, 1), 0)}) had flipped labels.` : ".";
    return `Dropped ${fmtInt(m.dropped)} images${flipped}`;
  }

  dropped(m) {
    this.dropBefore = m.dropped ? m : null;
    $("#suspects-result").innerHTML = m.dropped ? `${this.dropSummary(m)} Train again to compare.` : "";
  }

  maps(f) {
    this.lastMaps = f;
    const m = f.meta;
    if (m.source === "val") this.mapIndex = m.index;
    const input = f.arrays.input;
    const [h, w, c] = input.shape;
    drawImage($("#maps-input"), input.data, h, w, c);
    const classes = m.classes;
    $("#img-index").textContent = m.source === "val" ? `val #${m.index}` : "your image";
    const right = m.label === null ? "" : m.pred === m.label ? "right" : "wrong";
    $("#maps-caption").innerHTML = (m.label !== null ? `True: <b>${esc(classes[m.label])}</b> / ` : "") +
      `Pred: <b class="${right}">${esc(classes[m.pred])}</b> <span class="muted">(${pct(m.confidence)}) · epoch ${m.epoch.toFixed(1)}</span>`;
    renderProbs($("#maps-probs"), classes, f.arrays.probs.data, { truth: m.label });
    renderMaps($("#layers"), m.layers, (l) => f.arrays[`L${l.index}`], { colormap: $("#map-colors").value });
    this.drawZoom();
  }

  // One feature map, enlarged, following the stream: click a map to choose it.
  drawZoom() {
    const box = $("#maps-zoom");
    const source = this.zoom && $(`#layers [data-layer="${this.zoom.layer}"] .cnn-maps`)?.children[this.zoom.k];
    box.hidden = !source;
    $("#zoom-hint").hidden = Boolean(source);
    if (!source) return;
    const canvas = box.querySelector("canvas");
    canvas.width = source.width;
    canvas.height = source.height;
    canvas.getContext("2d").drawImage(source, 0, 0);
    box.querySelector("span").textContent = source.title;
  }

  selectImage(index) {
    const n = this.live()?.dataset.val || 1;
    this.mapIndex = ((index % n) + n) % n;
    this.sock.send({ type: "select_image", index: this.mapIndex });
    this.onSelect();
  }

  // The misclassified gallery, or only the mistakes of one confusion-matrix cell (this.pair).
  renderMistakes() {
    const f = this.gallery;
    if (!f) return;
    const m = f.meta;
    const classes = this.live().dataset.classes;
    const pair = this.pair;
    const keep = pair ? m.true.map((t, k) => k).filter((k) => m.true[k] === pair[0] && m.pred[k] === pair[1]) : null;
    $("#gallery-caption").innerHTML = pair
      ? `True ${esc(classes[pair[0]])} predicted as ${esc(classes[pair[1]])} · <button type="button" class="cnn-small" id="gallery-all">show all</button>`
      : `${fmtInt(m.total_wrong)} of ${fmtInt(m.val)} wrong at epoch ${m.epoch.toFixed(1)}` +
        (m.total_wrong > m.true.length ? ` · ${m.true.length} most confident shown` : "") +
        (m.total_wrong ? " · click a red cell of the matrix to filter" : "");
    renderGallery($("#gallery"), f.arrays.images, (k) => ({
      caption: `True: ${esc(classes[m.true[k]])}<br>Pred: <b>${esc(classes[m.pred[k]])}</b><br><span class="muted">${pct(m.confidence[k])} sure</span>`,
      title: `True: ${classes[m.true[k]]} / Pred: ${classes[m.pred[k]]} — validation image #${m.indices[k]}; click to see its feature maps`,
      data: { index: m.indices[k] },
    }), pair ? "None of these among the mistakes shown (the most confident ones)." : "No mistakes on the validation images.", keep);
  }

  // The highest-loss training images; click to select them for dropping.
  hardest(f) {
    const m = f.meta;
    const classes = this.live().dataset.classes;
    const ids = new Set(m.ids);
    for (const id of [...this.selectedHard]) if (!ids.has(id)) this.selectedHard.delete(id);
    renderGallery($("#hardest"), f.arrays.images, (k) => ({
      caption: `Label: ${esc(classes[m.labels[k]])}<br>Pred: ${esc(classes[m.preds[k]])}` +
        `<br><span class="muted">loss ${fmt(m.losses[k], 2)}</span>${m.flipped[k] ? ' <span class="cnn-flag">flipped</span>' : ""}`,
      cls: `${m.flipped[k] ? "flipped" : ""} ${this.selectedHard.has(m.ids[k]) ? "selected" : ""}`,
      title: `Label: ${classes[m.labels[k]]} / Pred: ${classes[m.preds[k]]}${m.flipped[k] ? " (label flipped by noise)" : ""} — click to select it for dropping`,
      data: { id: m.ids[k] },
    }), "Nothing yet.");
    $("#hardest-caption").textContent = `each image's loss when last trained on · epoch ${m.epoch.toFixed(1)}`;
    this.flippedIds = m.ids.filter((_, k) => m.flipped[k]);
    $("#btn-select-flipped").hidden = this.flippedIds.length === 0;
    const suspects = $("#suspects");
    if (suspects.hidden) {  // first shown: suggest as many as the labels flipped (or 5%)
      const ds = this.live().dataset;
      $("#suspects-count").value = ds.flipped || Math.max(1, Math.round(ds.train * 0.05));
      $("#suspects-count").max = Math.max(1, ds.train - 1);
      suspects.hidden = false;
    }
    this.updateDrop();
  }

  updateDrop() {
    const n = this.selectedHard.size;
    $("#btn-drop").disabled = n === 0;
    $("#btn-drop").textContent = n ? `Drop ${n} selected & retrain` : "Drop selected & retrain";
  }
}
