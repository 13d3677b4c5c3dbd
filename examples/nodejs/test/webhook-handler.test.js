// webhook-handler.js: verifies the deliveries `serve` really sends, dedupes by webhook-id, refuses
// forgeries and replays, and answers before it handles the event.
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { once } from "node:events";
import { createServer } from "node:http";
import { join } from "node:path";
import { createInterface } from "node:readline";
import { test } from "node:test";
import { Webhook } from "standardwebhooks";
import { createWebhookHandler } from "../webhook-handler.js";
import { EXAMPLES, finalState, openClient, runScript, setting } from "./support.js";

/** Starts `node webhook-handler.js` on a free port; resolves { url, lines, stop }. */
async function startHandler(env) {
  const child = spawn(process.execPath, [join(EXAMPLES, "webhook-handler.js")], {
    env: { PATH: process.env.PATH, PORT: "0", ...env },
  });
  const lines = [];
  createInterface({ input: child.stdout }).on("line", (line) => lines.push(line));
  const errors = createInterface({ input: child.stderr });
  const [first] = await once(errors, "line");
  const url = /listening on (http:\/\/\S+)/.exec(first)?.[1];
  assert.ok(url, first);
  return {
    url,
    lines,
    stop: async () => {
      child.kill();
      await once(child, "close");
    },
  };
}

async function until(predicate, timeoutMs = 30_000) {
  const deadline = Date.now() + timeoutMs;
  while (!predicate()) {
    if (Date.now() > deadline) throw new Error("condition not met in time");
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}

function signed(secret, { id = `evt_${Date.now()}${Math.random()}`, timestamp = new Date(), body } = {}) {
  const payload =
    body ??
    JSON.stringify({
      id,
      type: "instance.startup.progress",
      timestamp: timestamp.toISOString(),
      data: { operationId: "op-test", phase: "starting" },
    });
  const headers = {
    "content-type": "application/json",
    "webhook-id": id,
    "webhook-timestamp": String(Math.floor(timestamp.getTime() / 1000)),
    "webhook-signature": new Webhook(secret).sign(id, timestamp, payload),
  };
  return { payload, headers };
}

const post = (url, { payload, headers }) => fetch(url, { method: "POST", headers, body: payload });

test("prints every notification serve delivers for an operation, once, verified", async () => {
  const handler = await startHandler({ WEBHOOK_SECRET: setting("WEBHOOK_SECRET") });
  try {
    const client = openClient();
    const accepted = await client.start("dev-box", { webhookUrl: `${handler.url}hooks` });
    const operation = await finalState(client, accepted.operationId);
    assert.equal(operation.status, "ready");
    const mine = () => handler.lines.filter((line) => line.includes(`operation=${accepted.operationId}`));
    await until(() => mine().length >= operation.notifications.length);
    assert.deepEqual(
      mine()
        .map((line) => line.split(" ")[0])
        .sort(),
      [...operation.notifications].sort(),
    );
    assert.ok(mine().some((line) => /^instance\.startup\.completed .*instance=inst-dev-box\s+phase=ready/.test(line)));
  } finally {
    await handler.stop();
  }
});

test("a repeated webhook-id is answered 200 and handled once; forgeries and replays get 401", async () => {
  const secret = setting("WEBHOOK_SECRET");
  const handler = await startHandler({ WEBHOOK_SECRET: secret });
  try {
    const message = signed(secret, { id: "evt_duplicate_test" });
    const first = await post(handler.url, message);
    const again = await post(handler.url, message);
    assert.deepEqual([first.status, (await first.json()).status], [200, "ok"]);
    assert.deepEqual([again.status, (await again.json()).status], [200, "duplicate"]);

    const other = `whsec_${Buffer.from("another-secret-of-enough-length!").toString("base64")}`;
    const forged = await post(handler.url, signed(other));
    const tampered = signed(secret);
    tampered.payload = tampered.payload.replace("starting", "running");
    const altered = await post(handler.url, tampered);
    const replay = await post(handler.url, signed(secret, { timestamp: new Date(Date.now() - 10 * 60_000) }));
    const unsigned = await fetch(handler.url, { method: "POST", body: "{}" });
    const wrongMethod = await fetch(handler.url);
    assert.deepEqual(
      [forged.status, altered.status, replay.status, unsigned.status, wrongMethod.status],
      [401, 401, 401, 401, 405],
    );
    assert.match((await replay.json()).status, /too old/);

    await until(() => handler.lines.some((line) => line.includes("op-test")));
    assert.equal(handler.lines.filter((line) => line.includes("op-test")).length, 1);
  } finally {
    await handler.stop();
  }
});

test("during a rotation either secret verifies", async () => {
  const current = setting("WEBHOOK_SECRET");
  const next = `whsec_${Buffer.from("the-next-secret-after-rotation!!").toString("base64")}`;
  const handler = await startHandler({ WEBHOOK_SECRET: `${next},${current}` });
  try {
    assert.equal((await post(handler.url, signed(current))).status, 200);
    assert.equal((await post(handler.url, signed(next))).status, 200);
  } finally {
    await handler.stop();
  }
});

test("the answer goes out before the event is handled", async () => {
  const secret = setting("WEBHOOK_SECRET");
  let release;
  const handled = new Promise((resolve) => (release = resolve));
  let finished = false;
  const server = createServer(
    createWebhookHandler({
      secrets: secret,
      onEvent: async () => {
        await handled;
        finished = true;
      },
    }),
  );
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  try {
    const answer = await post(`http://127.0.0.1:${server.address().port}/`, signed(secret));
    assert.equal(answer.status, 200);
    assert.equal(finished, false); // still handling: the sender was not kept waiting
  } finally {
    release();
    server.close();
  }
});

test("a missing or malformed WEBHOOK_SECRET stops it at once with the reason", async () => {
  const missing = await runScript("webhook-handler.js", [], { PATH: process.env.PATH, PORT: "0" });
  const malformed = await runScript("webhook-handler.js", [], {
    PATH: process.env.PATH,
    PORT: "0",
    WEBHOOK_SECRET: "whsec_***",
  });
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /WEBHOOK_SECRET is not set/);
  assert.match(missing.stderr, /make one: node -e/);
  assert.equal(malformed.code, 2, malformed.stderr);
});
