#!/usr/bin/env node
// Follow one or more novita-orchestrator operations at once until each is ready or failed, printing
// every phase change. Operation IDs come from the arguments, or one per line on stdin:
//
//   node start-instance.js dev-box --no-wait | node monitor-operations.js
import { once } from "node:events";
import { createInterface } from "node:readline";
import { NOT_FOUND_GRACE_SECONDS, OrchestratorClient } from "./lib/client.js";
import { EXIT_FAILED, EXIT_READY, UsageError, followToEnd, numberFlag, parse, run } from "./lib/cli.js";

const USAGE = `usage: node monitor-operations.js [op-ID ...] [--timeout SECONDS] [--unknown-grace SECONDS] [--json]

  op-ID                    operations to follow (default: read them from stdin, one per line)
  --timeout SECONDS        stop following after this long (default 1860)
  --unknown-grace SECONDS  how long an ID the API does not know yet is asked again before it counts as
                           unknown (default 30: a just-accepted operation may take a moment to appear)
  --json                   print the final operations as a JSON array on stdout

Environment: ORCHESTRATOR_URL, ORCHESTRATOR_AUTH (sigv4 | api-key | none), ORCHESTRATOR_API_KEY,
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN / AWS_REGION for sigv4.
Exit status: 0 all ready, 1 any failed (or timed out), 2 bad input (e.g. an unknown operation).`;

const OPERATION_ID = /^op-[0-9a-f]{32}$/;

async function idsFromStdin() {
  const ids = [];
  const lines = createInterface({ input: process.stdin });
  lines.on("line", (line) => line.trim() && ids.push(line.trim()));
  await once(lines, "close");
  return ids;
}

await run(USAGE, async () => {
  const flags = { timeout: { type: "string" }, "unknown-grace": { type: "string" }, json: { type: "boolean" } };
  const { values, positionals } = parse(process.argv.slice(2), flags);
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  const timeoutSeconds = numberFlag(values, "timeout", { min: 1, fallback: 1860 });
  const notFoundGraceSeconds = numberFlag(values, "unknown-grace", { min: 0, fallback: NOT_FOUND_GRACE_SECONDS });
  const ids = positionals.length ? positionals : await idsFromStdin();
  if (!ids.length) throw new UsageError("name at least one operation ID (arguments or stdin)");
  const wrong = ids.find((id) => !OPERATION_ID.test(id));
  if (wrong) throw new UsageError(`not an operation ID: ${JSON.stringify(wrong)} (expected op-<32 hex digits>)`);

  const client = OrchestratorClient.fromEnv();
  // Each operation is followed on its own; one that cannot be followed does not stop the others.
  const results = await Promise.allSettled(
    ids.map((id) => followToEnd(client, id, { timeoutSeconds, notFoundGraceSeconds, label: id })),
  );
  const failure = results.find((r) => r.status === "rejected");
  const finals = results.filter((r) => r.status === "fulfilled").map((r) => r.value);
  if (values.json) console.log(JSON.stringify(finals));
  const ready = finals.filter((op) => op.status === "ready").length;
  console.error(`${ready} of ${ids.length} ready`);
  if (failure) throw failure.reason;
  return ready === ids.length ? EXIT_READY : EXIT_FAILED;
});
