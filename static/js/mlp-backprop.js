// The MLP playground's backpropagation features, wired to the page's store and socket: the
// forward / backward switch of the network view, the gradients the frames carry (`gradients`
// message), the gradient-size chart and its vanishing-gradient demo, the step-by-step walk of one
// picked training point (`explain` -> `explanation`) and the tensor table. Wire contract:
// docs/protocol-mlp.md. The store's `view` ({mode, over}) travels in the page's link.
import { $, toast } from "./ui.js";
import { DEFAULTS } from "./boot.js";
import { LIMITS } from "./mlp-data.js";
import { GradientChart } from "./mlp-gradients.js";
import { WalkPanel } from "./mlp-walk.js";
import { TensorPanel } from "./mlp-tensors.js";

export const MODES = ["forward", "backward"];
export const SOURCES = ["train", "batch"];

// A view from a link, or the default: forward, gradients over the whole training set.
export function cleanView(view) {
  const mode = MODES.includes(view?.mode) ? view.mode : "forward";
  const over = SOURCES.includes(view?.over) ? view.over : "train";
  return { mode, over };
}

// app: {store, sock, network, plot, change(patch), share()}.
export function initBackprop(app) {
  const { store, sock, network, plot } = app;
  const chart = new GradientChart($("#grad-chart"), $("#grad-norms"), $("#grad-source"));
  const tensors = new TensorPanel($("#tensors"), { select: (layer) => tensors.select(layer) });
  let pickedBy = null; // the explanation follows this point ([x, y, label]) across rebuilds
  const walk = new WalkPanel($("#walk"), {
    highlight: (spec) => network.highlight(spec),
    recompute: () => follow(walk.point),
    pick: () => {
      plot.pickOnce();
      toast("Click a training point (a solid dot) on the output plot.");
    },
    closed: () => {
      pickedBy = null;
      plot.setPicked(null);
      tensors.setExplanation(null);
    },
  });
  network.handlers.selectLayer = (layer) => tensors.select(layer);

  // ---- the view: forward or backward, gradients over the training set or the last batch ----
  const sendView = () => sock.send({ type: "gradients", over: store.view.over });
  sock.on("resync", sendView); // a new or resumed session: tell it what the page shows

  function setView(patch) {
    store.set({ view: { ...store.view, ...patch } });
    app.share();
  }
  $("#view-mode").addEventListener("click", (event) => {
    const button = event.target.closest("button[data-mode]");
    if (button) setView({ mode: button.dataset.mode });
  });
  $("#grad-over").addEventListener("change", (event) => {
    setView({ over: event.target.value });
    sendView();
  });

  function renderView() {
    const { mode, over } = store.view;
    for (const b of $("#view-mode").querySelectorAll("button[data-mode]")) {
      b.setAttribute("aria-checked", String(b.dataset.mode === mode));
    }
    $("#grad-over").value = over;
    network.setMode(mode);
    $("#legend-forward").hidden = mode !== "forward";
    $("#legend-backward").hidden = mode !== "backward";
  }

  // What the backward view is drawn from, in words, under the network.
  function renderSource(frame) {
    const g = frame?.meta.gradients;
    const step = frame ? frame.meta.step.toLocaleString("en-US") : "";
    $("#net-source").textContent = !g ? ""
      : g.over === "batch" ? `∂L/∂w over the last mini-batch (${g.rows} points), step ${step}`
        : `∂L/∂w over all ${g.rows} training points, step ${step}`
          + (store.view.over === "batch" ? " (no mini-batch yet)" : "");
  }

  // ---- vanishing gradients: six layers of sigmoid, or of ReLU, on the circle ----------------
  function demo(activation) {
    const layers = Math.min(6, LIMITS.layers);
    const samples = store.cfg.dataset.name === "custom" ? DEFAULTS.dataset.samples
      : store.cfg.dataset.samples;
    app.change({
      dataset: { name: "circle", classes: 2, samples },
      model: { hidden: Array(layers).fill(8), activation },
    });
    setView({ mode: "backward", over: "train" });
    sendView();
  }
  $("#demo-sigmoid").addEventListener("click", () => demo("sigmoid"));
  $("#demo-relu").addEventListener("click", () => demo("relu"));

  // ---- one example, step by step ----------------------------------------------------------
  function explain(index) {
    const point = store.data.train[index];
    pickedBy = point;
    sock.send({ type: "explain", index, point });
  }

  // The training point at `point` ([x, y, ...]) in the server's current data, explained again.
  function follow(point) {
    const index = point ? store.data.train.findIndex((p) => p[0] === point[0] && p[1] === point[1]
      && p[2] === point[2]) : -1;
    if (index >= 0) explain(index);
    else if (point) {
      walk.clear();
      toast("The point you followed is not in the training data any more: pick another.");
    }
  }

  plot.handlers.pick = (x, y, explicit) => {
    const nearest = (list) => list.reduce((best, p, i) => {
      const d = Math.hypot(p[0] - x, p[1] - y);
      return d < best.d ? { d, i } : best;
    }, { d: Infinity, i: -1 });
    const radius = plot.pickRadius();
    const train = nearest(store.data.train);
    const val = nearest(store.data.val);
    if (val.d <= radius && val.d < train.d) {
      toast("That is a validation point (hollow): the network never trains on it. "
        + "Pick a solid dot.");
    } else if (train.d <= radius) {
      explain(train.i);
    } else if (explicit) {
      toast("No training point there: click on a solid dot.");
    }
  };

  sock.on("explanation", (e) => store.set({ explanation: e }));

  // ---- following the store ---------------------------------------------------------------------
  store.addEventListener("change", (event) => {
    const changed = event.detail;
    if (changed.has("view")) {
      renderView();
      renderSource(store.frame);
    }
    if (changed.has("model")) {
      chart.clear();
      tensors.setModel(store.model, store.cfg.training.batch_size, store.data.train.length);
      if (pickedBy) follow(pickedBy); // a rebuilt network: walk the same point through it
    }
    if (changed.has("explanation")) {
      const e = store.explanation;
      if (e) {
        walk.show(e);
        walk.setNow(store.metrics?.step ?? e.step);
        plot.setPicked(e.point);
        tensors.setExplanation(e);
      }
    }
    if (changed.has("frame") && store.frame && store.play !== "diverged") {
      const frame = store.frame;
      chart.push(frame.meta.step, frame.meta.gradients ?? null, store.view.over);
      tensors.update(frame);
      walk.setNow(frame.meta.step);
      renderSource(frame);
    }
  });
  renderView();
}
