// The fleet table: worst efficiency first, sortable by any column, refreshed every 10 s.
"use strict";
(() => {
  const body = document.getElementById("fleet-body");
  const headers = [...document.querySelectorAll("#fleet th[data-sort]")];
  let rows = [];
  let sort = null; // {key, type, dir}; null keeps the API's order (worst efficiency first)

  function cell(tr, field, value, cls) {
    const td = document.createElement("td");
    td.dataset.field = field;
    if (cls) td.className = cls;
    Energy.text(td, value);
    tr.appendChild(td);
    return td;
  }

  function fixed(value, digits) { return value === null || value === undefined ? null : value.toFixed(digits); }

  function compare(a, b) {
    const x = a[sort.key], y = b[sort.key];
    if (x === y) return 0;
    if (x === null || x === undefined) return 1; // blanks last either way
    if (y === null || y === undefined) return -1;
    const order = sort.type === "number" ? Number(x) - Number(y) : String(x).localeCompare(String(y));
    return sort.dir === "asc" ? order : -order;
  }

  function render() {
    const ordered = sort ? [...rows].sort(compare) : rows;
    body.replaceChildren(...ordered.map((v) => {
      const tr = document.createElement("tr");
      tr.dataset.vehicleId = v.vehicleId;
      tr.dataset.status = v.status;
      if (v.status === "low_efficiency" || v.alert) tr.classList.add("flagged");
      const link = document.createElement("a");
      link.href = Energy.withAt(`/vehicles/${encodeURIComponent(v.vehicleId)}`);
      link.textContent = v.vehicleId;
      cell(tr, "vehicleId", "").appendChild(link);
      cell(tr, "meterId", v.meterId ? v.meterId + (v.link === "inferred" ? " (inferred)" : "") : null);
      cell(tr, "soc", fixed(v.soc, 1), "num");
      cell(tr, "batteryTemp", fixed(v.batteryTemp, 1), "num");
      cell(tr, "lastSeen", Energy.time(v.lastSeen));
      cell(tr, "totalAcConsumed", v.totalAcConsumed, "num");
      cell(tr, "totalDcDelivered", v.totalDcDelivered, "num");
      cell(tr, "efficiency", v.efficiency, "num");
      const badge = document.createElement("span");
      badge.className = `badge ${v.status}`;
      badge.textContent = v.status.replace(/_/g, " ");
      badge.title = v.statusReason || "";
      cell(tr, "status", "").appendChild(badge);
      return tr;
    }));
    for (const th of headers) {
      th.classList.toggle("sorted-asc", !!sort && sort.key === th.dataset.sort && sort.dir === "asc");
      th.classList.toggle("sorted-desc", !!sort && sort.key === th.dataset.sort && sort.dir === "desc");
    }
  }

  function renderAlerts(alerts) {
    const list = document.getElementById("alert-list");
    document.getElementById("alerts").hidden = alerts.length === 0;
    list.replaceChildren(...alerts.map((a) => {
      const li = document.createElement("li");
      li.dataset.vehicleId = a.vehicleId;
      li.textContent = `${a.vehicleId} (meter ${a.meterId}): ${a.efficiency} below ` +
        `${(a.threshold * 100).toFixed(0)}% since ${Energy.time(a.since)}`;
      return li;
    }));
  }

  async function refresh() {
    try {
      const [fleet, alerts] = await Promise.all([Energy.json("/v1/analytics/fleet"), Energy.json("/v1/alerts")]);
      rows = fleet.vehicles;
      Energy.text(document.getElementById("window-end"), Energy.time(fleet.window.end));
      Energy.text(document.getElementById("threshold"), `${(fleet.threshold * 100).toFixed(0)}%`);
      Energy.text(document.getElementById("count"), fleet.count);
      const counts = fleet.statusCounts || {};
      Energy.text(document.getElementById("status-counts"), ["low_efficiency", "ok", "idle", "no_data", "no_meter_linked"]
        .filter((s) => counts[s]).map((s) => `${counts[s]} ${s.replace(/_/g, " ")}`).join(" · "));
      Energy.text(document.getElementById("min-charge"), `${fleet.minChargeKwh} kWh`);
      Energy.text(document.getElementById("refreshed"), new Date().toLocaleTimeString());
      render();
      renderAlerts(alerts.alerts);
      Energy.showError(null);
      document.body.dataset.loaded = "true";
    } catch (err) {
      Energy.showError(err);
    }
  }

  for (const th of headers) {
    th.addEventListener("click", () => {
      const key = th.dataset.sort;
      const dir = sort && sort.key === key && sort.dir === "asc" ? "desc" : "asc";
      sort = { key, type: th.dataset.type, dir };
      render();
    });
  }
  refresh();
  setInterval(refresh, Energy.refreshEvery);
})();
