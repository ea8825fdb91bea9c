// Heat maps from uint8 grids: putImageData at the grid's own resolution, CSS scales it up.
//   drawGrid(canvas, data, w, h, COLORMAPS.diverging)
import { CLASS_COLORS } from "./palette.js";

export function hexToRgb(hex) {
  const n = parseInt(hex.slice(1), 16);
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255];
}

// A 256-entry RGB lookup table interpolated between colour stops [[t, "#rrggbb"], ...].
export function makeColormap(stops) {
  const lut = new Uint8ClampedArray(256 * 3);
  const rgb = stops.map(([t, c]) => [t, hexToRgb(c)]);
  for (let i = 0; i < 256; i++) {
    const t = i / 255;
    let j = 0;
    while (j < rgb.length - 2 && t > rgb[j + 1][0]) j++;
    const [t0, c0] = rgb[j];
    const [t1, c1] = rgb[j + 1];
    const f = t1 === t0 ? 0 : Math.min(1, Math.max(0, (t - t0) / (t1 - t0)));
    for (let k = 0; k < 3; k++) lut[i * 3 + k] = c0[k] + (c1[k] - c0[k]) * f;
  }
  return lut;
}

export const COLORMAPS = {
  // 0 -> orange (negative / class 0), 128 -> white, 255 -> blue (positive / class 1)
  diverging: makeColormap([[0, CLASS_COLORS[0]], [0.5, "#e8eaeb"], [1, CLASS_COLORS[1]]]),
  gray: makeColormap([[0, "#000000"], [1, "#ffffff"]]),
  viridis: makeColormap([
    [0, "#440154"], [0.25, "#3b528b"], [0.5, "#21918c"], [0.75, "#5ec962"], [1, "#fde725"],
  ]),
  // signed values: blue negative, white zero, red positive (kernels, feature maps)
  redblue: makeColormap([[0, "#2166ac"], [0.5, "#f7f7f7"], [1, "#b2182b"]]),
};

function sizeCanvas(canvas, w, h) {
  if (canvas.width !== w || canvas.height !== h) {
    canvas.width = w;
    canvas.height = h;
  }
  return canvas.getContext("2d");
}

// data: Uint8Array of w*h values (row-major, row 0 at the top); colormap: a LUT from makeColormap.
export function drawGrid(canvas, data, w, h, colormap = COLORMAPS.gray, { alpha = 255 } = {}) {
  const ctx = sizeCanvas(canvas, w, h);
  const image = ctx.createImageData(w, h);
  const px = image.data;
  for (let i = 0, n = w * h; i < n; i++) {
    const v = data[i] * 3;
    px[i * 4] = colormap[v];
    px[i * 4 + 1] = colormap[v + 1];
    px[i * 4 + 2] = colormap[v + 2];
    px[i * 4 + 3] = alpha;
  }
  ctx.putImageData(image, 0, 0);
}

// RGB image: data is h*w*3 uint8 (HWC).
export function drawRGB(canvas, data, w, h) {
  const ctx = sizeCanvas(canvas, w, h);
  const image = ctx.createImageData(w, h);
  const px = image.data;
  for (let i = 0, n = w * h; i < n; i++) {
    px[i * 4] = data[i * 3];
    px[i * 4 + 1] = data[i * 3 + 1];
    px[i * 4 + 2] = data[i * 3 + 2];
    px[i * 4 + 3] = 255;
  }
  ctx.putImageData(image, 0, 0);
}
