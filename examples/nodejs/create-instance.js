#!/usr/bin/env node
// Create a Novita instance from a template through novita-orchestrator, on a product or on the
// cheapest offer of a GPU type with capacity, and follow it until its app answers. A template with a
// private image names its registry auth: the service resolves it to an imageAuthId, so no registry
// password ever passes through this script, the request or the service.
//
//   ORCHESTRATOR_URL=... node create-instance.js --template tpl-private-app --product prod-rtx4090-24g --name my-box
//   ORCHESTRATOR_URL=... node create-instance.js --template tpl-public-nginx --gpu-type "RTX 4090" --name my-gpu-box
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

const USAGE = `usage: node create-instance.js --template ID (--product ID | --gpu-type TYPE) --name NAME [options]

  --template ID       the Novita template (its image, private or public, and its ports)
  --product ID        the Novita GPU product
  --gpu-type TYPE     instead of --product: a GPU type, e.g. "RTX 4090": the cheapest deployable
                      offer, the next one if it is sold out
  --region CLUSTER    with --gpu-type: a Novita cluster ID to try, in order at equal price (repeatable)
  --max-price USD     with --gpu-type: the most per hour for the whole instance
  --spot              with --gpu-type: spot billing (default on-demand)
  --name NAME         the new instance's name (a repeated create finds it instead of making another)
  --gpus N            GPUs (1-8, default 1)
  --disk GB           root filesystem size (10-6144)
  --ports SPEC        e.g. 8000/http,22/tcp (default: the template's)
  --env KEY=VALUE     an environment variable (repeatable)
  --cluster ID        with --product: the Novita cluster (default: any)
${OPERATION_USAGE}

Environment: ORCHESTRATOR_URL, ORCHESTRATOR_AUTH (sigv4 | api-key | none), ORCHESTRATOR_API_KEY,
AWS_ACCESS_KEY_ID / AWS_SECRET_ACCESS_KEY / AWS_SESSION_TOKEN / AWS_REGION for sigv4.
Exit status: 0 ready, 1 failed (or timed out, or the API unreachable), 2 bad input or refused.`;

const FLAGS = {
  ...OPERATION_FLAGS,
  template: { type: "string" },
  product: { type: "string" },
  "gpu-type": { type: "string" },
  region: { type: "string", multiple: true },
  "max-price": { type: "string" },
  spot: { type: "boolean" },
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
  for (const flag of ["template", "name"]) {
    if (!values[flag]) throw new UsageError(`--${flag} is required`);
  }
  const envs = {};
  for (const pair of values.env ?? []) {
    const cut = pair.indexOf("=");
    if (cut < 1) throw new UsageError(`--env: expected KEY=VALUE, got ${JSON.stringify(pair.split("=")[0])}=...`);
    envs[pair.slice(0, cut)] = pair.slice(cut + 1);
  }
  const gpus = numberFlag(values, "gpus", { min: 1, max: 8, integer: true });
  const spec = {
    templateId: values.template,
    ...productChoice(values, gpus),
    name: values.name,
    ...(values.disk !== undefined && { rootfsSize: numberFlag(values, "disk", { min: 10, max: 6144, integer: true }) }),
    ...(values.ports !== undefined && { ports: values.ports }),
    ...(Object.keys(envs).length && { envs }),
  };
  const options = operationOptions(values);
  const client = OrchestratorClient.fromEnv();
  const accepted = await client.create(spec, options);
  return finishOperation(client, accepted, values, options);
});

/** { productId, gpuNum, clusterId } for --product, or { gpu } for --gpu-type (--gpus is its count). */
function productChoice(values, gpus) {
  const product = values.product;
  const type = values["gpu-type"];
  if (!product === !type) throw new UsageError("name exactly one of --product or --gpu-type");
  if (product !== undefined) {
    const stray = ["region", "max-price", "spot"].filter((flag) => values[flag] !== undefined);
    if (stray.length) throw new UsageError(`${stray.map((flag) => `--${flag}`).join(", ")}: only with --gpu-type`);
    return {
      productId: product,
      ...(gpus !== undefined && { gpuNum: gpus }),
      ...(values.cluster !== undefined && { clusterId: values.cluster }),
    };
  }
  if (values.cluster !== undefined) {
    throw new UsageError("--cluster: only with --product (use --region with --gpu-type)");
  }
  const maxPrice = numberFlag(values, "max-price", { min: 0.01, max: 10000 });
  return {
    gpu: {
      type,
      ...(gpus !== undefined && { count: gpus }),
      regions: values.region ?? [],
      ...(maxPrice !== undefined && { maxPricePerHour: maxPrice }),
      billing: values.spot ? "spot" : "onDemand",
    },
  };
}
