// The same tools/call latency measurement driven by the TypeScript SDK client instead of the C# one:
//   node bench_client.mjs CALLS WARMUP COMMAND ARGS...
// e.g. node bench_client.mjs 3000 500 node server.mjs
//      node bench_client.mjs 3000 500 dotnet .../attune.dll mcp serve --box /tmp/attune-mcp-bench-box
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";

const [calls, warmup] = [Number(process.argv[2]), Number(process.argv[3])];
const [command, ...args] = process.argv.slice(4);
const client = new Client({ name: "bench", version: "1.0.0" });
await client.connect(new StdioClientTransport({ command, args, stderr: "ignore" }));
const times = [];
for (let i = 0; i < warmup + calls; i++) {
  const a = i % 1000, b = (i * 7) % 1000;
  const t = process.hrtime.bigint();
  const r = await client.callTool({ name: "add", arguments: { a, b } });
  const us = Number(process.hrtime.bigint() - t) / 1000;
  if (r.isError || r.content[0].text !== String(a + b)) throw new Error(`add(${a}, ${b}) answered ${JSON.stringify(r)}`);
  if (i >= warmup) times.push(us);
}
times.sort((x, y) => x - y);
const pct = q => times[Math.min(times.length - 1, Math.ceil(q * times.length) - 1)];
const total = times.reduce((x, y) => x + y, 0);
console.log(JSON.stringify({ p50: Math.round(pct(0.5)), p99: Math.round(pct(0.99)), mean: Math.round(total / times.length), callsPerSecond: Math.round(times.length / (total / 1e6)) }));
await client.close();
