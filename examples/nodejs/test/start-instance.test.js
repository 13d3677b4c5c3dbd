// start-instance.js against `serve`: start by name and follow to ready; the API's refusals and bad
// input as exit 2 with the reason; an auto-stop lease; --no-wait; the API-key mode.
import assert from "node:assert/strict";
import { test } from "node:test";
import { lastJson, openClient, openEnv, runScript, setting } from "./support.js";

test("starts an instance by name and follows it until its app answers", async () => {
  const run = await runScript("start-instance.js", ["dev-box", "--health-port", "8888", "--json"], openEnv());
  assert.equal(run.code, 0, run.stderr);
  const operation = lastJson(run.stdout);
  assert.equal(operation.status, "ready");
  assert.equal(operation.instanceId, "inst-dev-box");
  assert.equal(operation.notifications.at(-1), "instance.startup.completed");
  assert.match(run.stderr, /accepted: operation op-[0-9a-f]{32} \(start dev-box\)/);
  assert.match(run.stderr, /\] starting/); // progress lines, one per change
  assert.match(run.stderr, /ready: dev-box \(inst-dev-box\) answers/);
});

test("--auto-stop-idle sets the instance's lease; an out-of-range one is refused naming the flag", async () => {
  const run = await runScript("start-instance.js", ["inference", "--auto-stop-idle", "3600", "--json"], openEnv());
  assert.equal(run.code, 0, run.stderr);
  const operation = lastJson(run.stdout);
  const client = openClient();
  const lease = (await client.instance("inference")).autoStop;
  assert.equal(lease.state, "active");
  assert.equal(lease.idleSeconds, 3600);
  assert.equal(lease.operationId, operation.operationId);
  assert.equal(lease.stopAt, null);
  assert.equal((await client.changeLease("inference", { cancel: true })).state, "cancelled");

  const short = await runScript("start-instance.js", ["inference", "--auto-stop-after", "30"], openEnv());
  assert.equal(short.code, 2);
  assert.match(short.stderr, /--auto-stop-after: expected a number between 60 and 2592000, got "30"/);
});

test("an unknown instance is the API's 404, exit 2", async () => {
  const run = await runScript("start-instance.js", ["no-such-box"], openEnv());
  assert.equal(run.code, 2);
  assert.match(run.stderr, /error: the API answered 404 INSTANCE_NOT_FOUND/);
  assert.equal(run.stdout, "");
});

test("an ambiguous name is the API's 409 naming the instances, exit 2", async () => {
  const run = await runScript("start-instance.js", ["twin"], openEnv());
  assert.equal(run.code, 2);
  assert.match(run.stderr, /409 AMBIGUOUS_INSTANCE_NAME: .*inst-twin-a/);
});

test("bad flags and settings are refused before any request, naming the flag or variable", async () => {
  const badPort = await runScript("start-instance.js", ["dev-box", "--health-port", "http"], openEnv());
  const noUrl = await runScript("start-instance.js", ["dev-box"], { PATH: process.env.PATH });
  const badAuth = await runScript("start-instance.js", ["dev-box"], openEnv({ ORCHESTRATOR_AUTH: "basic" }));
  const noRef = await runScript("start-instance.js", [], openEnv());
  const unknown = await runScript("start-instance.js", ["dev-box", "--wat"], openEnv());
  for (const run of [badPort, noUrl, badAuth, noRef, unknown]) assert.equal(run.code, 2, run.stderr);
  assert.match(badPort.stderr, /--health-port: expected a whole number between 1 and 65535, got "http"/);
  assert.match(noUrl.stderr, /ORCHESTRATOR_URL is not set/);
  assert.match(badAuth.stderr, /ORCHESTRATOR_AUTH: expected sigv4, api-key or none/);
  assert.match(noRef.stderr, /usage: node start-instance.js/);
  assert.match(unknown.stderr, /--wat/);
});

test("an invalid option is the API's 422 naming the field", async () => {
  const run = await runScript("start-instance.js", ["dev-box", "--timeout", "5"], openEnv());
  assert.equal(run.code, 2);
  assert.match(run.stderr, /--timeout: expected a number between 10 and 86400/);
  const api = await runScript("start-instance.js", ["dev-box", "--webhook-url", "ftp://x"], openEnv());
  assert.equal(api.code, 2);
  assert.match(api.stderr, /422 INVALID_REQUEST: .*webhook\.url.*\(fields: webhook\.url\)/);
});

test("--no-wait prints the operation ID for monitor-operations.js", async () => {
  const run = await runScript("start-instance.js", ["trainer", "--no-wait"], openEnv());
  assert.equal(run.code, 0, run.stderr);
  const id = run.stdout.trim();
  assert.match(id, /^op-[0-9a-f]{32}$/);
  const monitor = await runScript("monitor-operations.js", [], openEnv(), { input: `${id}\n` });
  assert.equal(monitor.code, 0, monitor.stderr);
  assert.match(monitor.stderr, /1 of 1 ready/);
});

test("with ORCHESTRATOR_API_KEY the key is sent as x-api-key; without it the API refuses", async () => {
  const env = { PATH: process.env.PATH, ORCHESTRATOR_URL: setting("TEST_API_KEY_URL") };
  const keyed = await runScript("start-instance.js", ["inference"], {
    ...env,
    ORCHESTRATOR_API_KEY: setting("TEST_ORCHESTRATOR_API_KEY"),
  });
  const missing = await runScript("start-instance.js", ["inference"], env);
  const explicit = await runScript("start-instance.js", ["inference"], { ...env, ORCHESTRATOR_AUTH: "api-key" });
  assert.equal(keyed.code, 0, keyed.stderr);
  assert.equal(missing.code, 2);
  assert.match(missing.stderr, /403 HTTP_403: Forbidden/);
  assert.equal(explicit.code, 2);
  assert.match(explicit.stderr, /ORCHESTRATOR_AUTH=api-key needs ORCHESTRATOR_API_KEY/);
});
