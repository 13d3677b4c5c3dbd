#!/usr/bin/env node
// Start a Novita instance by ID or exact name through novita-orchestrator, and follow the operation
// until the instance runs and its app answers (exit 0) or the operation fails (exit 1).
//
//   ORCHESTRATOR_URL=https://<api-id>.execute-api.<region>.amazonaws.com/v1 ORCHESTRATOR_AUTH=sigv4 \
//     node start-instance.js dev-box --webhook-url https://hooks.example.com/novita
import { OrchestratorClient } from "./lib/client.js";
import {
  OPERATION_FLAGS,
  OPERATION_USAGE,
  UsageError,
  finishOperation,
  operationOptions,
  parse,
  run,
} from "./lib/cli.js";

const USAGE = `usage: node start-instance.js <instance-id-or-name> [options]

${OPERATION_USAGE}

Environment: ORCHESTRATOR_URL, ORCHESTRATOR_AUTH (sigv4 | api-key | none), ORCHESTRATOR_API_KEY,
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN / AWS_REGION for sigv4.
Exit status: 0 ready, 1 failed (or timed out, or the API unreachable), 2 bad input or refused.`;

await run(USAGE, async () => {
  const { values, positionals } = parse(process.argv.slice(2), OPERATION_FLAGS);
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length !== 1) throw new UsageError("name exactly one instance (its ID or exact name)");
  const options = operationOptions(values);
  const client = OrchestratorClient.fromEnv();
  const accepted = await client.start(positionals[0], options);
  return finishOperation(client, accepted, values, options);
});
