#!/usr/bin/env node
// A webhook receiver for novita-orchestrator's lifecycle notifications (Node.js 20+, standardwebhooks).
//
//   WEBHOOK_SECRET=whsec_... PORT=8000 node webhook-handler.js
//
// Every request is verified with the `standardwebhooks` library over the raw body bytes (a bad
// signature, or a timestamp more than five minutes off — a replay — answers 401). Deliveries are
// at-least-once, so a `webhook-id` already handled answers 200 without being handled again. The
// answer goes out at once and the event is handled afterwards: the sender waits only a few seconds
// and retries anything slower. (A production receiver records the id and the event durably — a
// database row, a queue message — before answering.)
//
// WEBHOOK_SECRET may hold several secrets, comma-separated, while one is being rotated.
import { createServer } from "node:http";
import { pathToFileURL } from "node:url";
import { Webhook, WebhookVerificationError } from "standardwebhooks";

export const MAX_BODY_BYTES = 1024 * 1024;

/** Recently handled webhook-ids, bounded (oldest forgotten first). */
export class SeenIds {
  constructor(limit = 10_000) {
    this.limit = limit;
    this.ids = new Set();
  }

  /** True the first time an id is offered. */
  firstTime(id) {
    if (this.ids.has(id)) return false;
    this.ids.add(id);
    if (this.ids.size > this.limit) this.ids.delete(this.ids.values().next().value);
    return true;
  }
}

/** The event if any secret verifies the request; throws WebhookVerificationError otherwise. */
export function verify(webhooks, body, headers) {
  let failure;
  for (const webhook of webhooks) {
    try {
      return webhook.verify(body, headers);
    } catch (error) {
      if (!(error instanceof WebhookVerificationError))
        throw new WebhookVerificationError(`malformed request: ${error.message}`);
      failure = error;
    }
  }
  throw failure;
}

/** An event as one line: type, operation, instance, phase and, on failure, the error. */
export function describe(event) {
  const data = event.data ?? {};
  let line = `${event.type}  operation=${data.operationId}  instance=${data.instanceId}  phase=${data.phase}`;
  if (data.error) line += `  error=${data.error.code}: ${data.error.message}`;
  return line;
}

/**
 * A request listener for node:http. `onEvent(event, webhookId)` runs after the answer was sent;
 * its errors are logged, never answered.
 */
export function createWebhookHandler({
  secrets,
  onEvent = (event) => console.log(describe(event)),
  seen = new SeenIds(),
}) {
  const list = (Array.isArray(secrets) ? secrets : String(secrets ?? "").split(","))
    .map((s) => s.trim())
    .filter(Boolean);
  if (!list.length) throw new Error("WEBHOOK_SECRET is not set: the whsec_... secret(s) the service signs with");
  const webhooks = list.map((secret) => new Webhook(secret)); // throws at once on a malformed secret

  return (request, response) => {
    const answer = (status, text) => {
      response.writeHead(status, { "content-type": "application/json" });
      response.end(JSON.stringify({ status: text }));
    };
    if (request.method !== "POST") {
      response.setHeader("allow", "POST");
      return answer(405, "POST only");
    }
    const chunks = [];
    let size = 0;
    request.on("data", (chunk) => {
      size += chunk.length;
      if (size <= MAX_BODY_BYTES) chunks.push(chunk);
    });
    request.on("end", () => {
      if (size > MAX_BODY_BYTES) return answer(413, "too large");
      const body = Buffer.concat(chunks).toString("utf8"); // the exact bytes, before any JSON parsing
      let event;
      try {
        event = verify(webhooks, body, request.headers);
      } catch (error) {
        return answer(401, `rejected: ${error.message}`);
      }
      const id = request.headers["webhook-id"];
      if (!seen.firstTime(id)) return answer(200, "duplicate");
      answer(200, "ok");
      setImmediate(async () => {
        try {
          await onEvent(event, id);
        } catch (error) {
          console.error(`handling ${id} failed: ${error.stack ?? error}`);
        }
      });
    });
  };
}

async function main() {
  const port = Number(process.env.PORT ?? 8000);
  const host = process.env.HOST || "127.0.0.1";
  if (!Number.isInteger(port) || port < 0 || port > 65535) {
    console.error(`PORT: expected a port number, got ${JSON.stringify(process.env.PORT)}`);
    return 2;
  }
  let handler;
  try {
    handler = createWebhookHandler({ secrets: process.env.WEBHOOK_SECRET });
  } catch (error) {
    console.error(
      `error: ${error.message} (make one: node -e "console.log('whsec_' + require('crypto').randomBytes(32).toString('base64'))")`,
    );
    return 2;
  }
  const server = createServer(handler);
  server.listen(port, host, () => {
    console.error(`listening on http://${host}:${server.address().port}/`);
  });
  process.on("SIGTERM", () => server.close());
  process.on("SIGINT", () => server.close());
  return null;
}

if (import.meta.url === pathToFileURL(process.argv[1]).href) {
  const code = await main();
  if (code !== null) process.exitCode = code;
}
