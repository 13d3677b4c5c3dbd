#!/usr/bin/env node
// Create a Novita instance from a template through novita-orchestrator and follow it until its app
// answers. A template with a private image names its registry auth: the service resolves it to an
// imageAuthId, so no registry password ever passes through this script, the request or the service.
//
//   ORCHESTRATOR_URL=... node create-instance.js --template tpl-private-app --product prod-rtx4090-24g --name my-box
import { OrchestratorClient } from "./lib/client.js";
import {
  OPERATION_FLAGS,
  OPERATION_USAGE,
  UsageError,
  finishOperation,
  numberFlag,
  operationOptions,
  parse,
  run,
} from "./lib/cli.js";

const USAGE = `usage: node create-instance.js --template ID --product ID --name NAME [options]

  --template ID       the Novita template (its image, private or public, and its ports)
  --product ID        the Novita GPU product
  --name NAME         the new instance's name (a repeated create finds it instead of making another)
  --gpus N            GPUs (1-8, default 1)
  --disk GB           root filesystem size (10-6144)
  --ports SPEC        e.g. 8000/http,22/tcp (default: the template's)
  --env KEY=VALUE     an environment variable (repeatable)
  --cluster ID        the Novita cluster (default: any)
${OPERATION_USAGE}

Environment: ORCHESTRATOR_URL, ORCHESTRATOR_AUTH (sigv4 | api-key | none), ORCHESTRATOR_API_KEY,
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN / AWS_REGION for sigv4.
Exit status: 0 ready, 1 failed (or timed out, or the API unreachable), 2 bad input or refused.`;

const FLAGS = {
  ...OPERATION_FLAGS,
  template: { type: "string" },
  product: { type: "string" },
  name: { type: "string" },
  gpus: { type: "string" },
  disk: { type: "string" },
  ports: { type: "string" },
  env: { type: "string", multiple: true },
  cluster: { type: "string" },
};

await run(USAGE, async () => {
  const { values, positionals } = parse(process.argv.slice(2), FLAGS);
  if (values.help) {
    console.log(USAGE);
    return 0;
  }
  if (positionals.length) throw new UsageError(`unexpected argument ${JSON.stringify(positionals[0])}`);
  for (const flag of ["template", "product", "name"]) {
    if (!values[flag]) throw new UsageError(`--${flag} is required`);
  }
  const envs = {};
  for (const pair of values.env ?? []) {
    const cut = pair.indexOf("=");
    if (cut < 1) throw new UsageError(`--env: expected KEY=VALUE, got ${JSON.stringify(pair.split("=")[0])}=...`);
    envs[pair.slice(0, cut)] = pair.slice(cut + 1);
  }
  const spec = {
    templateId: values.template,
    productId: values.product,
    name: values.name,
    ...(values.gpus !== undefined && { gpuNum: numberFlag(values, "gpus", { min: 1, max: 8, integer: true }) }),
    ...(values.disk !== undefined && { rootfsSize: numberFlag(values, "disk", { min: 10, max: 6144, integer: true }) }),
    ...(values.ports !== undefined && { ports: values.ports }),
    ...(Object.keys(envs).length && { envs }),
    ...(values.cluster !== undefined && { clusterId: values.cluster }),
  };
  const options = operationOptions(values);
  const client = OrchestratorClient.fromEnv();
  const accepted = await client.create(spec, options);
  return finishOperation(client, accepted, values, options);
});
