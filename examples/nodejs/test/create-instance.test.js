// create-instance.js against `serve`: a private-image template ends ready (the simulator fails the
// pull unless the service named the template's registry auth); a product without capacity fails; a
// GPU type lands on an offer in the region asked.
import assert from "node:assert/strict";
import { test } from "node:test";
import { lastJson, openClient, openEnv, runScript } from "./support.js";

test("creates from a private-image template and follows it until its app answers", async () => {
  const args = [
    "--template",
    "tpl-private-app",
    "--product",
    "prod-rtx4090-24g",
    "--name",
    "node-made",
    "--env",
    "MODE=demo",
    "--json",
  ];
  const run = await runScript("create-instance.js", args, openEnv());
  assert.equal(run.code, 0, run.stderr);
  const operation = lastJson(run.stdout);
  assert.equal(operation.status, "ready");
  assert.equal(operation.kind, "create");
  const instance = await openClient().instance("node-made");
  assert.equal(instance.imageUrl, "registry.example.com/team/app:1.0");
  assert.ok(instance.envNames.includes("MODE"), instance.envNames);
});

test("a product without capacity ends failed: exit 1 with the outcome", async () => {
  const args = ["--template", "tpl-public-nginx", "--product", "prod-h100-80g", "--name", "no-capacity"];
  const run = await runScript("create-instance.js", args, openEnv());
  assert.equal(run.code, 1, run.stderr);
  assert.match(run.stderr, /failed: LAUNCH_REFUSED: .*INSUFFICIENT_RESOURCE/);
});

test("--gpu-type creates on the cheapest offer in the --region given and follows it", async () => {
  const choice = ["--gpu-type", "RTX 4090", "--region", "cl-eu-de-1", "--max-price", "1"];
  const args = ["--template", "tpl-public-nginx", ...choice, "--name", "node-gpu", "--json"];
  const run = await runScript("create-instance.js", args, openEnv());
  assert.equal(run.code, 0, run.stderr);
  const operation = lastJson(run.stdout);
  assert.equal(operation.status, "ready");
  assert.equal(operation.offer.productId, "prod-rtx4090-24g");
  assert.equal(operation.offer.clusterId, "cl-eu-de-1");
  assert.equal((await openClient().instance("node-gpu")).clusterId, "cl-eu-de-1");
});

test("--product or --gpu-type, exactly one; the failover flags only with --gpu-type", async () => {
  const base = ["--template", "t", "--name", "n"];
  const neither = await runScript("create-instance.js", base, openEnv());
  const both = await runScript("create-instance.js", [...base, "--product", "p", "--gpu-type", "A100"], openEnv());
  const stray = await runScript("create-instance.js", [...base, "--product", "p", "--region=x", "--spot"], openEnv());
  const cluster = await runScript("create-instance.js", [...base, "--gpu-type", "A100", "--cluster", "c"], openEnv());
  const price = await runScript("create-instance.js", [...base, "--gpu-type", "A100", "--max-price", "0"], openEnv());
  for (const run of [neither, both, stray, cluster, price]) assert.equal(run.code, 2, run.stderr);
  assert.match(neither.stderr, /name exactly one of --product or --gpu-type/);
  assert.match(both.stderr, /name exactly one of --product or --gpu-type/);
  assert.match(stray.stderr, /--region, --spot: only with --gpu-type/);
  assert.match(cluster.stderr, /--cluster: only with --product/);
  assert.match(price.stderr, /--max-price: expected a number between 0.01 and 10000, got "0"/);
});

test("missing and bad flags are refused naming the flag", async () => {
  const noName = await runScript("create-instance.js", ["--template", "t", "--product", "p"], openEnv());
  const gpus = await runScript(
    "create-instance.js",
    ["--template", "t", "--product", "p", "--name", "n", "--gpus", "9"],
    openEnv(),
  );
  const env = await runScript(
    "create-instance.js",
    ["--template", "t", "--product", "p", "--name", "n", "--env", "NOEQUALS"],
    openEnv(),
  );
  for (const run of [noName, gpus, env]) assert.equal(run.code, 2, run.stderr);
  assert.match(noName.stderr, /--name is required/);
  assert.match(gpus.stderr, /--gpus: expected a whole number between 1 and 8, got "9"/);
  assert.match(env.stderr, /--env: expected KEY=VALUE/);
});

test("a field the API refuses is exit 2 with the field it names", async () => {
  const args = ["--template", "tpl-public-nginx", "--product", "prod-rtx4090-24g", "--name", "n", "--ports", "eighty"];
  const run = await runScript("create-instance.js", args, openEnv());
  assert.equal(run.code, 2);
  assert.match(run.stderr, /422 INVALID_REQUEST: .*\(fields: ports\)/);
});
