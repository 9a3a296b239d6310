// The benchmark's reference for POST /v1/telemetry (issue 31): the design of the fastest public
// implementation of the seed's endpoint, built from its description. Fastify answers 202 once a
// reading is checked and buffered in memory; the buffer goes to PostgreSQL in multi-row
// INSERT ... ON CONFLICT DO NOTHING statements every 500 readings or every 2 s, whichever comes
// first. A crash loses the buffer: that is the design being measured, against ours, where a 202
// means the reading is on the broker.
//
//   DATABASE_URL=postgresql://... PORT=3000 node benchmarks/reference/server.mjs
//
// One process. On SIGTERM (or SIGINT) it stops taking requests, writes what it holds and exits,
// printing one JSON line: {"accepted":..., "inserted":..., "failed":...}.
import path from "node:path";
import { fileURLToPath } from "node:url";

import Fastify from "fastify";
import pg from "pg";

import { METER_COLUMNS, VEHICLE_COLUMNS, insertStatement, meterRow, vehicleRow } from "./rows.mjs";
import { validateBody } from "./validate.mjs";

export const FLUSH_READINGS = 500;
export const FLUSH_MS = 2000;
const MAX_STATEMENT_ROWS = 5_000;
export const MAX_BODY_BYTES = 5 * 1024 * 1024; // as the gateway's limit

export function buildServer({ pool, flushReadings = FLUSH_READINGS, flushMs = FLUSH_MS, log = () => {} }) {
  const app = Fastify({ logger: false, bodyLimit: MAX_BODY_BYTES });
  let meters = [];
  let vehicles = [];
  const stats = { accepted: 0, inserted: 0, failed: 0 };
  const pending = new Set();

  async function write(table, columns, rows) {
    // a statement takes at most 65,535 parameters: a large array POST is written in parts
    for (let i = 0; i < rows.length; i += MAX_STATEMENT_ROWS) {
      const part = rows.slice(i, i + MAX_STATEMENT_ROWS);
      try {
        const result = await pool.query(insertStatement(table, columns, part));
        stats.inserted += result.rowCount;
      } catch (err) {
        stats.failed += part.length; // lost, as a crash would lose them
        log(`reference: INSERT into ${table} of ${part.length} rows failed: ${err.message}`);
      }
    }
  }

  function flush() {
    const m = meters;
    const v = vehicles;
    meters = [];
    vehicles = [];
    const writes = [];
    if (m.length) writes.push(write("meter_history", METER_COLUMNS, m));
    if (v.length) writes.push(write("vehicle_history", VEHICLE_COLUMNS, v));
    const done = Promise.all(writes);
    pending.add(done);
    done.finally(() => pending.delete(done));
    return done;
  }

  const timer = setInterval(flush, flushMs);

  app.get("/healthz", async () => ({ status: "ok" }));

  app.post("/v1/telemetry", (request, reply) => {
    const judged = validateBody(request.body);
    if (judged.error) {
      reply.code(400).send({ statusCode: 400, error: "Bad Request", message: judged.error });
      return;
    }
    for (const r of judged.readings) {
      if (r.vehicleId !== undefined) vehicles.push(vehicleRow(r));
      else meters.push(meterRow(r));
    }
    stats.accepted += judged.readings.length;
    if (meters.length + vehicles.length >= flushReadings) flush();
    reply.code(202).send({ accepted: judged.readings.length });
  });

  // Writes whatever is buffered and waits for every write in flight.
  async function drain() {
    clearInterval(timer);
    flush();
    while (pending.size) await Promise.all([...pending]);
  }

  return { app, stats, flush, drain };
}

async function main() {
  const port = Number(process.env.PORT || 3000);
  const host = process.env.HOST || "127.0.0.1";
  if (!process.env.DATABASE_URL) {
    process.stderr.write("reference: DATABASE_URL is not set\n");
    process.exit(2);
  }
  const pool = new pg.Pool({ connectionString: process.env.DATABASE_URL });
  const log = (line) => process.stderr.write(line + "\n");
  const server = buildServer({ pool, log });
  let stopping = false;
  async function stop() {
    if (stopping) return;
    stopping = true;
    await server.app.close();
    await server.drain();
    await pool.end();
    process.stdout.write(JSON.stringify(server.stats) + "\n");
    process.exit(0);
  }
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  await server.app.listen({ port, host });
  process.stdout.write(JSON.stringify({ listening: port }) + "\n");
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  main().catch((err) => {
    process.stderr.write(`reference: ${err.stack || err}\n`);
    process.exit(1);
  });
}
