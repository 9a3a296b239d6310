// node --test benchmarks/reference (no dependencies needed: validate.mjs and rows.mjs only)
import assert from "node:assert/strict";
import { test } from "node:test";

import { insertStatement, meterRow, vehicleRow } from "../rows.mjs";
import { parseTimestamp, readingError, validateBody } from "../validate.mjs";

const NOW = Date.UTC(2026, 11, 7, 12, 0, 0);
const meter = { type: "meter", meterId: "M-0001", kwhConsumedAc: 10.5, voltage: 230,
  timestamp: "2026-12-07T11:00:00Z" };
const vehicle = { type: "vehicle", vehicleId: "V-0001", soc: 75, kwhDeliveredDc: 8.5,
  batteryTemp: 32, timestamp: "2026-12-07T11:00:00+01:00", meterId: "M-0001" };

test("the seed's two shapes are valid, with or without type, alone or in an array", () => {
  assert.equal(readingError(meter, NOW), null);
  assert.equal(readingError(vehicle, NOW), null);
  const { type: _m, ...untypedMeter } = meter;
  const { type: _v, meterId: _l, ...untypedVehicle } = vehicle;
  assert.equal(readingError(untypedMeter, NOW), null);
  assert.equal(readingError(untypedVehicle, NOW), null);
  assert.deepEqual(validateBody(meter, NOW), { readings: [meter] });
  assert.deepEqual(validateBody([meter, vehicle], NOW), { readings: [meter, vehicle] });
});

test("wrong types, ranges, ids, unknown fields and shapes are refused", () => {
  const bad = [
    { ...meter, kwhConsumedAc: "10.5" }, { ...meter, kwhConsumedAc: -1 },
    { ...meter, kwhConsumedAc: 10_001 }, { ...meter, voltage: 0 }, { ...meter, voltage: true },
    { ...meter, meterId: "" }, { ...meter, meterId: "M 1" }, { ...meter, meterId: "M".repeat(65) },
    { ...meter, extra: 1 }, { ...meter, type: "vehicle" }, { ...meter, type: "gas" },
    { ...vehicle, soc: 100.5 }, { ...vehicle, batteryTemp: -61 }, { ...vehicle, batteryTemp: 151 },
    { ...vehicle, meterId: 7 }, { timestamp: meter.timestamp }, null, 5, "x", [meter],
  ];
  for (const reading of bad) assert.notEqual(readingError(reading, NOW), null, JSON.stringify(reading));
  assert.match(validateBody([], NOW).error, /no readings/);
  assert.match(validateBody([meter, { ...meter, voltage: -1 }], NOW).error, /^\[1\] voltage/);
});

test("timestamps need a zone, a real date, and fall between 2000 and five minutes ahead", () => {
  assert.equal(parseTimestamp("2026-12-07T11:00:00Z"), Date.UTC(2026, 11, 7, 11));
  assert.equal(parseTimestamp("2026-12-07T11:00:00.250+02:00"), Date.UTC(2026, 11, 7, 9, 0, 0, 250));
  assert.equal(parseTimestamp("2026-12-07 11:00-0130"), Date.UTC(2026, 11, 7, 12, 30));
  for (const value of ["2026-12-07T11:00:00", "2026-02-30T00:00:00Z", "2026-12-07T24:00:00Z",
    "2026-12-07", "yesterday", 1765000000]) {
    assert.equal(parseTimestamp(value), null, String(value));
  }
  assert.match(readingError({ ...meter, timestamp: "2026-12-07T12:06:00Z" }, NOW), /future/);
  assert.equal(readingError({ ...meter, timestamp: "2026-12-07T12:04:00Z" }, NOW), null);
  assert.match(readingError({ ...meter, timestamp: "1999-12-31T23:59:59Z" }, NOW), /before 2000/);
});

test("rows and the multi-row INSERT", () => {
  const statement = insertStatement("meter_history", ["meter_id", "ts", "kwh_consumed_ac", "voltage"],
    [meterRow(meter), meterRow({ ...meter, meterId: "M-0002" })]);
  assert.equal(statement.text, "INSERT INTO meter_history (meter_id,ts,kwh_consumed_ac,voltage) "
    + "VALUES ($1,$2,$3,$4),($5,$6,$7,$8) ON CONFLICT DO NOTHING");
  assert.deepEqual(statement.values.slice(4), ["M-0002", meter.timestamp, 10.5, 230]);
  assert.deepEqual(vehicleRow({ ...vehicle, meterId: undefined }).at(-1), null);
});
