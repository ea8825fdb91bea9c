// The code panel of the training labs (MLP, perceptron, CNN): the session's run as a runnable
// PyTorch script, with copy and download, and the lab's other exports (config, curves, ONNX).
// One module for every lab page: templates/_code_panel.html + mountCodePanel(sock).
// Wire: GET /api/<lab>/export?format=py|json|csv|onnx&session=<id> (docs/protocol-<lab>.md).
import { toast, showError } from "./ui.js";

export function mountCodePanel(sock, root = document.getElementById("code-panel")) {
  if (!root) return null;
  const code = root.querySelector("#code-text");
  const error = root.querySelector("#code-error");
  const url = (format) => `/api/${sock.lab}/export?format=${format}`
    + `&session=${encodeURIComponent(sock.sessionId)}`;
  for (const link of root.querySelectorAll("a[data-format]")) link.href = url(link.dataset.format);

  let stale = true; // the script shown may not be the server's current one
  let asked = 0; // number of the latest request: older answers are dropped

  async function refresh() {
    if (!root.open) {
      stale = true;
      return;
    }
    stale = false;
    const ticket = ++asked;
    root.dataset.state = "loading";
    try {
      const response = await fetch(url("py"));
      if (!response.ok) {
        const body = await response.json().catch(() => ({}));
        throw new Error(body.detail || `the server answered ${response.status}`);
      }
      const text = await response.text();
      if (ticket !== asked) return;
      code.textContent = text;
      error.hidden = true;
      root.dataset.state = "ready";
    } catch (err) {
      if (ticket !== asked) return;
      code.textContent = "";
      error.textContent = `No script: ${err.message}`;
      error.hidden = false;
      root.dataset.state = "error";
    }
  }

  root.addEventListener("toggle", () => {
    if (root.open && stale) refresh();
  });
  // A new run, a change of learning rate, a pause: the script may have changed.
  const changed = () => {
    stale = true;
    if (root.open) refresh();
  };
  sock.on("configured", changed);
  sock.on("updated", changed);
  sock.on("state", (msg) => {
    if (msg.state !== "playing") changed();
  });

  root.querySelector("#code-copy").addEventListener("click", async () => {
    const text = code.textContent;
    if (!text) return showError("No script to copy yet.");
    try {
      await navigator.clipboard.writeText(text);
      toast("Script copied: paste it into a .py file and run it with python.");
    } catch {
      const area = Object.assign(document.createElement("textarea"), { value: text });
      document.body.append(area);
      area.select();
      const ok = document.execCommand("copy");
      area.remove();
      if (ok) toast("Script copied.");
      else showError("Could not reach the clipboard: use Download instead.");
    }
  });
  return { refresh };
}
