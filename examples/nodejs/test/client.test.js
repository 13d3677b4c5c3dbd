// lib/client.js against a scripted loopback server: retries after Retry-After with one
// Idempotency-Key, the bound on retries and waits, API Gateway's own refusals, no redirects followed,
// and the settings read from the environment; against `serve`: stop and delete, a create by GPU
// type, and an auto-stop lease moved by heartbeats and cancelled.
import assert from "node:assert/strict";
import { once } from "node:events";
import { createServer } from "node:http";
import { test } from "node:test";
import { setTimeout as sleepMs } from "node:timers/promises";
import { ApiError, ConfigError, OrchestratorClient, configFromEnv, retryAfterSeconds } from "../lib/client.js";
import { finalState, openClient } from "./support.js";

/** A loopback server answering the scripted [status, headers, body] in turn (the last one forever). */
async function scripted(...answers) {
  const received = [];
  const server = createServer((request, response) => {
    const [status, headers, body] = answers[Math.min(received.length, answers.length - 1)];
    received.push({ method: request.method, url: request.url, headers: request.headers });
    response.writeHead(status, { "content-type": "application/json", ...headers });
    response.end(JSON.stringify(body));
  });
  server.listen(0, "127.0.0.1");
  await once(server, "listening");
  return { url: `http://127.0.0.1:${server.address().port}`, received, close: () => server.close() };
}

const accepted = [202, {}, { operationId: `op-${"a".repeat(32)}`, status: "running" }];
const unavailable = (seconds) => [
  503,
  { "retry-after": String(seconds) },
  { error: { code: "NOVITA_UNAVAILABLE", message: "Novita is unavailable", retryAfterSeconds: seconds } },
];

function recordingClient(url, options = {}) {
  const waits = [];
  const client = new OrchestratorClient({ url, sleep: async (ms) => waits.push(ms), ...options });
  return { client, waits };
}

test("a 503 is retried after its Retry-After, with the same Idempotency-Key", async () => {
  const server = await scripted(unavailable(2), unavailable(1), accepted);
  try {
    const { client, waits } = recordingClient(server.url);
    const answer = await client.start("dev-box");
    assert.equal(answer.operationId, `op-${"a".repeat(32)}`);
    assert.deepEqual(waits, [2000, 1000]);
    const keys = server.received.map((r) => r.headers["idempotency-key"]);
    assert.equal(keys.length, 3);
    assert.equal(new Set(keys).size, 1);
  } finally {
    server.close();
  }
});

test("retries stop after the limit; a longer Retry-After than allowed is raised at once", async () => {
  const always = await scripted(unavailable(1));
  const long = await scripted([
    429,
    { "retry-after": "120" },
    { error: { code: "RATE_LIMITED", message: "slow down" } },
  ]);
  try {
    const { client, waits } = recordingClient(always.url, { retries: 2 });
    await assert.rejects(client.instance("dev-box"), (error) => error instanceof ApiError && error.status === 503);
    assert.equal(always.received.length, 3);
    assert.deepEqual(waits, [1000, 1000]);

    const impatient = recordingClient(long.url);
    await assert.rejects(impatient.client.instance("dev-box"), (error) => {
      assert.equal(error.code, "RATE_LIMITED");
      assert.equal(error.retryAfterSeconds, 120);
      return true;
    });
    assert.equal(long.received.length, 1);
    assert.deepEqual(impatient.waits, []);
  } finally {
    always.close();
    long.close();
  }
});

test("a 4xx is not retried and keeps the API's fields and operationId", async () => {
  const server = await scripted([
    409,
    {},
    { error: { code: "INSTANCE_BUSY", message: "busy", operationId: `op-${"b".repeat(32)}` } },
  ]);
  try {
    const { client, waits } = recordingClient(server.url);
    await assert.rejects(client.start("dev-box"), (error) => {
      assert.equal(error.code, "INSTANCE_BUSY");
      assert.equal(error.operationId, `op-${"b".repeat(32)}`);
      return true;
    });
    assert.equal(server.received.length, 1);
    assert.deepEqual(waits, []);
  } finally {
    server.close();
  }
});

test("API Gateway's own refusal is typed by x-amzn-ErrorType", async () => {
  const server = await scripted([
    403,
    { "x-amzn-errortype": "MissingAuthenticationTokenException" },
    { message: "Missing Authentication Token" },
  ]);
  try {
    await assert.rejects(new OrchestratorClient({ url: server.url }).instance("x"), (error) => {
      assert.equal(error.code, "MissingAuthenticationTokenException");
      assert.equal(error.detail, "Missing Authentication Token");
      return true;
    });
  } finally {
    server.close();
  }
});

test("a redirect is not followed (it would carry the key elsewhere)", async () => {
  const elsewhere = await scripted([200, {}, {}]);
  const redirecting = await scripted([302, { location: `${elsewhere.url}/steal` }, {}]);
  try {
    const client = new OrchestratorClient({ url: redirecting.url, auth: { headers: () => ({ "x-api-key": "k" }) } });
    await assert.rejects(client.instance("x"), (error) => error instanceof ApiError && error.status === 302);
    assert.equal(elsewhere.received.length, 0);
  } finally {
    elsewhere.close();
    redirecting.close();
  }
});

test("settings come from the environment, named in every refusal", () => {
  const base = { ORCHESTRATOR_URL: "https://abc123.execute-api.eu-west-2.amazonaws.com/v1/" };
  assert.equal(configFromEnv(base).url, "https://abc123.execute-api.eu-west-2.amazonaws.com/v1");
  const signed = configFromEnv({
    ...base,
    ORCHESTRATOR_AUTH: "sigv4",
    AWS_ACCESS_KEY_ID: "a",
    AWS_SECRET_ACCESS_KEY: "s",
  });
  const headers = signed.auth.headers({ method: "GET", url: `${base.ORCHESTRATOR_URL}health`, headers: {}, body: "" });
  assert.match(headers.authorization, /\/eu-west-2\/execute-api\/aws4_request/); // the region from the URL
  assert.deepEqual(configFromEnv({ ...base, ORCHESTRATOR_API_KEY: "k" }).auth.headers({}), { "x-api-key": "k" });
  assert.throws(
    () => configFromEnv({}),
    (e) => e instanceof ConfigError && /ORCHESTRATOR_URL is not set/.test(e.message),
  );
  assert.throws(() => configFromEnv({ ORCHESTRATOR_URL: "ftp://x" }), /ORCHESTRATOR_URL: must be http/);
  assert.throws(
    () => configFromEnv({ ORCHESTRATOR_URL: "http://127.0.0.1", ORCHESTRATOR_AUTH: "sigv4" }),
    /AWS_ACCESS_KEY_ID/,
  );
});

test("Retry-After is read as seconds or as an HTTP date", () => {
  const now = Date.parse("2026-01-01T00:00:00Z");
  assert.equal(retryAfterSeconds("7", now), 7);
  assert.equal(retryAfterSeconds("Thu, 01 Jan 2026 00:00:30 GMT", now), 30);
  assert.equal(retryAfterSeconds("soon", now), null);
  assert.equal(retryAfterSeconds(null, now), null);
});

test("stop and delete are operations followed to stopped / deleted; a delete repeats the name", async () => {
  const client = openClient();
  const stop = await client.stop("inference");
  assert.equal(stop.kind, "stop");
  assert.equal(stop.instanceId, "inst-inference");
  const stopped = await finalState(client, stop.operationId);
  assert.equal(stopped.status, "stopped");
  assert.deepEqual(stopped.notifications, ["instance.stop.initiated", "instance.stop.completed"]);

  await assert.rejects(client.delete("inst-trainer", { confirm: "Trainer" }), (error) => {
    assert.ok(error instanceof ApiError);
    assert.equal(error.status, 422);
    assert.deepEqual(error.fields, ["query:confirm"]);
    return true;
  });
  const removal = await client.delete("inst-trainer", { confirm: "trainer" });
  assert.equal((await finalState(client, removal.operationId)).status, "deleted");
});

test("a create by GPU type lands on an offer with capacity and ends ready; with productId too: 422", async () => {
  const client = openClient();
  const accepted = await client.create(
    { templateId: "tpl-public-nginx", name: "node-gpu-box", gpu: { type: "RTX 4090", regions: ["cl-eu-de-1"] } },
    { autoStop: { afterSeconds: 3600 } },
  );
  assert.equal(accepted.kind, "create");
  const created = await finalState(client, accepted.operationId);
  assert.equal(created.status, "ready", JSON.stringify(created.outcome));
  assert.equal(created.offer.productId, "prod-rtx4090-24g");
  assert.equal(created.offer.clusterId, "cl-eu-de-1");
  assert.deepEqual(
    created.offersTried.map((offer) => offer.outcome),
    ["created"],
  );
  const instance = await client.instance("node-gpu-box");
  assert.equal(instance.status, "running");
  assert.equal(instance.productName, "RTX 4090 24GB");
  assert.equal(instance.clusterId, "cl-eu-de-1");
  assert.equal(instance.autoStop.state, "active");
  assert.equal(instance.autoStop.operationId, accepted.operationId);
  assert.equal(instance.autoStop.expiresAt, instance.autoStop.stopAt);
  assert.equal(instance.autoStop.idleSeconds, null);
  assert.equal((await client.changeLease("node-gpu-box", { cancel: true })).state, "cancelled");

  const both = { templateId: "tpl-public-nginx", name: "both", productId: "prod-rtx4090-24g", gpu: { type: "A100" } };
  await assert.rejects(client.create(both), (error) => {
    assert.ok(error instanceof ApiError);
    assert.equal(error.status, 422);
    assert.deepEqual(error.fields, ["productId"]);
    return true;
  });
});

test("an idle lease: heartbeats and a longer idleSeconds move expiresAt later, afterSeconds brings it in", async () => {
  const client = openClient();
  const start = await client.start("dev-box", { autoStop: { idleSeconds: 3600 } });
  assert.equal((await finalState(client, start.operationId)).status, "ready");
  const shown = (await client.instance("dev-box")).autoStop;
  assert.equal(shown.state, "active");
  assert.equal(shown.idleSeconds, 3600);
  assert.equal(shown.operationId, start.operationId);

  await sleepMs(50);
  const first = await client.heartbeat("dev-box");
  await sleepMs(50);
  const second = await client.heartbeat("dev-box");
  for (const [newer, older] of [
    [first, shown],
    [second, first],
  ]) {
    assert.ok(Date.parse(newer.expiresAt) > Date.parse(older.expiresAt), `${newer.expiresAt} vs ${older.expiresAt}`);
  }
  assert.ok(second.lastHeartbeatAt > first.lastHeartbeatAt);

  const idler = await client.changeLease("dev-box", { idleSeconds: 7200 });
  assert.equal(idler.idleSeconds, 7200);
  assert.ok(Date.parse(idler.expiresAt) > Date.parse(second.expiresAt));
  const shortened = await client.changeLease("dev-box", { afterSeconds: 600 });
  assert.equal(shortened.state, "active");
  assert.equal(shortened.expiresAt, shortened.stopAt); // 600 s from now comes before two hours idle
  assert.ok(Date.parse(shortened.expiresAt) < Date.parse(second.expiresAt));

  const cancelled = await client.changeLease("dev-box", { cancel: true });
  assert.equal(cancelled.state, "cancelled");
  assert.equal((await client.instance("dev-box")).autoStop.state, "cancelled");
  await assert.rejects(client.heartbeat("dev-box"), (error) => {
    assert.ok(error instanceof ApiError);
    assert.equal(error.status, 404);
    assert.equal(error.code, "LEASE_NOT_FOUND");
    return true;
  });
});

test("changeLease with nothing to change is refused naming the options, before any request", async () => {
  const server = await scripted([200, {}, {}]);
  try {
    const { client } = recordingClient(server.url);
    for (const change of [undefined, {}, { cancel: false }, { after: 600 }]) {
      await assert.rejects(client.changeLease("dev-box", change), (error) => {
        assert.ok(error instanceof ConfigError);
        assert.match(error.message, /afterSeconds, idleSeconds or cancel/);
        return true;
      });
    }
    assert.equal(server.received.length, 0);
  } finally {
    server.close();
  }
});

test("cancel answers {cancelled, operation}: an ended operation is left as it is; an unknown one is 404", async () => {
  const client = openClient();
  const accepted = await client.start("inference");
  const ended = await finalState(client, accepted.operationId);
  assert.equal(ended.status, "ready");

  const answer = await client.cancel(accepted.operationId);

  assert.equal(answer.cancelled, false);
  assert.equal(answer.operation.operationId, accepted.operationId);
  assert.equal(answer.operation.status, "ready");
  await assert.rejects(client.cancel(`op-${"0".repeat(32)}`), (error) => {
    assert.ok(error instanceof ApiError);
    assert.equal(error.status, 404);
    assert.equal(error.code, "OPERATION_NOT_FOUND");
    return true;
  });
});
