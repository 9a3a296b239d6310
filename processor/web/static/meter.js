// One meter: its live reading and its AC per hour (GET /v1/meters/{id}/live and /hours).
"use strict";
(() => {
  const meterId = decodeURIComponent(location.pathname.split("/").filter(Boolean).pop());
  const id = encodeURIComponent(meterId);
  document.title = `Meter ${meterId}`;
  Energy.field("meterId", meterId);
  document.getElementById("vehicles-link").href = Energy.withAt(`/?q=${id}`);

  async function refresh() {
    try {
      const hours = await Energy.json(`/v1/meters/${id}/hours`, { at: false });
      Charts.energy("chart", hours.hours.map((h) => ({ start: h.hour, acKwh: h.kwhConsumedAc })));
      try {
        const reading = await Energy.json(`/v1/meters/${id}/live`, { at: false });
        Energy.field("liveAc", reading.kwhConsumedAc);
        Energy.field("liveVoltage", reading.voltage);
        Energy.field("liveAt", Energy.time(reading.timestamp));
      } catch (err) {
        Energy.field("liveAt", `none (${err.message})`);
      }
      Energy.showError(null);
      document.body.dataset.loaded = "true";
    } catch (err) {
      Energy.showError(err);
    }
  }
  Energy.every(refresh);
})();
