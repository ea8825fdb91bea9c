// Shared by the convolution lab's modules: display names and small DOM helpers.
import { $ } from "./ui.js";

export const NAMES = {
  identity: "identity", box_blur: "box blur", gaussian_blur: "Gaussian blur", sharpen: "sharpen",
  sobel_x: "Sobel x", sobel_y: "Sobel y", prewitt_x: "Prewitt x", prewitt_y: "Prewitt y",
  laplacian: "Laplacian", emboss: "emboss", custom: "custom (your grid)",
};
export const SAMPLE_NAMES = {
  camera: "camera man", astronaut: "astronaut", coffee: "coffee", chelsea: "Chelsea the cat",
  rocket: "rocket", coins: "coins", moon: "moon", upload: "your picture",
};

export function num(v) {
  if (v === null || v === undefined) return "–";
  const r = Math.round(v * 1000) / 1000;
  return Object.is(r, -0) ? "0" : String(r);
}

export function el(tag, props = {}, children = []) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(props)) {
    if (k === "class") node.className = v;
    else if (k === "text") node.textContent = v;
    else if (k.startsWith("data-")) node.setAttribute(k, v);
    else node[k] = v;
  }
  for (const child of children) node.append(child);
  return node;
}

export function showNote(id, message) {
  const node = $(id);
  node.hidden = !message;
  node.textContent = message || "";
}

export function cellGrid(root, rows, cols, make) {
  root.style.setProperty("--cols", cols);
  root.replaceChildren();
  for (let r = 0; r < rows; r++) for (let c = 0; c < cols; c++) root.append(make(r, c));
}
