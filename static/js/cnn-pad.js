// A drawing pad for "draw a digit": thick white ink on black, like the training digits.
// Pointer events cover mouse, pen and touch. The picture leaves as a PNG Blob, and the server
// preprocesses it exactly like an uploaded file (one path for both).

export class DrawPad {
  constructor(canvas, { lineWidth = 22, onStroke = null } = {}) {
    this.canvas = canvas;
    this.ctx = canvas.getContext("2d");
    this.lineWidth = lineWidth;
    this.onStroke = onStroke;
    this.drawing = false;
    this.empty = true;
    this.clear();
    canvas.addEventListener("pointerdown", (e) => this.start(e));
    canvas.addEventListener("pointermove", (e) => this.move(e));
    for (const type of ["pointerup", "pointercancel", "pointerleave"]) {
      canvas.addEventListener(type, () => this.end());
    }
  }

  clear() {
    this.ctx.fillStyle = "#000";
    this.ctx.fillRect(0, 0, this.canvas.width, this.canvas.height);
    this.empty = true;
  }

  point(e) {
    const r = this.canvas.getBoundingClientRect();
    return [
      ((e.clientX - r.left) / r.width) * this.canvas.width,
      ((e.clientY - r.top) / r.height) * this.canvas.height,
    ];
  }

  start(e) {
    e.preventDefault();
    this.canvas.setPointerCapture?.(e.pointerId);
    this.drawing = true;
    this.last = this.point(e);
    this.line(this.last, this.last);
  }

  move(e) {
    if (!this.drawing) return;
    const p = this.point(e);
    this.line(this.last, p);
    this.last = p;
  }

  end() {
    if (!this.drawing) return;
    this.drawing = false;
    if (this.onStroke) this.onStroke();
  }

  line(a, b) {
    const ctx = this.ctx;
    ctx.strokeStyle = "#fff";
    ctx.lineWidth = this.lineWidth;
    ctx.lineCap = "round";
    ctx.lineJoin = "round";
    ctx.beginPath();
    ctx.moveTo(a[0], a[1]);
    ctx.lineTo(b[0], b[1]);
    ctx.stroke();
    this.empty = false;
  }

  toBlob() {
    return new Promise((resolve) => this.canvas.toBlob(resolve, "image/png"));
  }
}
