// Shared helpers: fetch JSON, pass ?at= through to the API, format dates.
"use strict";
const Energy = {
  at: new URLSearchParams(location.search).get("at"),
  withAt(path) { return this.at ? `${path}?at=${encodeURIComponent(this.at)}` : path; },
  async json(path) {
    const response = await fetch(this.withAt(path), { headers: { Accept: "application/json" } });
    if (response.status === 401) {  // keys are required and the login cookie is missing or stale
      location.assign(`/login?next=${encodeURIComponent(location.pathname + location.search)}`);
      throw new Error("an API key with the read scope is needed: opening the login page");
    }
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
// "Log out" is shown once the login form was used (its marker cookie; the key's is HttpOnly).
document.addEventListener("DOMContentLoaded", () => {
  const logout = document.getElementById("logout");
  if (logout) logout.hidden = !document.cookie.split("; ").includes("energy_login=1");
});
