// Two small read-outs of the MLP playground: the final exam's result (the held-out test points,
// scored only when the learner asks) and the legend of a regression's value map.
import { $, fmt, pct } from "./ui.js";
import { valueCss } from "./mlp-data.js";

// The |value| a regression's colours reach full strength at, as the server scales its map
// (app/labs/mlp.py output_range): the largest |value| of the data, at least 1.
export function valueTop(points) {
  return points.reduce((top, p) => Math.max(top, Math.abs(p[2])), 1);
}

// The exam's box: the button, the last result (with how many looks it took), and a warning once
// the test set has been looked at more than once since this setup.
export function renderExam(store) {
  const { exam, data } = store;
  const n = (data.test ?? []).length;
  $("#btn-exam").disabled = n === 0;
  $("#btn-exam").title = n ? `Score the network on the ${n} held-out test points, now`
    : "No test points: set the test share above 0 first";
  const result = $("#exam-result");
  const warn = $("#exam-warn");
  if (!exam) {
    result.textContent = n ? `${n} test points, not looked at yet` : "no test points held out";
    warn.hidden = true;
    return;
  }
  const score = exam.accuracy === null ? `loss ${fmt(exam.loss, 4)}`
    : `accuracy ${pct(exam.accuracy)} (loss ${fmt(exam.loss, 4)})`;
  result.textContent = exam.points
    ? `Test ${score} on ${exam.points} points at step ${exam.step.toLocaleString("en-US")}`
    : "no test points held out";
  warn.hidden = exam.exams < 2;
  warn.textContent = `You have looked at the test set ${exam.exams} times with this setup. `
    + "If you changed anything in between to raise its score, it is no longer a fair estimate: "
    + "only fresh test points (new data: another seed) give an honest one.";
}

// The colour scale under a regression's map: its ends are the values 0 and 255 stand for.
export function renderValueLegend(frame) {
  const legend = $("#value-legend");
  const regression = frame?.meta.task === "regression";
  legend.hidden = !regression;
  if (!regression) return;
  const [lo, hi] = frame.meta.output_range;
  $("#legend-lo").textContent = lo.toFixed(1);
  $("#legend-hi").textContent = hi.toFixed(1);
  $("#legend-ramp").style.background = `linear-gradient(to right, ${valueCss(lo, hi)}, `
    + `${valueCss(0, hi)}, ${valueCss(hi, hi)})`;
}
