// Real pictures: the sample menu, the kernel list, uploads, and the binary frames
// `conv`, `pool` and `shift` drawn as figures.
import { COLORMAPS, drawGrid, drawRGB } from "./heatmap.js";
import { $, on, pct, showError } from "./ui.js";
import { saveState } from "./state.js";
import { NAMES, SAMPLE_NAMES, el, num, showNote } from "./convolution-common.js";

import { LIMITS } from "./boot.js";

export function legend(map) {
  if (!map) return "";
  if (map.map === "diverging") return `orange −${num(map.scale)} · white 0 · blue +${num(map.scale)}`;
  if (map.map === "gray") return `black 0 · white ${num(map.scale)}`;
  return "the picture's colours";
}

export function figure(title, array, map, { cls = "" } = {}) {
  const canvas = el("canvas", { class: "pixelated" });
  const [h, w] = array.shape;
  if (array.shape.length === 3) drawRGB(canvas, array.data, w, h);
  else drawGrid(canvas, array.data, w, h, map?.map === "diverging" ? COLORMAPS.diverging : COLORMAPS.gray);
  canvas.setAttribute("aria-label", title);
  canvas.dataset.size = `${h}x${w}`;
  return el("figure", { class: `conv-figure ${cls}` }, [
    canvas,
    el("figcaption", {}, [
      el("b", { text: title }), el("span", { class: "muted num", text: ` ${w}×${h}` }),
      el("div", { class: "muted legend", text: legend(map) }),
    ]),
  ]);
}

export function slice(array, index) {
  const [, h, w] = array.shape;
  return { data: array.data.subarray(index * h * w, (index + 1) * h * w), shape: [h, w] };
}

export function renderConvFrame(frame) {
  const root = $("#figures");
  showNote("#real-error", frame.meta.error);
  if (frame.meta.error) { root.replaceChildren(); return; }
  const { arrays, meta } = frame;
  const items = [figure(meta.color === "rgb" ? "input (RGB)" : "input (grey)", arrays.input, null, { cls: "input" })];
  if (meta.color === "rgb") {
    meta.channel_names.forEach((name, c) => {
      items.push(el("div", { class: "conv-op", text: c === 0 ? "→" : "+" }));
      const [channel, kernel] = name.split(" * ");
      items.push(figure(`${channel} × ${NAMES[kernel] || kernel}`, slice(arrays.channels, c), meta.channel_maps[c]));
    });
    items.push(el("div", { class: "conv-op", text: "=" }));
    items.push(figure("output (sum)", slice(arrays.outputs, 0), meta.maps[0], { cls: "output" }));
  } else {
    items.push(el("div", { class: "conv-op", text: "→" }));
    meta.names.forEach((name, i) => {
      items.push(figure(NAMES[name] || name, slice(arrays.outputs, i), meta.maps[i], { cls: "output" }));
    });
  }
  root.replaceChildren(...items);
}

export function renderPoolFrame(frame) {
  showNote("#realpool-error", frame.meta.error);
  const root = $("#pool-figures");
  if (frame.meta.error) {
    root.replaceChildren();
    $("#realpool-caption").textContent = "";
    $("#realpool-kept").textContent = "";
    return;
  }
  const { meta, arrays } = frame;
  const what = meta.source === "image" ? "the picture" : "the first conv output";
  $("#realpool-caption").textContent = `${meta.mode} pooling of ${what}, ${meta.size}×${meta.size}, stride ${meta.stride}`;
  const [h, w] = arrays.before.shape;
  const [ph, pw] = arrays.after.shape;
  $("#realpool-kept").textContent = `${w}×${h} → ${pw}×${ph}: kept ${meta.kept.toLocaleString("en")} of `
    + `${meta.of.toLocaleString("en")} values (${pct(meta.kept / meta.of)}, 1 in ${Math.round(meta.of / meta.kept)}).`;
  root.replaceChildren(
    figure("before", arrays.before, meta.map, { cls: "input" }),
    el("div", { class: "conv-op", text: "→" }),
    figure(`${meta.mode} pooled`, arrays.after, meta.map, { cls: "input pooled" }),
  );
}

// The picture controls. lab: { state, presets, presetKernels, kernelNames, samples, hasUpload,
// commit }, read at call time;
// sock uploads the user's picture.
export function initRealControls(lab, sock) {
  const { state } = lab;

  function renderSampleMenu() {
    const menu = $("#sample");
    const names = lab.hasUpload ? [...lab.samples, "upload"] : lab.samples;
    if (menu.options.length !== names.length) {
      menu.replaceChildren(...names.map((s) => el("option", { value: s, text: SAMPLE_NAMES[s] || s })));
    }
    menu.value = state.sample;
  }
  $("#sample").addEventListener("change", (event) => { state.sample = event.target.value; lab.commit(); });

  function kernelSelect(value, label, index) {
    const select = el("select", { ariaLabel: label });
    select.dataset.index = index;
    for (const name of lab.kernelNames) {
      const usable = !lab.presets.includes(name) || name in lab.presetKernels; // "custom" always
      select.append(el("option", { value: name, text: NAMES[name] || name, disabled: !usable }));
    }
    select.value = value;
    return select;
  }

  function renderKernelList() {
    const root = $("#kernel-list");
    const k = state.kernel.length;
    root.replaceChildren();
    if (state.color === "grey") {
      state.kernels.forEach((name, i) => {
        const chip = el("div", { class: "conv-chip" }, [
          el("span", { class: "muted", text: `out ${i + 1}` }),
          kernelSelect(name, `kernel ${i + 1}`, i),
        ]);
        if (state.kernels.length > 1) {
          chip.append(el("button", { type: "button", class: "conv-remove", text: "×", title: "remove this kernel", ariaLabel: `remove kernel ${i + 1}`, "data-remove": i }));
        }
        root.append(chip);
      });
      if (state.kernels.length < LIMITS.max_kernels) {
        root.append(el("button", { type: "button", id: "btn-add-kernel", text: "+ kernel", title: "another output channel" }));
      }
      $("#kernel-hint").textContent = `${state.kernels.length} kernel${state.kernels.length > 1 ? "s" : ""} of ${k}×${k} on 1 input channel → ${state.kernels.length} output channel${state.kernels.length > 1 ? "s" : ""}. "custom" is the grid you typed above.`;
    } else {
      ["R", "G", "B"].forEach((channel, i) => {
        root.append(el("div", { class: `conv-chip channel-${channel}` }, [
          el("span", { text: channel }), kernelSelect(state.rgb_kernels[i], `kernel slice for ${channel}`, i),
        ]));
      });
      $("#kernel-hint").textContent = `One kernel of 3×${k}×${k}: one ${k}×${k} slice per input channel; the output is the sum of the three.`;
    }
  }

  on($("#kernel-list"), "change", "select", (_, select) => {
    const list = state.color === "grey" ? state.kernels : state.rgb_kernels;
    list[Number(select.dataset.index)] = select.value;
    lab.commit();
  });
  on($("#kernel-list"), "click", "button[data-remove]", (_, button) => {
    state.kernels.splice(Number(button.dataset.remove), 1);
    lab.commit();
  });
  on($("#kernel-list"), "click", "#btn-add-kernel", () => {
    const unused = ["sobel_x", "sobel_y", "laplacian", "gaussian_blur", "sharpen", "emboss", "box_blur", "identity"]
      .find((name) => !state.kernels.includes(name) && name in lab.presetKernels) || "custom";
    state.kernels.push(unused);
    lab.commit();
  });

  $("#upload").addEventListener("change", async (event) => {
    const input = event.target;
    const file = input.files[0];
    if (!file) return;
    const message = $("#upload-msg");
    message.className = "conv-upload-msg";
    message.textContent = "uploading…";
    try {
      const body = await sock.upload("/api/convolution/image", file);
      lab.hasUpload = true;
      state.sample = "upload";
      saveState(state);
      renderSampleMenu();
      message.textContent = `Using your picture: ${body.original_width}×${body.original_height}, shown at ${body.width}×${body.height}.`;
      message.classList.add("good");
    } catch (error) {
      message.textContent = `Not used: ${error.message}`;
      message.classList.add("bad");
      showError(`Upload refused: ${error.message}`);
    } finally {
      input.value = "";
    }
  });

  return { renderSampleMenu, renderKernelList };
}
