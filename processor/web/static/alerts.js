// Alerts: the vehicles below the threshold now (GET /v1/alerts) and the recent episodes
// (GET /v1/alerts/history): when each crossed and when it recovered.
"use strict";
(() => {
  const SHOWN = 100; // the worst ones; the fleet page, filtered, pages through the rest
  document.getElementById("more-link").href = Energy.withAt("/?status=low_efficiency&sort=efficiency");
  function vehicleCell(vehicleId) {
    const th = document.createElement("th");
    th.scope = "row";
    const a = document.createElement("a");
    a.href = Energy.withAt(`/vehicles/${encodeURIComponent(vehicleId)}`);
    a.textContent = vehicleId;
    th.appendChild(a);
    return th;
  }

  function row(vehicleId, cells, data) {
    const tr = document.createElement("tr");
    Object.assign(tr.dataset, data);
    tr.appendChild(vehicleCell(vehicleId));
    for (const [text, cls] of cells) {
      const td = document.createElement("td");
      if (cls) td.className = cls;
      td.textContent = text;
      tr.appendChild(td);
    }
    return tr;
  }

  function fill(id, rows, empty, columns) {
    if (!rows.length) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = columns;
      td.textContent = empty;
      tr.appendChild(td);
      rows = [tr];
    }
    document.getElementById(id).replaceChildren(...rows);
  }

  async function refresh() {
    try {
      const [active, history] = await Promise.all([
        Energy.json("/v1/alerts", { at: false }), Energy.json("/v1/alerts/history?limit=500", { at: false })]);
      Energy.field("activeCount", active.alerts.length.toLocaleString("en"));
      const more = document.getElementById("more-active");
      more.hidden = active.alerts.length <= SHOWN;
      Energy.field("moreCount", (active.alerts.length - SHOWN).toLocaleString("en"));
      fill("active-body", active.alerts.slice(0, SHOWN).map((a) => row(a.vehicleId, [
        [a.meterId || "–"], [a.efficiency, "num"], [`${(a.threshold * 100).toFixed(0)}%`, "num"],
        [Energy.time(a.since)]], { vehicleId: a.vehicleId })), "No vehicle is below the threshold.", 5);
      fill("recent-body", history.episodes.map((e) => row(e.vehicleId, [
        [Energy.time(e.crossedAt)], [e.efficiency, "num"],
        [e.recoveredAt ? Energy.time(e.recoveredAt) : "still below"],
        [e.endedBy === "recovered" ? `recovered (${e.recoveredEfficiency})`
          : e.endedBy === "idle" ? "closed: idle" : "active"]],
      { vehicleId: e.vehicleId, crossedAt: e.crossedAt })), "No alert so far.", 5);
      Energy.text(document.getElementById("refreshed"), new Date().toLocaleTimeString());
      Energy.showError(null);
      document.body.dataset.loaded = "true";
    } catch (err) {
      Energy.showError(err);
    }
  }
  Energy.every(refresh);
})();
