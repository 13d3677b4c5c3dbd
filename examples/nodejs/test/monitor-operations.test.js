// monitor-operations.js against `serve`: several operations followed at once, from arguments or stdin.
import assert from "node:assert/strict";
import { test } from "node:test";
import { finalState, lastJson, openClient, openEnv, runScript } from "./support.js";

test("follows several operations at once until each is ready", async () => {
  const client = openClient();
  const started = await Promise.all([client.start("dev-box"), client.start("trainer")]);
  const ids = started.map((accepted) => accepted.operationId);
  const run = await runScript("monitor-operations.js", [...ids, "--json"], openEnv());
  assert.equal(run.code, 0, run.stderr);
  const finals = lastJson(run.stdout);
  assert.deepEqual(
    finals.map((op) => [op.operationId, op.status]),
    ids.map((id) => [id, "ready"]),
  );
  for (const id of ids) assert.match(run.stderr, new RegExp(`${id} \\[\\s*[\\d.]+s\\] ready`));
  assert.match(run.stderr, /2 of 2 ready/);
});

test("one failed operation among ready ones: exit 1, and each is reported", async () => {
  const client = openClient();
  const ready = await client.start("inference"); // already running: health checks only
  const failed = await client.create({
    templateId: "tpl-public-nginx",
    productId: "prod-h100-80g",
    name: "no-capacity",
  });
  const run = await runScript("monitor-operations.js", [], openEnv(), {
    input: `${ready.operationId}\n\n${failed.operationId}\n`,
  });
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, new RegExp(`${failed.operationId} failed: LAUNCH_REFUSED`));
  assert.match(run.stderr, /1 of 2 ready/);
});

test("an unknown or malformed operation ID is bad input, exit 2", async () => {
  const unknown = await runScript("monitor-operations.js", [`op-${"0".repeat(32)}`, "--unknown-grace", "1"], openEnv());
  const malformed = await runScript("monitor-operations.js", ["op-123"], openEnv());
  const none = await runScript("monitor-operations.js", [], openEnv(), { input: "" });
  assert.equal(unknown.code, 2, unknown.stderr);
  assert.match(unknown.stderr, /404 OPERATION_NOT_FOUND/);
  assert.equal(malformed.code, 2);
  assert.match(malformed.stderr, /not an operation ID: "op-123"/);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /name at least one operation ID/);
});

test("the library's follow() yields each change once and the final state last", async () => {
  const client = openClient();
  const accepted = await client.start("dev-box");
  const seen = [];
  for await (const operation of client.follow(accepted.operationId, { pollSeconds: 0.1, timeoutSeconds: 120 }))
    seen.push(operation);
  assert.equal(seen.at(-1).status, "ready");
  const keys = seen.map((op) => JSON.stringify([op.phase, op.notifications]));
  assert.equal(new Set(keys).size, keys.length);
  assert.equal((await finalState(client, accepted.operationId)).status, "ready");
});
