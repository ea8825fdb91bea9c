// Canvas helpers of the CNN lab: uint8 grids -> pixels with putImageData; CSS scales them up.
//
// Arrays come quantised from binary frames (docs/protocol-cnn.md §4):
//   images        (n, H, W, C) channels last, C = 1 or 3
//   feature maps  (n, h, w) one value per pixel, drawn through a colormap
//   kernels       (out, in, k, k) one value per weight (diverging colormap), or, for the first
//                 layer of an RGB net, (out, 3, k, k) drawn as colour pictures.
// Many small tiles go into ONE canvas per layer with 1-pixel gutters: a 32-channel layer costs one
// putImageData, not 32 canvases.
import { COLORMAPS } from "./heatmap.js";

export { COLORMAPS };

const GUTTER = [255, 255, 255];

function sized(canvas, w, h) {
  if (canvas.width !== w) canvas.width = w;
  if (canvas.height !== h) canvas.height = h;
  return canvas.getContext("2d");
}

// Writes tile `src` (one picture) into RGBA `px` (row width W) at (x0, y0).
//   mode "map":   src[(y*w + x)] through the LUT
//   mode "hwc":   src[(y*w + x)*c + ch], c = 1 (LUT) or 3 (RGB)
//   mode "chw":   src[ch*h*w + y*w + x], 3 planes (RGB kernels)
function writeTile(px, W, x0, y0, src, offset, h, w, c, mode, lut) {
  const plane = h * w;
  for (let y = 0; y < h; y++) {
    for (let x = 0; x < w; x++) {
      const p = ((y0 + y) * W + x0 + x) * 4;
      const i = y * w + x;
      if (mode === "chw") {
        px[p] = src[offset + i];
        px[p + 1] = src[offset + plane + i];
        px[p + 2] = src[offset + 2 * plane + i];
      } else if (mode === "hwc" && c === 3) {
        const s = offset + i * 3;
        px[p] = src[s];
        px[p + 1] = src[s + 1];
        px[p + 2] = src[s + 2];
      } else {
        const v = src[offset + (mode === "hwc" ? i * c : i)] * 3;
        px[p] = lut[v];
        px[p + 1] = lut[v + 1];
        px[p + 2] = lut[v + 2];
      }
      px[p + 3] = 255;
    }
  }
}

// One image, (H, W, C) channels last (C = 1 grey, 3 RGB), at `offset` in `data`.
export function drawImage(canvas, data, h, w, c, offset = 0) {
  const ctx = sized(canvas, w, h);
  const img = ctx.createImageData(w, h);
  writeTile(img.data, w, 0, 0, data, offset, h, w, c, "hwc", COLORMAPS.gray);
  ctx.putImageData(img, 0, 0);
}

// Tiles on a grid of `cols` columns. `source(k)` gives the offset of display tile k in `data`
// (so kernels can be laid out transposed). Returns the layout {cols, rows, width, height}.
export function drawTiles(canvas, data, { n, h, w, c = 1, mode = "map", cols = 8, colormap = "gray", source = null }) {
  const columns = Math.max(1, Math.min(cols, n));
  const rows = Math.ceil(n / columns);
  const W = columns * (w + 1) - 1;
  const H = rows * (h + 1) - 1;
  const ctx = sized(canvas, Math.max(1, W), Math.max(1, H));
  const img = ctx.createImageData(Math.max(1, W), Math.max(1, H));
  const px = img.data;
  for (let i = 0; i < px.length; i += 4) {
    px[i] = GUTTER[0];
    px[i + 1] = GUTTER[1];
    px[i + 2] = GUTTER[2];
    px[i + 3] = 255;
  }
  const lut = COLORMAPS[colormap] || COLORMAPS.gray;
  const size = mode === "chw" ? 3 * h * w : h * w * (mode === "hwc" ? c : 1);
  for (let k = 0; k < n; k++) {
    const x0 = (k % columns) * (w + 1);
    const y0 = Math.floor(k / columns) * (h + 1);
    const offset = source ? source(k) : k * size;
    writeTile(px, W, x0, y0, data, offset, h, w, c, mode, lut);
  }
  ctx.putImageData(img, 0, 0);
  return { cols: columns, rows, width: W, height: H };
}

// CSS size of a tiled canvas so each tile shows at about `tile` pixels (integer zoom, crisp).
export function fitTiles(canvas, layout, h, w, tile = 32) {
  const zoom = Math.max(1, Math.round(tile / Math.max(h, w)));
  canvas.style.width = `${layout.width * zoom}px`;
  canvas.style.height = `${layout.height * zoom}px`;
}
