// The official OpenAI JavaScript library as a client of `attune serve`.
// Usage: node client.mjs BASE_URL MODEL   (BASE_URL like http://127.0.0.1:PORT/v1)
// Prints one JSON document: the chat answer, the streamed answer (with its chunk count and finish
// reason), and the echoed prompt log-probs of a completion.
import OpenAI from "openai";

const [baseURL, model] = process.argv.slice(2);
const client = new OpenAI({ baseURL, apiKey: "unused", maxRetries: 0 });
const messages = [
  { role: "system", content: "Be brief." },
  { role: "user", content: "The quick brown fox?" },
];

const chat = await client.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0 });

const stream = await client.chat.completions.create({ model, messages, max_tokens: 12, temperature: 0, stream: true });
let streamed = "";
let chunks = 0;
let streamFinish = null;
for await (const chunk of stream) {
  chunks++;
  const choice = chunk.choices[0];
  streamed += choice?.delta?.content ?? "";
  streamFinish = choice?.finish_reason ?? streamFinish;
}

const completion = await client.completions.create({ model, prompt: "The quick brown fox", max_tokens: 0, echo: true, logprobs: 1 });

process.stdout.write(JSON.stringify({
  chat: chat.choices[0].message.content,
  chatFinish: chat.choices[0].finish_reason,
  usage: chat.usage,
  streamed,
  chunks,
  streamFinish,
  echo: completion.choices[0].text,
  tokenLogprobs: completion.choices[0].logprobs.token_logprobs,
}) + "\n");
