// Readings as rows of the history tables, and the multi-row INSERT that writes them.

export const METER_COLUMNS = ["meter_id", "ts", "kwh_consumed_ac", "voltage"];
export const VEHICLE_COLUMNS = ["vehicle_id", "ts", "soc", "kwh_delivered_dc", "battery_temp", "meter_id"];

// A multi-row INSERT of `rows` (arrays of column values) into `table`, with its parameters.
export function insertStatement(table, columns, rows) {
  const values = [];
  const tuples = rows.map((row) => {
    const marks = row.map((value) => {
      values.push(value);
      return `$${values.length}`;
    });
    return `(${marks.join(",")})`;
  });
  return {
    text: `INSERT INTO ${table} (${columns.join(",")}) VALUES ${tuples.join(",")} ON CONFLICT DO NOTHING`,
    values,
  };
}

export function meterRow(r) {
  return [r.meterId, r.timestamp, r.kwhConsumedAc, r.voltage];
}

export function vehicleRow(r) {
  return [r.vehicleId, r.timestamp, r.soc, r.kwhDeliveredDc, r.batteryTemp, r.meterId ?? null];
}
