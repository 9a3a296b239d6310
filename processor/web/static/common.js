// Shared helpers: fetch JSON, pass ?at= through to the API, format dates.
"use strict";
const Energy = {
  at: new URLSearchParams(location.search).get("at"),
  withAt(path) { return this.at ? `${path}?at=${encodeURIComponent(this.at)}` : path; },
  async json(path) {
    const response = await fetch(this.withAt(path), { headers: { Accept: "application/json" } });
    const body = await response.json();
    if (!response.ok) throw new Error(body.error || `HTTP ${response.status}`);
    return body;
  },
  text(el, value) { el.textContent = value === null || value === undefined ? "–" : String(value); },
  time(iso) { return iso ? iso.replace("T", " ").replace(/\.\d+/, "").replace("Z", " UTC") : "–"; },
  showError(err) {
    const box = document.getElementById("error");
    box.hidden = !err;
    if (err) box.textContent = `Could not load data: ${err.message}`;
  },
  refreshEvery: 10000,
};
