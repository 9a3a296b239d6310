// One vehicle: its 24-hour figures and an SVG chart of hourly AC against DC with efficiency.
"use strict";
(() => {
  const vehicleId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
  const api = `/v1/analytics/performance/${encodeURIComponent(vehicleId)}`;
  const SVG = "http://www.w3.org/2000/svg";
  document.title = `Vehicle ${vehicleId}`;
  document.getElementById("back").href = Energy.withAt("/");

  function field(name, value) {
    for (const el of document.querySelectorAll(`[data-field="${name}"]`)) Energy.text(el, value);
  }

  function node(tag, attrs, parent, text) {
    const el = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs)) el.setAttribute(k, v);
    if (text !== undefined) el.textContent = text;
    if (parent) parent.appendChild(el);
    return el;
  }

  function chart(hours) {
    const W = 960, H = 320, left = 50, right = 50, top = 12, bottom = 40;
    const plotW = W - left - right, plotH = H - top - bottom;
    const max = Math.max(0.001, ...hours.flatMap((h) => [h.acKwh, h.dcKwh]));
    const svg = node("svg", { viewBox: `0 0 ${W} ${H}`, role: "img" });
    const y = (kwh) => top + plotH - (kwh / max) * plotH;
    const yEff = (ratio) => top + plotH - Math.min(ratio, 1.2) / 1.2 * plotH;
    for (let i = 0; i <= 4; i++) {
      const v = (max * i) / 4;
      node("line", { x1: left, x2: W - right, y1: y(v), y2: y(v), class: "grid" }, svg);
      node("text", { x: left - 6, y: y(v) + 4, "text-anchor": "end" }, svg, v.toFixed(2));
      node("text", { x: W - right + 6, y: yEff((1.2 * i) / 4) + 4 }, svg, `${(120 * i / 4).toFixed(0)}%`);
    }
    const slot = plotW / hours.length, bar = Math.max(1, slot * 0.38);
    const points = [];
    hours.forEach((h, i) => {
      const x = left + i * slot + slot * 0.1;
      const g = node("g", { "data-hour": h.start, "data-ac": h.acKwh, "data-dc": h.dcKwh }, svg);
      node("rect", { x, y: y(h.acKwh), width: bar, height: top + plotH - y(h.acKwh), class: "ac" }, g,
      ).appendChild(node("title", {}, null, `${h.start} AC ${h.acKwh.toFixed(3)} kWh`));
      node("rect", { x: x + bar, y: y(h.dcKwh), width: bar, height: top + plotH - y(h.dcKwh), class: "dc" }, g,
      ).appendChild(node("title", {}, null, `DC ${h.dcKwh.toFixed(3)} kWh, efficiency ${h.efficiency}`));
      if (h.efficiencyRatio !== null) points.push(`${x + bar},${yEff(h.efficiencyRatio)}`);
      if (i % 3 === 0) node("text", { x: x + bar, y: H - bottom + 16, "text-anchor": "middle" }, svg, h.start.slice(11, 16));
    });
    if (points.length > 1) node("polyline", { points: points.join(" "), class: "eff" }, svg);
    document.getElementById("chart").replaceChildren(svg);
  }

  async function refresh() {
    try {
      const [perf, hourly] = await Promise.all([Energy.json(api), Energy.json(`${api}/hourly`)]);
      field("vehicleId", perf.vehicleId);
      field("windowStart", Energy.time(perf.window.start));
      field("windowEnd", Energy.time(perf.window.end) + (perf.window.limitedBy
        ? ` (the ${perf.window.limitedBy}'s last reading so far)` : ""));
      field("meterId", perf.meterId);
      field("link", perf.link ? `${perf.link} link` : "no link");
      for (const [k, v] of Object.entries(perf.metrics)) field(k, v);
      field("status", perf.status.replace(/_/g, " "));
      field("statusReason", perf.statusReason);
      document.body.dataset.status = perf.status;
      chart(hourly.hours);
      Energy.showError(null);
      document.body.dataset.loaded = "true";
    } catch (err) {
      Energy.showError(err);
    }
  }
  refresh();
  setInterval(refresh, Energy.refreshEvery);
})();
