// The one palette of every page: class colours and the train / validation / test series.
// Class 0 orange and class 1 blue (TensorFlow Playground's), then six more distinct hues; the
// same orange-white-blue ramp draws signed values (negative orange, positive blue).
export const CLASS_RGB = [
  [245, 147, 34], [8, 119, 189], [46, 160, 67], [214, 39, 40],
  [148, 103, 189], [23, 190, 207], [227, 119, 194], [140, 86, 75],
];
const hex = (rgb) => `#${rgb.map((v) => v.toString(16).padStart(2, "0")).join("")}`;
export const CLASS_COLORS = CLASS_RGB.map(hex);
export const classCss = (k) => `rgb(${CLASS_RGB[k % CLASS_RGB.length].join(",")})`;

// The colour of text on a background [r, g, b] (0-255): black on light, white on dark. One of
// the two always has a contrast of 4.5:1 or more (WCAG AA): the switch is at luminance 0.18.
export function textOn(rgb) {
  const [r, g, b] = rgb.map((c) => (c / 255 <= 0.03928 ? c / 255 / 12.92 : ((c / 255 + 0.055) / 1.055) ** 2.4));
  return 0.2126 * r + 0.7152 * g + 0.0722 * b > 0.18 ? "#000000" : "#ffffff";
}

// Curves and numbers of the three data splits, the same on every page: training solid slate,
// validation dashed violet, test dotted teal (told apart by dash as well as by hue).
export const SERIES = {
  train: { label: "train", color: "#344054", dash: null },
  val: { label: "validation", color: "#7c3aed", dash: [6, 4] },
  test: { label: "test", color: "#0f766e", dash: [2, 3] },
};

// Each class has a shape as well as a colour, so classes are told apart without colour (colour-
// blind readers, a greyscale print): class 0 a circle, class 1 a square, then a triangle, ...
// The swatches and legend dots follow the same order (css/mlp.css, css/perceptron.css).
export const CLASS_SHAPES = ["circle", "square", "triangle", "diamond", "triangle-down", "plus", "cross", "star"];

// Vertices of a regular n-gon of circumradius R around (x, y), the first at angle a0 (radians,
// y down as on a canvas).
function regular(n, x, y, R, a0) {
  return Array.from({ length: n }, (_, i) => [x + R * Math.cos(a0 + (2 * Math.PI * i) / n), y + R * Math.sin(a0 + (2 * Math.PI * i) / n)]);
}

// Adds class k's marker centred on (x, y) to ctx's current path (ctx.beginPath() first; fill and
// stroke after). r is the radius of the circle; every shape covers about the circle's area.
export function classMarker(ctx, k, x, y, r) {
  const shape = CLASS_SHAPES[((k % CLASS_SHAPES.length) + CLASS_SHAPES.length) % CLASS_SHAPES.length];
  const up = -Math.PI / 2;
  let pts;
  if (shape === "circle") {
    ctx.moveTo(x + r, y);
    ctx.arc(x, y, r, 0, 2 * Math.PI);
    return;
  }
  if (shape === "square") pts = regular(4, x, y, r * 1.253, Math.PI / 4);
  else if (shape === "triangle") pts = regular(3, x, y, r * 1.555, up);
  else if (shape === "diamond") pts = regular(4, x, y, r * 1.253, up);
  else if (shape === "triangle-down") pts = regular(3, x, y, r * 1.555, -up);
  else if (shape === "plus" || shape === "cross") {
    // arms of length a and half-width h (8ah - 4h² = πr²); the cross is the plus turned 45°
    const [a, h] = [r * 1.1, r * 0.45];
    const turn = shape === "cross" ? Math.SQRT1_2 : 1;
    const arms = [[-h, -a], [h, -a], [h, -h], [a, -h], [a, h], [h, h], [h, a], [-h, a], [-h, h], [-a, h], [-a, -h], [-h, -h]];
    pts = arms.map(([dx, dy]) => (turn === 1 ? [x + dx, y + dy] : [x + turn * (dx - dy), y + turn * (dx + dy)]));
  }
  else {
    const outer = regular(5, x, y, r * 1.55, up); // area 5·1.55·0.65·sin 36° ≈ 0.94 πr²
    const inner = regular(5, x, y, r * 0.65, up + Math.PI / 5);
    pts = outer.flatMap((p, i) => [p, inner[i]]);
  }
  ctx.moveTo(...pts[0]);
  for (const p of pts.slice(1)) ctx.lineTo(...p);
  ctx.closePath();
}
