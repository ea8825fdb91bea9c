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
// Show `value` in a typed-in field, unless the user is typing in it: a render that a server
// message sets off must not undo keys pressed before their Enter (or blur) sends them.
export function setField(input, value) {
  const typing = document.activeElement === input && input.value !== input.dataset.shown;
  input.dataset.shown = String(value);
  if (!typing) input.value = value;
}

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

// Fill a <select> (with options) or a segmented group (with buttons, data-<key>=value) with the
// values the server lists; the page keeps only display labels: labels[value] is the text, or
// {text, title}; missing labels show the value. Rebuilt only when the values change.
export function fillChoices(root, values, labels = {}, key = "value") {
  const signature = values.join("\n");
  if (root.dataset.choices === signature) return false;
  root.dataset.choices = signature;
  const select = root.tagName === "SELECT";
  root.replaceChildren(...values.map((value) => {
    const label = labels[value] ?? value;
    const node = document.createElement(select ? "option" : "button");
    if (select) node.value = value;
    else { node.type = "button"; node.dataset[key] = value; }
    node.textContent = typeof label === "string" ? label : label.text;
    if (label.title) node.title = label.title;
    return node;
  }));
  return true;
}
