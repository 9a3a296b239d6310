// The seed's two reading shapes, checked as processor/domain/readings.py checks them (types,
// ranges, ids, an ISO-8601 timestamp with a zone, at most 5 minutes ahead and not before
// 2000-01-01, no unknown fields), by hand: what a fast Node.js implementation does.

export const MAX_READINGS = 10_000; // a JSON array, as the gateway takes
const DEVICE_ID = /^[A-Za-z0-9._:-]{1,64}$/;
const MAX_KWH = 10_000;
const MAX_FUTURE_MS = 5 * 60 * 1000;
const EARLIEST_MS = Date.UTC(2000, 0, 1);
// date, T or space, time (seconds and fraction optional), then Z or an offset
const ISO = /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(\.\d{1,9})?)?(?:([Zz])|([+-])(\d{2})(?::?(\d{2}))?)$/;

const METER_FIELDS = new Set(["type", "meterId", "kwhConsumedAc", "voltage", "timestamp"]);
const VEHICLE_FIELDS = new Set(["type", "vehicleId", "soc", "kwhDeliveredDc", "batteryTemp",
  "meterId", "timestamp"]);

// The instant (ms since the epoch) a zoned ISO-8601 string names, or null.
export function parseTimestamp(value) {
  if (typeof value !== "string") return null;
  const m = ISO.exec(value);
  if (m === null) return null;
  const [year, month, day, hour, minute] = [m[1], m[2], m[3], m[4], m[5]].map(Number);
  const second = m[6] === undefined ? 0 : Number(m[6]);
  if (month < 1 || month > 12 || day < 1 || hour > 23 || minute > 59 || second > 59) return null;
  if (day > new Date(Date.UTC(year, month, 0)).getUTCDate()) return null;
  let offset = 0;
  if (m[8] === undefined) {
    const hours = Number(m[10]);
    const minutes = m[11] === undefined ? 0 : Number(m[11]);
    if (hours > 23 || minutes > 59) return null;
    offset = (m[9] === "-" ? -1 : 1) * (hours * 60 + minutes) * 60_000;
  }
  const fraction = m[7] === undefined ? 0 : Number(m[7]) * 1000;
  return Date.UTC(year, month - 1, day, hour, minute, second) + fraction - offset;
}

function number(value, low, high, lowOpen = false) {
  return typeof value === "number" && Number.isFinite(value)
    && (lowOpen ? value > low : value >= low) && value <= high;
}

function deviceId(value) {
  return typeof value === "string" && DEVICE_ID.test(value);
}

// null when `r` is a valid reading, else the first field at fault with why.
export function readingError(r, now = Date.now()) {
  if (r === null || typeof r !== "object" || Array.isArray(r)) return "a reading must be an object";
  const kind = r.type !== undefined ? r.type
    : r.vehicleId !== undefined ? "vehicle" : r.meterId !== undefined ? "meter" : undefined;
  let fields;
  if (kind === "meter") {
    fields = METER_FIELDS;
    if (!deviceId(r.meterId)) return "meterId: must be 1-64 of A-Z a-z 0-9 . _ : -";
    if (!number(r.kwhConsumedAc, 0, MAX_KWH)) return `kwhConsumedAc: must be a number in [0, ${MAX_KWH}]`;
    if (!number(r.voltage, 0, 2000, true)) return "voltage: must be a number in (0, 2000]";
  } else if (kind === "vehicle") {
    fields = VEHICLE_FIELDS;
    if (!deviceId(r.vehicleId)) return "vehicleId: must be 1-64 of A-Z a-z 0-9 . _ : -";
    if (!number(r.soc, 0, 100)) return "soc: must be a number in [0, 100]";
    if (!number(r.kwhDeliveredDc, 0, MAX_KWH)) return `kwhDeliveredDc: must be a number in [0, ${MAX_KWH}]`;
    if (!number(r.batteryTemp, -60, 150)) return "batteryTemp: must be a number in [-60, 150]";
    if (r.meterId !== undefined && r.meterId !== null && !deviceId(r.meterId)) {
      return "meterId: must be 1-64 of A-Z a-z 0-9 . _ : -";
    }
  } else {
    return "type: must be meter or vehicle (or a meterId or vehicleId given)";
  }
  const ts = parseTimestamp(r.timestamp);
  if (ts === null) return "timestamp: must be an ISO-8601 date-time with a time zone";
  if (ts - now > MAX_FUTURE_MS) return "timestamp: is more than 5 minutes in the future";
  if (ts < EARLIEST_MS) return "timestamp: is before 2000-01-01T00:00:00Z";
  for (const key in r) {
    if (!fields.has(key)) return `${key}: unknown field`;
  }
  return null;
}

// A decoded body: one reading or an array of them. {readings} when all are valid, else {error}.
export function validateBody(body, now = Date.now()) {
  const readings = Array.isArray(body) ? body : [body];
  if (readings.length === 0) return { error: "no readings" };
  if (readings.length > MAX_READINGS) return { error: `more than ${MAX_READINGS} readings` };
  for (let i = 0; i < readings.length; i++) {
    const error = readingError(readings[i], now);
    if (error !== null) return { error: Array.isArray(body) ? `[${i}] ${error}` : error };
  }
  return { readings };
}
