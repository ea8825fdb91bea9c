// Small DOM helpers shared by every page.

export const $ = (selector, root = document) => root.querySelector(selector);
export const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

// Event delegation: on(list, "click", "button[data-action]", (event, button) => ...)
export function on(root, type, selector, handler) {
  root.addEventListener(type, (event) => {
    const target = event.target.closest(selector);
    if (target && root.contains(target)) handler(event, target);
  });
}

// A toast for errors from the server or bad input; never a console error.
export function showError(message, { timeout = 6000 } = {}) {
  toast(message, "error", timeout);
}

export function toast(message, kind = "info", timeout = 4000) {
  const box = document.getElementById("toasts");
  if (!box) return;
  while (box.children.length >= 4) box.firstElementChild.remove();
  const item = document.createElement("div");
  item.className = `toast ${kind}`;
  item.setAttribute("role", kind === "error" ? "alert" : "status");
  const text = document.createElement("span");
  text.textContent = message;
  const close = document.createElement("button");
  close.type = "button";
  close.textContent = "×";
  close.setAttribute("aria-label", "dismiss");
  close.addEventListener("click", () => item.remove());
  item.append(text, close);
  box.append(item);
  if (timeout) setTimeout(() => item.remove(), timeout);
}

// Bind a range input to an <output> (or any element) showing its value, formatted.
export function slider(input, output, format = (v) => v) {
  const update = () => { output.textContent = format(Number(input.value)); };
  input.addEventListener("input", update);
  update();
  return update;
}

export function fmt(value, digits = 3) {
  if (value === null || value === undefined || Number.isNaN(value)) return "–";
  if (Math.abs(value) >= 1000) return value.toFixed(0);
  return Number(value).toFixed(digits);
}

export function pct(value, digits = 1) {
  if (value === null || value === undefined) return "–";
  return `${(value * 100).toFixed(digits)}%`;
}

// Throttle to one call per animation frame (the latest arguments win).
export function rafThrottle(fn) {
  let queued = null;
  return (...args) => {
    const first = queued === null;
    queued = args;
    if (first) requestAnimationFrame(() => { const a = queued; queued = null; fn(...a); });
  };
}
