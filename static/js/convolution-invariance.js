// Move or turn the picture: the binary frames `shift` and `rotate` (ml_core/convolution_invariance.py)
// as three relative changes (input, conv output, pooled output) and four figures each.
import { $, pct } from "./ui.js";
import { el, showNote } from "./convolution-common.js";
import { figure, slice } from "./convolution-real.js";

function render(frame, { prefix, figures, error, moved }) {
  showNote(error, frame.meta.error);
  const root = $(figures);
  const ids = ["input", "conv", "pool"].map((part) => `#${prefix}change-${part}`);
  if (frame.meta.error) {
    root.replaceChildren();
    ids.forEach((id) => { $(id).textContent = "–"; });
    return;
  }
  const { meta, arrays } = frame;
  [meta.input_change, meta.conv_change, meta.pooled_change].forEach((v, i) => { $(ids[i]).textContent = pct(v); });
  const after = moved(meta);
  root.replaceChildren(
    figure("conv, before", slice(arrays.conv, 0), meta.conv_map),
    figure(`conv, ${after}`, slice(arrays.conv, 1), meta.conv_map),
    el("div", { class: "conv-op", text: "→" }),
    figure("pooled, before", slice(arrays.pooled, 0), meta.pool_map, { cls: "pooled" }),
    figure(`pooled, ${after}`, slice(arrays.pooled, 1), meta.pool_map, { cls: "pooled" }),
  );
}

export function renderShiftFrame(frame) {
  render(frame, {
    prefix: "", figures: "#shift-figures", error: "#shift-error",
    moved: (meta) => `moved (${meta.dx}, ${meta.dy})`,
  });
}

export function renderRotateFrame(frame) {
  render(frame, {
    prefix: "rot-", figures: "#rotate-figures", error: "#rotate-error",
    moved: (meta) => `turned ${meta.degrees}°`,
  });
}
