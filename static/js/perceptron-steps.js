// The perceptron lab's run panel: the five steps of the last update with every number, the
// status banner and counters, and the mistakes-per-epoch chart. Each render takes what it shows.
// Epochs are counted one way everywhere: "epochs done" is the number of full passes over the
// data (the server's `epoch`, what the epoch limit counts); the pass being made is "epoch
// done + 1 (under way)", which is also its number on the chart.
import { $, $$, fmt } from "./ui.js";
import { LineChart } from "./charts.js";

const n3 = (v) => fmt(v, 3);
const vec = (v) => `(${n3(v[0])}, ${n3(v[1])})`;
const signed = (v) => (v > 0 ? `+${v}` : `${v}`.replace("-", "−"));
const paren = (v) => (v < 0 ? `(${n3(v)})` : n3(v));

// frame: the newest "perceptron" message, or null.
export function renderSteps(frame) {
  const items = $$("#steps li");
  const last = frame && frame.last;
  items.forEach((li) => li.classList.remove("skipped", "done", "wrong"));
  if (!last) {
    $("#s1").textContent = frame && frame.n ? `Next: point #${frame.next_index + 1}. Press Step.` : "";
    ["#s2", "#s3", "#s4", "#s5"].forEach((id) => { $(id).textContent = ""; });
  } else {
    const [w1, w2] = last.w_before;
    const [x1, x2] = last.x;
    const t = last.target;
    const o = last.output;
    $("#s1").textContent = `point #${last.index + 1}: x = ${vec(last.x)}, target ${signed(t)}`;
    $("#s2").textContent = `wᵀx + b = ${paren(w1)}·${paren(x1)} + ${paren(w2)}·${paren(x2)} + ${paren(last.b_before)}`
      + ` = ${n3(last.activation)} → output sign(${n3(last.activation)}) = ${signed(o)}`;
    $("#s3").textContent = last.correct
      ? `output ${signed(o)} = target ${signed(t)}: correct, skip step 4.`
      : `output ${signed(o)} ≠ target ${signed(t)}: wrong, update.`;
    if (last.correct) {
      $("#s4").textContent = "No update: w and b stay as they are.";
    } else {
      const k = last.learning_rate * (t - o);
      $("#s4").textContent =
        `λ(target − output) = ${fmt(last.learning_rate, 3)}·(${signed(t)} − (${signed(o)})) = ${n3(k)}\n`
        + `w = ${vec(last.w_before)} + ${paren(k)}·${vec(last.x)} = ${vec(last.w_after)}\n`
        + `b = ${n3(last.b_before)} + ${paren(k)} = ${n3(last.b_after)}`;
    }
    const over = frame.status === "converged" || frame.status === "gave_up";
    $("#s5").textContent = over ? (frame.status === "converged" ? "None: converged." : "None: epoch limit reached.")
      : `next: point #${frame.next_index + 1} · ${frame.streak} of ${frame.n} correct in a row · `
        + `epochs done: ${frame.epoch}`;
    items[3].classList.add(last.correct ? "skipped" : "wrong");
    items.forEach((li, i) => { if (i !== 3) li.classList.add("done"); });
  }
  const w = frame && frame.w ? frame.w : [0, 0];
  $("#weights").textContent = frame && frame.w
    ? `now: w = ${vec(w)}, b = ${n3(frame.b)}` + (frame.line ? ""
      : Math.hypot(...w) < 1e-9 ? " (w = 0: no line yet, every point gets sign(b))"
        : " (the line lies outside the plot: every point here gets the same output)")
    : "";
}

// analysis: the last `configured` message's analysis; points: the data as the server has them.
export function renderStatus(frame, analysis, points) {
  const banner = $("#banner");
  const status = frame ? frame.status : "empty";
  banner.hidden = !(status === "converged" || status === "gave_up");
  banner.className = `banner ${status === "converged" ? "good" : "bad"}`;
  if (status === "converged") {
    banner.textContent = `Converged: a full pass over all ${frame.n} points without a mistake, after `
      + `${frame.mistakes} update${frame.mistakes === 1 ? "" : "s"} in ${frame.visits} visits. Every point is on its side of the line.`;
  } else if (status === "gave_up") {
    banner.textContent = analysis.separable
      ? `Stopped at the limit of ${frame.max_epochs} epochs before converging: raise the limit and play on.`
      : `Never converges: ${frame.max_epochs} epochs and still ${frame.wrong.length} point${frame.wrong.length === 1 ? "" : "s"} `
        + "on the wrong side. No straight line separates these classes, so every pass makes a mistake.";
  }
  $("#mlp-link").hidden = analysis.separable || points.length === 0;
  $("#btn-step").disabled = status === "converged" || status === "gave_up" || status === "empty";
  const m = frame || {};
  $("#epoch").textContent = m.epoch ?? 0;
  $("#visits").textContent = m.visits ?? 0;
  $("#mistakes").textContent = m.mistakes ?? 0;
  $("#streak").textContent = m.n ? `${m.streak}/${m.n}` : "0";
}

// The mistakes-per-epoch chart in `root`; render(frame) appends what is new since the last call.
export function createEpochChart(root) {
  const chart = new LineChart(root, {
    series: [{ label: "mistakes", color: "#c62828" }], xLabel: "epoch", yLabel: "mistakes", height: 150,
  });
  let chartLength = 0;

  function render(frame) {
    const history = frame && frame.epoch_mistakes ? frame.epoch_mistakes : [];
    if (history.length < chartLength) { chart.clear(); chartLength = 0; }
    if (!frame || !frame.visits) {
      if (chartLength) chart.clear();
      chartLength = 0;
      $("#epoch-caption").textContent = "One dot per epoch (a full pass over the data): a pass with no mistake ends the run.";
      return;
    }
    for (let i = Math.max(0, chartLength - 1); i < history.length; i++) chart.push(i + 1, [history[i]]);
    chartLength = history.length;
    const into = frame.visits % frame.n; // visits into the pass under way (0: at a pass's end)
    const done = into ? history.slice(0, -1) : history;
    const mistakes = (k) => `${k} mistake${k === 1 ? "" : "s"}`;
    const parts = [];
    if (into) {
      const how = frame.status === "converged" ? `converged ${into} visit${into === 1 ? "" : "s"} into it` : "under way";
      parts.push(`epoch ${history.length} (${how}): ${mistakes(history[history.length - 1])} so far`);
    }
    if (done.length) parts.push(`epoch ${done.length} (done): ${mistakes(done[done.length - 1])}`);
    $("#epoch-caption").textContent = parts.join(" · ");
  }

  return { render };
}
