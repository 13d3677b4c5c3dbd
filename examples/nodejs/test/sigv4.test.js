// The SigV4 signer: identical to botocore's SigV4Auth for the same requests, times and keys (vectors
// written by the pytest driver), and accepted by an IAM gateway that verifies with botocore.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { signRequest } from "../lib/sigv4.js";
import { runScript, setting, sigv4Env } from "./support.js";

const vectors = () => JSON.parse(readFileSync(setting("SIGV4_VECTORS"), "utf8"));

test("every request is signed exactly as botocore signs it", () => {
  const cases = vectors();
  assert.ok(cases.length >= 5);
  for (const { method, url, headers, body, credentials, region, date, expected } of cases) {
    const signed = signRequest({ method, url, headers, body, region, credentials, date: new Date(date) });
    assert.deepEqual(signed, expected, `${method} ${url}`);
  }
});

test("a different body, path or secret gives a different signature", () => {
  const [, post] = vectors();
  const sign = (changes) => signRequest({ ...post, date: new Date(post.date), ...changes }).authorization;
  const original = sign({});
  assert.notEqual(sign({ body: `${post.body} ` }), original);
  assert.notEqual(sign({ url: post.url.replace("dev-box", "dev-bux") }), original);
  assert.notEqual(sign({ credentials: { ...post.credentials, secretAccessKey: "other" } }), original);
});

test("start-instance.js signed with SigV4 passes the IAM gateway and the instance ends ready", async () => {
  const run = await runScript("start-instance.js", ["dev-box", "--json"], sigv4Env());
  assert.equal(run.code, 0, run.stderr);
  const operation = JSON.parse(run.stdout);
  assert.equal(operation.status, "ready");
  assert.equal(operation.instanceId, "inst-dev-box");
});

test("a name that needs encoding is signed right: the API, not the gateway, answers", async () => {
  const run = await runScript("start-instance.js", ["café box"], sigv4Env());
  assert.equal(run.code, 2, run.stderr);
  assert.match(run.stderr, /404 INSTANCE_NOT_FOUND/);
});

test("a wrong secret is refused by the gateway with 403 and a hint", async () => {
  const run = await runScript("start-instance.js", ["dev-box"], sigv4Env({ AWS_SECRET_ACCESS_KEY: "not-the-secret" }));
  assert.equal(run.code, 2);
  assert.match(run.stderr, /403 InvalidSignatureException: The request signature we calculated does not match/);
  assert.match(run.stderr, /hint: check ORCHESTRATOR_AUTH/);
});

test("sigv4 without credentials or a region says which variable is missing", async () => {
  const noKeys = await runScript("start-instance.js", ["dev-box"], sigv4Env({ AWS_ACCESS_KEY_ID: "" }));
  const noRegion = await runScript("start-instance.js", ["dev-box"], sigv4Env({ AWS_REGION: "" }));
  assert.equal(noKeys.code, 2);
  assert.match(noKeys.stderr, /AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY/);
  assert.equal(noRegion.code, 2);
  assert.match(noRegion.stderr, /set AWS_REGION/);
});
