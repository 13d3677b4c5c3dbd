// What the example scripts share: argument parsing, exit codes, and following an operation to its end.
// Progress goes to stderr; stdout carries only the result (an operation ID, or JSON with --json).
import { parseArgs } from "node:util";
import {
  ApiError,
  ConfigError,
  DEFAULT_WAIT_SECONDS,
  NOT_FOUND_GRACE_SECONDS,
  TransportError,
  WaitTimeout,
} from "./client.js";

export const EXIT_READY = 0;
export const EXIT_FAILED = 1;
export const EXIT_BAD_INPUT = 2;

export class UsageError extends Error {
  name = "UsageError";
}

/** util.parseArgs, with its errors turned into UsageError. */
export function parse(argv, options) {
  try {
    return parseArgs({
      args: argv,
      options: { help: { type: "boolean", short: "h" }, ...options },
      allowPositionals: true,
    });
  } catch (error) {
    throw new UsageError(error.message);
  }
}

/** The number given for `--flag`, or `fallback` when it is absent; a UsageError names the flag. */
export function numberFlag(values, flag, { min = -Infinity, max = Infinity, integer = false, fallback } = {}) {
  const text = values[flag];
  if (text === undefined) return fallback;
  const value = Number(text);
  if (
    text.trim() === "" ||
    !Number.isFinite(value) ||
    value < min ||
    value > max ||
    (integer && !Number.isInteger(value))
  ) {
    const kind = integer ? "a whole number" : "a number";
    throw new UsageError(`--${flag}: expected ${kind} between ${min} and ${max}, got ${JSON.stringify(text)}`);
  }
  return value;
}

/** Runs `main` (which returns an exit code) and sets process.exitCode; errors become a line and a code. */
export async function run(usage, main) {
  try {
    process.exitCode = await main();
  } catch (error) {
    process.exitCode = report(error, usage);
  }
}

function report(error, usage) {
  if (error instanceof UsageError || error instanceof ConfigError) {
    console.error(`error: ${error.message}\n\n${usage}`);
    return EXIT_BAD_INPUT;
  }
  if (error instanceof ApiError) {
    const extra = [
      error.fields.length ? `fields: ${error.fields.join(", ")}` : "",
      error.operationId ? `operation: ${error.operationId}` : "",
      error.retryAfterSeconds != null ? `retry after ${error.retryAfterSeconds} s` : "",
    ].filter(Boolean);
    console.error(`error: the API answered ${error.message}${extra.length ? ` (${extra.join("; ")})` : ""}`);
    if (error.status === 403 || error.status === 401) {
      console.error("hint: check ORCHESTRATOR_AUTH (sigv4 for ApiAuth=IAM) or ORCHESTRATOR_API_KEY");
    }
    // The caller's mistake (4xx other than rate limiting) is bad input; the rest is a failure.
    return error.status >= 400 && error.status < 500 && error.status !== 429 ? EXIT_BAD_INPUT : EXIT_FAILED;
  }
  if (error instanceof WaitTimeout) {
    console.error(
      `timed out: ${error.message}; follow it with: node monitor-operations.js ${error.operation.operationId}`,
    );
    return EXIT_FAILED;
  }
  if (error instanceof TransportError) {
    console.error(`error: cannot reach the API: ${error.message}`);
    return EXIT_FAILED;
  }
  console.error(error);
  return EXIT_FAILED;
}

/**
 * Follows one operation until it is ready or failed, printing each change to stderr (prefixed with
 * `label`). Returns the final operation.
 */
export async function followToEnd(
  client,
  operationId,
  { timeoutSeconds = DEFAULT_WAIT_SECONDS, notFoundGraceSeconds = NOT_FOUND_GRACE_SECONDS, label = "" } = {},
) {
  const started = Date.now();
  const prefix = label ? `${label} ` : "";
  let last = null;
  for await (const operation of client.follow(operationId, { timeoutSeconds, notFoundGraceSeconds })) {
    last = operation;
    const elapsed = ((Date.now() - started) / 1000).toFixed(1).padStart(6);
    const latest = operation.notifications?.at(-1);
    console.error(`${prefix}[${elapsed}s] ${operation.phase}${latest ? `  (${latest})` : ""}`);
  }
  if (last.status === "ready") {
    console.error(`${prefix}ready: ${last.instanceName ?? last.target} (${last.instanceId}) answers`);
  } else {
    const outcome = last.outcome ?? { code: "UNKNOWN", message: "no reason recorded" };
    console.error(`${prefix}${last.status}: ${outcome.code}: ${outcome.message}`);
  }
  return last;
}

export function exitCodeOf(operation) {
  return operation.status === "ready" ? EXIT_READY : EXIT_FAILED;
}

/** The start/create options shared by start-instance.js and create-instance.js. */
export const OPERATION_FLAGS = {
  "webhook-url": { type: "string" },
  "health-port": { type: "string" },
  "health-path": { type: "string" },
  timeout: { type: "string" },
  "auto-stop-after": { type: "string" },
  "auto-stop-idle": { type: "string" },
  "no-wait": { type: "boolean" },
  json: { type: "boolean" },
};

export const OPERATION_USAGE = `  --webhook-url URL   send the signed lifecycle notifications there
  --health-port N     the container port whose app must answer (default: every HTTP port)
  --health-path PATH  the path probed on it (default /)
  --timeout SECONDS   give up after this long (10-86400; default: the service's 1800)
  --auto-stop-after S once ready, stop the instance after S seconds (60-2592000)
  --auto-stop-idle S  once ready, stop it S seconds after the last heartbeat (60-604800)
  --no-wait           print the operation ID and exit (follow it with monitor-operations.js)
  --json              print the final operation (or, with --no-wait, the 202 answer) as JSON on stdout`;

/** { webhookUrl, healthCheck, timeoutSeconds, autoStop } from the shared flags. */
export function operationOptions(values) {
  const port = numberFlag(values, "health-port", { min: 1, max: 65535, integer: true });
  const path = values["health-path"];
  if (path !== undefined && !path.startsWith("/")) throw new UsageError('--health-path: must start with "/"');
  return {
    webhookUrl: values["webhook-url"],
    healthCheck:
      port !== undefined || path !== undefined ? { ...(port !== undefined && { port }), path: path ?? "/" } : undefined,
    timeoutSeconds: numberFlag(values, "timeout", { min: 10, max: 86400 }),
    autoStop: autoStopOf(values),
  };
}

/** The auto-stop lease the flags ask for (the API's limits: 30 days after ready, a week idle). */
function autoStopOf(values) {
  const afterSeconds = numberFlag(values, "auto-stop-after", { min: 60, max: 30 * 86400 });
  const idleSeconds = numberFlag(values, "auto-stop-idle", { min: 60, max: 7 * 86400 });
  if (afterSeconds === undefined && idleSeconds === undefined) return undefined;
  return { ...(afterSeconds !== undefined && { afterSeconds }), ...(idleSeconds !== undefined && { idleSeconds }) };
}

/** After a 202: print the ID (--no-wait) or follow the operation to its end. Returns the exit code. */
export async function finishOperation(client, accepted, values, options) {
  console.error(`accepted: operation ${accepted.operationId} (${accepted.kind} ${accepted.target})`);
  if (values["no-wait"]) {
    console.log(values.json ? JSON.stringify(accepted) : accepted.operationId);
    return EXIT_READY;
  }
  // Follow a little past the operation's own deadline: the service ends it, not this script.
  const timeoutSeconds = (options.timeoutSeconds ?? DEFAULT_WAIT_SECONDS) + 60;
  const operation = await followToEnd(client, accepted.operationId, { timeoutSeconds });
  if (values.json) console.log(JSON.stringify(operation));
  return exitCodeOf(operation);
}
