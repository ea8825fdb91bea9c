// LabSocket: one websocket per page, resumable across reconnects.
//   const sock = new LabSocket("mlp");
//   sock.on("metrics", m => ...); sock.on("frame:mlp", f => ...); sock.send({type: "play"});
// Binary frames are decoded to {kind, meta, arrays: {name: {data: TypedArray, shape}}} and
// dispatched as "frame:<kind>". The session id lives in sessionStorage, so a reload or a dropped
// connection resumes the same server session (nothing the user made is lost).
//
// Resync: after every (re)connect the server sends hello, then `configured` with what its
// session holds. A page passes `resync(configured, hello)`: it returns the message that brings
// the server in line with the page (a shared link, a new session) or null when they agree. The
// "resync" event fires once that first `configured` has been looked at.
import { showError } from "./ui.js";

const DTYPES = {
  uint8: Uint8Array, int8: Int8Array, uint16: Uint16Array, int16: Int16Array,
  int32: Int32Array, float32: Float32Array,
};

export function decodeFrame(buffer) {
  const view = new DataView(buffer);
  const headerLength = view.getUint32(0, true);
  const header = JSON.parse(new TextDecoder().decode(new Uint8Array(buffer, 4, headerLength)));
  const base = (4 + headerLength + 7) & ~7;
  const arrays = {};
  for (const a of header.arrays) {
    const Type = DTYPES[a.dtype];
    arrays[a.name] = {
      data: new Type(buffer, base + a.offset, a.nbytes / Type.BYTES_PER_ELEMENT),
      shape: a.shape,
    };
  }
  return { kind: header.kind, meta: header.meta, arrays };
}

function newSessionId() {
  if (crypto.randomUUID) return crypto.randomUUID().replace(/-/g, "");
  return Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join("");
}

export class LabSocket extends EventTarget {
  constructor(lab, { resync = null } = {}) {
    super();
    this.lab = lab;
    this.resync = resync;
    this.syncing = false; // between hello and the first `configured` after it
    const key = `torchplay-session-${lab}`;
    this.sessionId = sessionStorage.getItem(key) || newSessionId();
    sessionStorage.setItem(key, this.sessionId);
    this.pending = [];          // messages sent while disconnected, replayed on open (bounded)
    this.retry = 0;
    this.closedByUs = false;
    this.status = document.getElementById("conn-status");
    this.connect();
    window.addEventListener("beforeunload", () => { this.closedByUs = true; this.ws?.close(); });
  }

  connect() {
    const proto = location.protocol === "https:" ? "wss" : "ws";
    const url = `${proto}://${location.host}/ws?lab=${encodeURIComponent(this.lab)}&session=${this.sessionId}`;
    const ws = new WebSocket(url);
    ws.binaryType = "arraybuffer";
    this.ws = ws;
    let opened = false;
    this.setStatus("connecting", "connecting…");
    ws.onopen = () => {
      opened = true;
      this.retry = 0;
      this.setStatus("open", "live");
      const queued = this.pending.splice(0);
      for (const m of queued) ws.send(JSON.stringify(m));
      this.emit("open", {});
    };
    ws.onmessage = (event) => {
      if (typeof event.data === "string") {
        const message = JSON.parse(event.data);
        if (message.type === "hello") {
          const label = document.getElementById("device-label");
          if (label) label.textContent = message.device;
          this.hello = message;
          this.syncing = true;
        }
        if (message.type === "error") showError(message.message);
        const first = this.syncing && message.type === "configured";
        if (first) this.syncing = false;
        const correction = first && this.resync ? this.resync(message, this.hello) : null;
        if (correction) this.send(correction);
        this.emit(message.type, { ...message, resyncing: Boolean(correction) });
        if (first) this.emit("resync", { corrected: Boolean(correction) });
      } else {
        const frame = decodeFrame(event.data);
        this.emit(`frame:${frame.kind}`, frame);
      }
    };
    ws.onclose = (event) => {
      this.emit("close", { code: event.code });
      if (this.closedByUs) return;
      if (event.code === 4001) {
        this.setStatus("closed", "opened elsewhere");
        showError("This session was opened in another tab. Reload to take it back.");
        return;
      }
      if (event.code === 1008) {
        this.setStatus("closed", "refused");
        return;
      }
      if (!opened) {
        // Refused at the handshake (the browser cannot read why) or the server is down: ask.
        this.admission().then((reason) => {
          if (reason) {
            this.setStatus("closed", "refused");
            showError(reason);
          } else {
            this.setStatus("closed", "reconnecting…");
          }
          setTimeout(() => this.connect(), reason ? 10000 : this.backoff());
        });
        return;
      }
      this.setStatus("closed", "reconnecting…");
      setTimeout(() => this.connect(), this.backoff());
    };
  }

  backoff() {
    return Math.min(5000, 250 * 2 ** this.retry++);
  }

  // Why the server would refuse this page's socket (a sentence), or null if it would not (or
  // cannot be reached: then we just retry).
  async admission() {
    try {
      const query = `lab=${encodeURIComponent(this.lab)}&session=${this.sessionId}`;
      const response = await fetch(`/api/admission?${query}`);
      const body = await response.json();
      return body.ok ? null : body.reason;
    } catch {
      return null;
    }
  }

  setStatus(state, text) {
    if (!this.status) return;
    this.status.dataset.state = state;
    this.status.textContent = text;
  }

  emit(type, detail) {
    this.dispatchEvent(new CustomEvent(type, { detail }));
  }

  on(type, fn) {
    this.addEventListener(type, (e) => fn(e.detail));
    return this;
  }

  send(message) {
    if (this.ws && this.ws.readyState === WebSocket.OPEN) {
      this.ws.send(JSON.stringify(message));
    } else if (this.pending.length < 32) {
      this.pending.push(message);
    }
  }

  // REST helper: POST a file (multipart) to /api/... with this session; resolves to JSON,
  // rejects with the server's message.
  async upload(path, file, fields = {}) {
    const form = new FormData();
    form.append("file", file);
    for (const [k, v] of Object.entries(fields)) form.append(k, v);
    const sep = path.includes("?") ? "&" : "?";
    const response = await fetch(`${path}${sep}session=${this.sessionId}`, { method: "POST", body: form });
    const body = await response.json().catch(() => ({}));
    if (!response.ok) {
      const detail = typeof body.detail === "string" ? body.detail : JSON.stringify(body.detail || body);
      throw new Error(detail || `upload failed (${response.status})`);
    }
    return body;
  }
}
