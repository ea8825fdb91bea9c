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
