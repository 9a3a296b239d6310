// The same load as benchmarks/http_load.py from Node.js `http` (the kind of client issue 20
// measured with): CONCURRENCY keep-alive connections, one POST in flight on each, bodies taken
// in turn from BODIES (one JSON document a line). After WARMUP seconds it prints
// {"phase":"measure"}, then after SECONDS more one JSON line: requests, statuses, errors,
// seconds and every latency in ms of the measured requests, and the warm-up's requests,
// statuses and errors (warmup_requests, warmup_statuses, warmup_errors), the bodies sent
// (sent) and whether every body was (exhausted; without "once" it then starts over with the
// first). benchmarks/http_servers.py and benchmarks/http_node.py read both lines.
//
//   node benchmarks/http_load_node.mjs URL BODIES CONCURRENCY WARMUP SECONDS [once]
//
// With "once", each body is sent at most once (no reading twice, so every 202 can be looked
// for in the history afterwards): the connections stop when the bodies run out.
import fs from "node:fs";
import http from "node:http";

const [url, file, concurrencyArg, warmupArg, secondsArg, mode] = process.argv.slice(2);
const once = mode === "once";
const concurrency = Number(concurrencyArg);
const target = new URL(url);
const bodies = fs.readFileSync(file, "utf8").split("\n").filter(Boolean).map((b) => Buffer.from(b));
const agent = new http.Agent({ keepAlive: true, maxSockets: concurrency });

let cursor = 0;
let measuring = false;
let measureStart = 0n;
const latencies = [];
const statuses = {};
let errors = 0;
const warmup = { requests: 0, statuses: {}, errors: 0 };

function post() {
  return new Promise((resolve) => {
    const body = bodies[cursor++ % bodies.length];
    const sent = process.hrtime.bigint();
    const counted = measuring;
    const req = http.request({
      agent, host: target.hostname, port: target.port, path: target.pathname, method: "POST",
      headers: { "Content-Type": "application/json", "Content-Length": body.length },
    }, (res) => {
      res.resume();
      res.on("end", () => {
        if (counted) {
          latencies.push(Number(process.hrtime.bigint() - sent) / 1e6);
          statuses[res.statusCode] = (statuses[res.statusCode] || 0) + 1;
        } else {
          warmup.requests++;
          warmup.statuses[res.statusCode] = (warmup.statuses[res.statusCode] || 0) + 1;
        }
        resolve();
      });
    });
    req.on("error", () => { if (counted) errors++; else warmup.errors++; resolve(); });
    req.end(body);
  });
}

async function connection(until) {
  while (Date.now() < until() && !(once && cursor >= bodies.length)) await post();
}

const warmupEnd = Date.now() + Number(warmupArg) * 1000;
let end = Infinity;
const toMeasure = setTimeout(() => {
  measuring = true;
  measureStart = process.hrtime.bigint();
  end = Date.now() + Number(secondsArg) * 1000;
  process.stdout.write(JSON.stringify({ phase: "measure" }) + "\n");
}, warmupEnd - Date.now());

await Promise.all(Array.from({ length: concurrency }, () => connection(() => end)));
clearTimeout(toMeasure); // the bodies ran out (once) before the warm-up ended
const seconds = measuring ? Number(process.hrtime.bigint() - measureStart) / 1e9 : 0;
process.stdout.write(JSON.stringify({
  requests: latencies.length, statuses, errors, seconds, latencies_ms: latencies,
  warmup_requests: warmup.requests, warmup_statuses: warmup.statuses, warmup_errors: warmup.errors,
  sent: cursor, exhausted: cursor >= bodies.length,
}) + "\n");
agent.destroy();
