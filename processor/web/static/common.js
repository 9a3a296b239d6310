// Shared by the pages: fetch JSON (with a time limit), pass ?at= through, format, say state.
"use strict";
const Energy = {
  at: new URLSearchParams(location.search).get("at"),
  refreshEvery: 10000,
  timeoutMs: 8000, // a slower answer is shown as "the API is slow", never as a blank page

  withAt(path) {
    if (!this.at) return path;
    return `${path}${path.includes("?") ? "&" : "?"}at=${encodeURIComponent(this.at)}`;
  },

  async json(path, { at = true } = {}) {
    const controller = new AbortController();
    const timer = setTimeout(() => controller.abort(), this.timeoutMs);
    let response;
    try {
      response = await fetch(at ? this.withAt(path) : path,
        { headers: { Accept: "application/json" }, signal: controller.signal });
    } catch (err) {
      throw new Error(err.name === "AbortError"
        ? `the API did not answer within ${this.timeoutMs / 1000} s`
        : "the API cannot be reached");
    } finally {
      clearTimeout(timer);
    }
    if (response.status === 401) { // keys are required and the login cookie is missing or stale
      location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
      throw new Error("an API key with the read scope is needed: opening the login page");
    }
    let body = null;
    try { body = await response.json(); } catch (_) { /* not JSON: said below */ }
    if (!response.ok) throw new Error((body && body.error) || `the API answered ${response.status}`);
    return body;
  },

  text(el, value) { el.textContent = value === null || value === undefined ? "–" : String(value); },
  field(name, value, root = document) {
    for (const el of root.querySelectorAll(`[data-field="${name}"]`)) this.text(el, value);
  },
  time(iso) { return iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC") : "–"; },
  percent(ratio) { return ratio === null || ratio === undefined ? "–" : `${(ratio * 100).toFixed(2)}%`; },
  status(s) { return s ? s.replace(/_/g, " ") : "–"; },

  // The page's state line: what is shown, and since when, or why it is old.
  lastGood: null,
  showError(err) {
    const box = document.getElementById("error");
    if (!box) return;
    box.hidden = !err;
    if (!err) { this.lastGood = new Date(); return; }
    box.textContent = this.lastGood
      ? `Could not refresh: ${err.message}. Showing the data of ${this.lastGood.toLocaleTimeString()}; retrying every ${this.refreshEvery / 1000} s.`
      : `Could not load the data: ${err.message}. Retrying every ${this.refreshEvery / 1000} s.`;
  },

  // A refresh loop that never overlaps itself.
  every(refresh) {
    let running = false;
    const tick = async () => {
      if (running) return;
      running = true;
      try { await refresh(); } finally { running = false; }
    };
    tick();
    setInterval(tick, this.refreshEvery);
  },
};
// "Log out" is shown once the login form was used (its marker cookie; the key's is HttpOnly).
document.addEventListener("DOMContentLoaded", () => {
  const logout = document.getElementById("logout");
  if (logout) logout.hidden = !document.cookie.split("; ").includes("energy_login=1");
  for (const a of document.querySelectorAll("a[data-keep-at]")) a.href = Energy.withAt(a.getAttribute("href"));
});
