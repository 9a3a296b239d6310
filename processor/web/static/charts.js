// Charts of the pages, drawn by uPlot (vendored: /static/uplot-*.min.js, VENDORED.md).
// Missing values are null: uPlot leaves a gap there, never a zero.
"use strict";
const Charts = {
  colors: { ac: "#2f5f8f", dc: "#2e7d32", eff: "#c62828", threshold: "#6b4e00" },
  made: new Map(), // element id -> uPlot, replaced on each refresh

  width(el) { return Math.max(320, el.clientWidth || 800); },

  seconds(iso) { return Date.parse(iso) / 1000; },

  place(id, opts, data) {
    const el = document.getElementById(id);
    const old = this.made.get(id);
    if (old && old.series.length === opts.series.length) {
      old.setData(data); // a refresh keeps the chart, its cursor and legend
      return old;
    }
    if (old) old.destroy();
    el.replaceChildren();
    const plot = new uPlot({ width: this.width(el), height: 300, ...opts }, data, el);
    this.made.set(id, plot);
    return plot;
  },

  // 0 to a round 10% above the highest value (at least 100%), whatever the data is now
  percentRange(values) {
    const top = Math.max(100, ...(values || []).filter((v) => v !== null && v !== undefined));
    return [0, Math.ceil(top / 10) * 10 + 10];
  },

  kwh(_u, values) { return values.map((v) => (v === null ? "" : `${+v.toFixed(3)} kWh`)); },
  pct(_u, values) { return values.map((v) => (v === null ? "" : `${+v.toFixed(1)}%`)); },
  hourTicks(_u, values) {
    return values.map((v) => new Date(v * 1000).toISOString().slice(11, 16));
  },
  dayTicks(_u, values) {
    return values.map((v) => new Date(v * 1000).toISOString().slice(5, 10));
  },

  // Hourly AC and DC bars (left, kWh) with the hour's efficiency (right, %) and the threshold.
  energy(id, hours, thresholdPercent, { dcLabel = "DC delivered" } = {}) {
    // each bar at its whole hour (the window's first hour starts mid-hour)
    const xs = hours.map((h) => Math.floor(this.seconds(h.start) / 3600) * 3600);
    const ac = hours.map((h) => h.acKwh);
    const dc = hours.map((h) => (h.dcKwh === undefined ? null : h.dcKwh));
    const eff = hours.map((h) => (h.efficiencyRatio === null || h.efficiencyRatio === undefined
      ? null : h.efficiencyRatio * 100));
    const bars = (offset) => uPlot.paths.bars({ size: [0.35, 40], align: offset });
    const series = [
      { label: "Hour (UTC)", value: (_u, v) => (v === null ? "–" : new Date(v * 1000).toISOString().slice(0, 13).replace("T", " ") + ":00") },
      { label: "AC consumed", scale: "kwh", stroke: this.colors.ac, fill: `${this.colors.ac}cc`, paths: bars(-1), points: { show: false }, value: (_u, v) => (v === null ? "–" : `${v.toFixed(3)} kWh`) },
    ];
    const data = [xs, ac];
    if (hours.length && hours[0].dcKwh !== undefined) {
      series.push({ label: dcLabel, scale: "kwh", stroke: this.colors.dc, fill: `${this.colors.dc}cc`, paths: bars(1), points: { show: false }, value: (_u, v) => (v === null ? "–" : `${v.toFixed(3)} kWh`) });
      data.push(dc);
      series.push({ label: "Efficiency", scale: "pct", stroke: this.colors.eff, width: 2, spanGaps: false, points: { show: true, size: 5 }, value: (_u, v) => (v === null ? "– (no charging)" : `${v.toFixed(2)}%`) });
      data.push(eff);
      if (thresholdPercent) {
        series.push({ label: "Threshold", scale: "pct", stroke: this.colors.threshold, dash: [6, 4], width: 1.5, points: { show: false }, value: () => `${thresholdPercent}%` });
        data.push(xs.map(() => thresholdPercent));
      }
    }
    const axes = [
      { values: this.hourTicks, label: "Hour (UTC)", labelSize: 18 },
      { scale: "kwh", values: this.kwh, size: 80, label: "Energy (kWh)", labelSize: 18 },
    ];
    if (data.length > 3) axes.push({ scale: "pct", side: 1, values: this.pct, size: 60, grid: { show: false }, label: "Efficiency (%)", labelSize: 18 });
    return this.place(id, {
      scales: { x: { time: true, range: (_u, min, max) => [min - 1800, max + 1800] }, kwh: { range: (_u, _min, max) => [0, Math.max(0.01, max) * 1.1] }, pct: { range: (u) => this.percentRange(u.data[3]) } },
      series, axes, cursor: { points: { show: false } }, legend: { live: true },
    }, data);
  },

  // One efficiency figure per day (%, gaps where none) against the threshold.
  days(id, points, thresholdPercent) {
    const xs = points.map((p) => this.seconds(p.end));
    const eff = points.map((p) => (p.ratio === null ? null : p.ratio * 100));
    return this.place(id, {
      height: 240,
      scales: { x: { time: true, range: (_u, min, max) => [min - 43200, max + 43200] }, pct: { range: (u) => this.percentRange(u.data[1]) } },
      series: [
        { label: "24 hours up to", value: (_u, v) => (v === null ? "–" : new Date(v * 1000).toISOString().slice(0, 16).replace("T", " ")) },
        { label: "Efficiency", scale: "pct", stroke: this.colors.eff, width: 2, spanGaps: false, points: { show: true, size: 8 }, value: (_u, v) => (v === null ? "– (idle or no data)" : `${v.toFixed(2)}%`) },
        { label: "Threshold", scale: "pct", stroke: this.colors.threshold, dash: [6, 4], width: 1.5, points: { show: false }, value: () => `${thresholdPercent}%` },
      ],
      axes: [
        // one tick a day, at its point (the day its 24 hours end), each day labelled once:
        // uPlot's own time ticks came every 12 hours, so each day was labelled twice
        { splits: (u) => u.data[0], values: this.dayTicks, label: "Day (UTC)", labelSize: 18 },
        { scale: "pct", values: this.pct, size: 60, label: "Efficiency (%)", labelSize: 18 },
      ],
    }, [xs, eff, xs.map(() => thresholdPercent)]);
  },
};
