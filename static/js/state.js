// Page state in the URL hash, so a configuration is a shareable link: #s=<base64url(JSON)>.

export function encodeState(obj) {
  const bytes = new TextEncoder().encode(JSON.stringify(obj));
  let binary = "";
  for (let i = 0; i < bytes.length; i += 0x8000) binary += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(binary).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

export function decodeState(hash) {
  const match = /(?:^#|&)s=([A-Za-z0-9_-]+)/.exec(hash || "");
  if (!match) return null;
  try {
    const b64 = match[1].replace(/-/g, "+").replace(/_/g, "/");
    const binary = atob(b64 + "===".slice((b64.length + 3) % 4));
    const bytes = Uint8Array.from(binary, (c) => c.charCodeAt(0));
    return JSON.parse(new TextDecoder().decode(bytes));
  } catch {
    return null;
  }
}

// Deep-merge a saved state over defaults (only keys the defaults know, plus arrays as given).
export function merge(defaults, saved) {
  if (saved === null || typeof saved !== "object" || Array.isArray(defaults)) return saved ?? defaults;
  const out = { ...defaults };
  for (const [k, v] of Object.entries(saved)) {
    out[k] = k in defaults && defaults[k] && typeof defaults[k] === "object" && !Array.isArray(defaults[k])
      ? merge(defaults[k], v) : v;
  }
  return out;
}

export function loadState(defaults) {
  const saved = decodeState(location.hash);
  return saved ? merge(defaults, saved) : structuredClone(defaults);
}

export function saveState(obj) {
  const hash = `#s=${encodeState(obj)}`;
  if (location.hash !== hash) history.replaceState(null, "", hash);
}
