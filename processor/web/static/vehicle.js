// One vehicle: its 24-hour figures, live reading, the hourly chart, 7 days against the
// threshold, and its alert history.
"use strict";
(() => {
  const vehicleId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
  const id = encodeURIComponent(vehicleId);
  const api = `/v1/analytics/performance/${id}`;
  const DAY = 86400000;
  document.title = `Vehicle ${vehicleId}`;
  let threshold = null;

  function hoursTable(hours) {
    document.getElementById("hours-body").replaceChildren(...hours.map((h) => {
      const tr = document.createElement("tr");
      tr.dataset.hour = h.start;
      const th = document.createElement("th");
      th.scope = "row";
      th.textContent = Energy.time(h.start);
      tr.appendChild(th);
      for (const [value, cls] of [[h.acKwh.toFixed(3), "num"], [h.dcKwh.toFixed(3), "num"],
                                  [h.efficiencyRatio === null ? "no charging" : h.efficiency, "num"]]) {
        const td = document.createElement("td");
        td.className = cls;
        td.textContent = value;
        tr.appendChild(td);
      }
      return tr;
    }));
  }

  async function live() {
    try {
      const reading = await Energy.json(`/v1/vehicles/${id}/live`, { at: false });
      Energy.field("liveSoc", reading.soc);
      Energy.field("liveBatteryTemp", reading.batteryTemp);
      Energy.field("liveDc", reading.kwhDeliveredDc);
      Energy.field("liveAt", Energy.time(reading.timestamp));
    } catch (err) {
      for (const f of ["liveSoc", "liveBatteryTemp", "liveDc"]) Energy.field(f, null);
      Energy.field("liveAt", `none (${err.message})`);
    }
  }

  async function days() {
    const end = Energy.at ? Date.parse(Energy.at) : Date.now();
    const ends = [...Array(7).keys()].reverse().map((d) => new Date(end - d * DAY).toISOString());
    const answers = await Promise.all(ends.map((at) =>
      Energy.json(`${api}?at=${encodeURIComponent(at)}`, { at: false }).catch(() => null)));
    const points = answers.map((a, i) => {
      const judged = a && (a.status === "ok" || a.status === "low_efficiency");
      const ac = a ? Number(a.metrics.totalAcConsumed) : 0;
      return { end: ends[i], ratio: judged && ac > 0 ? Number(a.metrics.totalDcDelivered) / ac : null };
    });
    Charts.days("days", points, threshold);
  }

  async function alerts() {
    const history = await Energy.json(`/v1/alerts/history?vehicleId=${id}&limit=200`, { at: false });
    const rows = history.episodes.map((e) => {
      const tr = document.createElement("tr");
      tr.dataset.crossedAt = e.crossedAt;
      const cells = [Energy.time(e.crossedAt), e.efficiency,
        e.recoveredAt ? Energy.time(e.recoveredAt) : "still below",
        e.endedBy === "recovered" ? `recovered (${e.recoveredEfficiency})`
          : e.endedBy === "idle" ? "closed: idle, too little charging to judge" : "active"];
      cells.forEach((text, i) => {
        const td = document.createElement("td");
        if (i === 1) td.className = "num";
        td.textContent = text;
        tr.appendChild(td);
      });
      return tr;
    });
    if (!rows.length) {
      const tr = document.createElement("tr");
      const td = document.createElement("td");
      td.colSpan = 4;
      td.textContent = "No alert so far.";
      tr.appendChild(td);
      rows.push(tr);
    }
    document.getElementById("vehicle-alerts-body").replaceChildren(...rows);
  }

  async function refresh() {
    try {
      const [perf, hourly] = await Promise.all([Energy.json(api), Energy.json(`${api}/hourly`)]);
      threshold = +(perf.threshold * 100).toFixed(2);
      Energy.field("vehicleId", perf.vehicleId);
      Energy.field("windowStart", Energy.time(perf.window.start));
      Energy.field("windowEnd", Energy.time(perf.window.end) + (perf.window.limitedBy
        ? ` (the ${perf.window.limitedBy}'s last reading so far)` : ""));
      Energy.field("meterId", perf.meterId);
      const meter = document.getElementById("meter-link");
      if (perf.meterId) meter.href = Energy.withAt(`/meters/${encodeURIComponent(perf.meterId)}`);
      else meter.removeAttribute("href");
      Energy.field("link", perf.link ? `${perf.link} link` : "no link");
      for (const [k, v] of Object.entries(perf.metrics)) Energy.field(k, v);
      Energy.field("status", Energy.status(perf.status));
      Energy.field("statusReason", perf.statusReason);
      document.body.dataset.status = perf.status;
      Charts.energy("chart", hourly.hours, threshold);
      hoursTable(hourly.hours);
      await Promise.all([live(), days(), alerts()]);
      Energy.showError(null);
      document.body.dataset.loaded = "true";
    } catch (err) {
      Energy.showError(err);
    }
  }
  Energy.every(refresh);
})();
