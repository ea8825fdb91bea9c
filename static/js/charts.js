// Line charts on uPlot (vendored in static/vendor, loaded by base.html as window.uPlot).
//   const chart = new LineChart(el, {series: [{label: "train", color: "#1f77b4"}], yLabel: "loss"});
//   chart.push(step, [value]); chart.clear();
// Points are kept in bounded arrays (older points are thinned, never an unbounded list).

export class LineChart {
  constructor(el, { series, yLabel = "", xLabel = "step", height = 180, maxPoints = 2000, yRange = null, log = false } = {}) {
    this.el = el;
    this.maxPoints = maxPoints;
    this.series = series;
    this.data = [[], ...series.map(() => [])];
    const width = Math.max(200, el.clientWidth || 400);
    const opts = {
      width,
      height,
      legend: { show: true, live: false },
      cursor: { drag: { x: false, y: false } },
      scales: { x: { time: false }, y: yRange ? { range: yRange } : { distr: log ? 3 : 1 } },
      axes: [
        { label: xLabel, size: 36, labelSize: 14, stroke: "#667085", grid: { stroke: "#eef1f5" } },
        { label: yLabel, size: 50, labelSize: 14, stroke: "#667085", grid: { stroke: "#eef1f5" } },
      ],
      series: [
        {},
        ...series.map((s) => ({
          label: s.label, stroke: s.color, width: 2, dash: s.dash || undefined, points: { show: false },
          value: (u, v) => (v === null || v === undefined ? "–" : v.toFixed(4)),
        })),
      ],
    };
    this.plot = new window.uPlot(opts, this.data, el);
    this.pending = false;
    this.resizeObserver = new ResizeObserver(() => {
      const w = Math.max(200, el.clientWidth);
      if (w !== this.plot.width) this.plot.setSize({ width: w, height });
    });
    this.resizeObserver.observe(el);
  }

  push(x, ys) {
    const last = this.data[0][this.data[0].length - 1];
    if (last !== undefined && x <= last) {
      // same step again (e.g. a paused re-send): replace the last point
      if (x === last) ys.forEach((y, i) => { this.data[i + 1][this.data[i + 1].length - 1] = y ?? null; });
      else return;
    } else {
      this.data[0].push(x);
      ys.forEach((y, i) => this.data[i + 1].push(y ?? null));
    }
    if (this.data[0].length > this.maxPoints) {
      // keep every other point of the older half: bounded memory, whole history visible
      const half = this.data[0].length >> 1;
      this.data = this.data.map((arr) => arr.filter((_, i) => i >= half || i % 2 === 0));
    }
    this.schedule();
  }

  schedule() {
    if (this.pending) return;
    this.pending = true;
    requestAnimationFrame(() => { this.pending = false; this.plot.setData(this.data); });
  }

  clear() {
    this.data = [[], ...this.series.map(() => [])];
    this.plot.setData(this.data);
  }

  get length() { return this.data[0].length; }
}
