// What the server put into the page before its socket opens (templates/base.html, id="boot"):
// this lab's limits (settings) and its full default config. The one source of both for the page.
const element = document.getElementById("boot");
export const BOOT = element ? JSON.parse(element.textContent) : { lab: "", limits: {}, defaults: {} };
export const LIMITS = BOOT.limits;
export const DEFAULTS = BOOT.defaults;
