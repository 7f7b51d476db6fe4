// The official MCP TypeScript SDK as a client of an Attune MCP box server.
// Usage: node client.mjs PLAN.json
// PLAN: {"transport":"stdio","command":"dotnet","args":["attune.dll","mcp","serve","--box","DIR"]}
//    or {"transport":"http","url":"http://127.0.0.1:PORT/mcp"}, plus "calls":[{"name":…,"arguments":{…}}].
// Prints one JSON document: {"server":…, "tools":[{name, description, inputSchema}], "results":[{name, isError, text, structured}]}.
import { readFileSync } from "node:fs";
import { Client } from "@modelcontextprotocol/sdk/client/index.js";
import { StdioClientTransport } from "@modelcontextprotocol/sdk/client/stdio.js";
import { StreamableHTTPClientTransport } from "@modelcontextprotocol/sdk/client/streamableHttp.js";

const plan = JSON.parse(readFileSync(process.argv[2], "utf8"));
const transport = plan.transport === "http"
  ? new StreamableHTTPClientTransport(new URL(plan.url))
  : new StdioClientTransport({ command: plan.command, args: plan.args, stderr: "inherit" });
const client = new Client({ name: "attune-ts-test-client", version: "1.0.0" });
await client.connect(transport);
const listed = await client.listTools();
const results = [];
for (const call of plan.calls ?? []) {
  const r = await client.callTool({ name: call.name, arguments: call.arguments });
  results.push({
    name: call.name,
    isError: r.isError === true,
    text: (r.content ?? []).filter(c => c.type === "text").map(c => c.text).join(""),
    structured: r.structuredContent ?? null,
  });
}
process.stdout.write(JSON.stringify({
  server: client.getServerVersion(),
  tools: listed.tools.map(t => ({ name: t.name, description: t.description, inputSchema: t.inputSchema })),
  results,
}) + "\n");
await client.close();
