// The fleet a page at a time: the server pages, sorts, searches and filters
// (GET /v1/analytics/fleet?limit&offset&sort&q&status); the page keeps them in its address, so
// a view can be bookmarked, and refreshes every 10 s re-rendering only the rows that changed.
"use strict";
(() => {
  const STATUSES = ["low_efficiency", "ok", "idle", "no_meter_linked", "no_data"];
  const body = document.getElementById("fleet-body");
  const table = document.getElementById("fleet");
  const headers = [...document.querySelectorAll("#fleet th[data-sort]")];
  const form = { q: document.getElementById("q"), status: document.getElementById("status"),
                 limit: document.getElementById("limit") };
  const params = new URLSearchParams(location.search);
  const state = {
    q: params.get("q") || "", status: params.get("status") || "",
    sort: params.get("sort") || "worst", limit: Number(params.get("limit")) || 50,
    offset: Math.max(0, Number(params.get("offset")) || 0),
  };
  let total = 0;
  let asked = 0; // answers to older requests are dropped

  function syncForm() {
    form.q.value = state.q;
    form.status.value = STATUSES.includes(state.status) ? state.status : "";
    if (![...form.limit.options].some((o) => o.value === String(state.limit))) {
      form.limit.add(new Option(String(state.limit)));
    }
    form.limit.value = String(state.limit);
  }

  function query() {
    const q = new URLSearchParams();
    q.set("limit", state.limit);
    if (state.offset) q.set("offset", state.offset);
    if (state.sort !== "worst") q.set("sort", state.sort);
    if (state.q) q.set("q", state.q);
    if (state.status) q.set("status", state.status);
    return q;
  }

  function remember() {
    const q = query();
    if (Energy.at) q.set("at", Energy.at);
    history.replaceState(null, "", `${location.pathname}?${q}`);
  }

  function fixed(value, digits) { return value === null || value === undefined ? null : value.toFixed(digits); }

  const COLUMNS = [
    ["meterId", (v) => (v.meterId ? v.meterId + (v.link === "inferred" ? " (inferred)" : "") : null)],
    ["soc", (v) => fixed(v.soc, 1), "num"],
    ["batteryTemp", (v) => fixed(v.batteryTemp, 1), "num"],
    ["lastSeen", (v) => Energy.time(v.lastSeen)],
    ["totalAcConsumed", (v) => v.totalAcConsumed, "num"],
    ["totalDcDelivered", (v) => v.totalDcDelivered, "num"],
    ["efficiency", (v) => v.efficiency, "num"],
  ];

  function makeRow(v) {
    const tr = document.createElement("tr");
    const th = document.createElement("th");
    th.scope = "row";
    th.dataset.field = "vehicleId";
    const link = document.createElement("a");
    link.href = Energy.withAt(`/vehicles/${encodeURIComponent(v.vehicleId)}`);
    link.textContent = v.vehicleId;
    th.appendChild(link);
    tr.appendChild(th);
    for (const [field, , cls] of COLUMNS) {
      const td = document.createElement("td");
      td.dataset.field = field;
      if (cls) td.className = cls;
      tr.appendChild(td);
    }
    const td = document.createElement("td");
    td.dataset.field = "status";
    td.appendChild(document.createElement("span"));
    tr.appendChild(td);
    return tr;
  }

  function fillRow(tr, v) {
    tr.dataset.vehicleId = v.vehicleId;
    tr.dataset.status = v.status;
    tr.classList.toggle("flagged", v.status === "low_efficiency" || !!v.alert);
    for (const [field, value] of COLUMNS) {
      Energy.text(tr.querySelector(`td[data-field="${field}"]`), value(v));
    }
    const badge = tr.querySelector('td[data-field="status"] span');
    badge.className = `badge ${v.status}`;
    badge.textContent = Energy.status(v.status);
    badge.title = v.statusReason || "";
  }

  // Rows keyed by vehicle id; a row is touched only when its data changed.
  const shown = new Map(); // vehicleId -> {tr, json}
  function render(vehicles) {
    const next = new Map();
    const order = vehicles.map((v) => {
      const json = JSON.stringify(v);
      let entry = shown.get(v.vehicleId);
      if (!entry) entry = { tr: makeRow(v), json: null };
      if (entry.json !== json) { fillRow(entry.tr, v); entry.json = json; }
      next.set(v.vehicleId, entry);
      return entry.tr;
    });
    for (const [id, entry] of shown) if (!next.has(id)) entry.tr.remove();
    order.forEach((tr, i) => { if (body.children[i] !== tr) body.insertBefore(tr, body.children[i] || null); });
    shown.clear();
    for (const [id, entry] of next) shown.set(id, entry);
    if (vehicles.length === 0) {
      const tr = document.createElement("tr");
      tr.className = "empty";
      const td = document.createElement("td");
      td.colSpan = headers.length;
      td.textContent = state.q || state.status ? "No vehicle matches the search." : "No vehicle has reported yet.";
      tr.appendChild(td);
      body.replaceChildren(tr);
    } else {
      for (const tr of body.querySelectorAll("tr.empty")) tr.remove();
    }
  }

  function renderHeaders() {
    const desc = state.sort.startsWith("-");
    const key = state.sort.replace(/^-/, "");
    for (const th of headers) {
      const on = th.dataset.sort === key;
      th.setAttribute("aria-sort", on ? (desc ? "descending" : "ascending") : "none");
      th.classList.toggle("sorted-asc", on && !desc);
      th.classList.toggle("sorted-desc", on && desc);
    }
  }

  function renderPager(count) {
    total = count;
    const from = count ? state.offset + 1 : 0;
    const to = Math.min(state.offset + state.limit, count);
    const text = `${from.toLocaleString("en")}–${to.toLocaleString("en")} of ${count.toLocaleString("en")}`;
    Energy.text(document.getElementById("page"), text);
    Energy.text(document.getElementById("range"), `Vehicles ${text}` +
      (state.q ? ` matching “${state.q}”` : "") + (state.status ? `, ${Energy.status(state.status)}` : ""));
    document.getElementById("first").disabled = state.offset === 0;
    document.getElementById("prev").disabled = state.offset === 0;
    document.getElementById("next").disabled = state.offset + state.limit >= count;
  }

  function renderSummary(fleet) {
    const s = fleet.summary;
    Energy.text(document.getElementById("window-end"), Energy.time(fleet.window.end));
    Energy.text(document.getElementById("threshold"), `${(fleet.threshold * 100).toFixed(0)}%`);
    Energy.text(document.getElementById("count"), fleet.count.toLocaleString("en"));
    Energy.text(document.getElementById("min-charge"), `${fleet.minChargeKwh} kWh`);
    Energy.field("fleetEfficiency", s.efficiency);
    Energy.field("judged", s.judged.toLocaleString("en"));
    const list = document.getElementById("status-counts");
    if (!list.children.length) { // made once: a refresh must not take the keyboard focus away
      list.replaceChildren(...STATUSES.map((st) => {
        const li = document.createElement("li");
        const button = document.createElement("button");
        button.type = "button";
        button.className = `badge ${st}`;
        button.dataset.status = st;
        button.addEventListener("click", () => {
          state.status = state.status === st ? "" : st;
          state.offset = 0;
          syncForm();
          load();
        });
        li.appendChild(button);
        return li;
      }));
    }
    for (const button of list.querySelectorAll("button")) {
      const st = button.dataset.status;
      button.setAttribute("aria-pressed", String(state.status === st));
      button.textContent = `${Energy.status(st)}: ${(s.statusCounts[st] || 0).toLocaleString("en")}`;
    }
    const bins = s.histogram;
    const most = Math.max(1, ...bins.map((b) => b.count));
    const hist = document.getElementById("histogram");
    const label = (b) => (b.from === null ? `under ${b.to}%` : b.to === null ? `${b.from}% and over` : `${b.from}–${b.to}%`);
    hist.setAttribute("aria-label", `Vehicles per efficiency band, threshold ${s.thresholdPercent}%: ` +
      bins.filter((b) => b.count).map((b) => `${label(b)}: ${b.count}`).join("; "));
    hist.replaceChildren(...bins.map((b) => {
      const bar = document.createElement("div");
      const below = b.to !== null && b.to <= s.thresholdPercent;
      bar.className = `bin ${below ? "below" : "above"}`;
      bar.style.setProperty("--h", `${(b.count / most) * 100}%`);
      bar.title = `${label(b)}: ${b.count} vehicles`;
      const count = document.createElement("span");
      count.className = "count";
      count.textContent = b.count ? String(b.count) : "";
      const edge = document.createElement("span");
      edge.className = "edge";
      edge.textContent = b.from === null ? `<${b.to}` : `${b.from}`;
      bar.append(count, edge);
      return bar;
    }));
    const mark = document.createElement("div");
    mark.className = "threshold";
    const first = bins[1].from, last = bins[bins.length - 1].from, step = bins[1].to - bins[1].from;
    // the bars: one below the first edge, one per step, one above the last edge
    const position = (1 + (s.thresholdPercent - first) / step) / bins.length;
    mark.style.left = `${Math.max(0, Math.min(1, position)) * 100}%`;
    mark.title = `threshold ${s.thresholdPercent}%`;
    if (s.thresholdPercent >= first && s.thresholdPercent <= last) hist.appendChild(mark);
  }

  async function load() {
    const mine = ++asked;
    remember();
    table.setAttribute("aria-busy", "true");
    try {
      const fleet = await Energy.json(`/v1/analytics/fleet?${query()}`);
      if (mine !== asked) return;
      if (fleet.total > 0 && state.offset >= fleet.total) { // the fleet shrank under the page
        state.offset = Math.max(0, Math.floor((fleet.total - 1) / state.limit) * state.limit);
        return load();
      }
      renderSummary(fleet);
      render(fleet.vehicles);
      renderHeaders();
      renderPager(fleet.total);
      Energy.text(document.getElementById("refreshed"), new Date().toLocaleTimeString());
      Energy.showError(null);
      if (document.body.dataset.loaded !== "true") performance.mark("energy-loaded");
      document.body.dataset.loaded = "true";
    } catch (err) {
      if (mine !== asked) return;
      Energy.showError(err);
      if (!shown.size) render([]); // a clear state, never a blank table
      if (!shown.size) body.querySelector("tr.empty td").textContent = `No data yet: ${err.message}.`;
    } finally {
      if (mine === asked) table.setAttribute("aria-busy", "false");
    }
  }

  for (const th of headers) {
    th.querySelector("button").addEventListener("click", () => {
      const key = th.dataset.sort;
      state.sort = state.sort === key ? `-${key}` : state.sort === `-${key}` ? "worst" : key;
      state.offset = 0;
      load();
    });
  }
  let typing = null;
  form.q.addEventListener("input", () => {
    clearTimeout(typing);
    typing = setTimeout(() => { state.q = form.q.value.trim(); state.offset = 0; load(); }, 250);
  });
  document.getElementById("controls").addEventListener("submit", (e) => {
    e.preventDefault();
    clearTimeout(typing);
    state.q = form.q.value.trim();
    state.offset = 0;
    load();
  });
  form.status.addEventListener("change", () => { state.status = form.status.value; state.offset = 0; load(); });
  form.limit.addEventListener("change", () => { state.limit = Number(form.limit.value); state.offset = 0; load(); });
  document.getElementById("first").addEventListener("click", () => { state.offset = 0; load(); });
  document.getElementById("prev").addEventListener("click", () => { state.offset = Math.max(0, state.offset - state.limit); load(); });
  document.getElementById("next").addEventListener("click", () => {
    if (state.offset + state.limit < total) { state.offset += state.limit; load(); }
  });

  syncForm();
  Energy.every(load);
})();
