// Peer server for `dotnet run -c Release --project bench/Attune.Benchmarks -- mcp`:
// one trivial tool, add(a, b) -> a + b, served over stdio with the official MCP TypeScript SDK,
// returning the same shape as Attune's box server (text + structuredContent {result}).
import { McpServer } from "@modelcontextprotocol/sdk/server/mcp.js";
import { StdioServerTransport } from "@modelcontextprotocol/sdk/server/stdio.js";
import { z } from "zod";

const server = new McpServer({ name: "trivial-ts", version: "1.0.0" });
server.registerTool(
  "add",
  {
    description: "Adds two integers.",
    inputSchema: { a: z.number().int(), b: z.number().int() },
    outputSchema: { result: z.number().int() },
  },
  async ({ a, b }) => ({
    content: [{ type: "text", text: String(a + b) }],
    structuredContent: { result: a + b },
  }),
);
await server.connect(new StdioServerTransport());
