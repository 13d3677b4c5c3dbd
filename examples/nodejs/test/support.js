// Helpers of the examples' tests: the stack's settings (set by tests/e2e/test_client_nodejs.py, which
// starts `serve`, the Novita simulator and an IAM gateway) and running a script as a user would.
import { spawn } from "node:child_process";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";
import { OrchestratorClient } from "../lib/client.js";

export const EXAMPLES = dirname(dirname(fileURLToPath(import.meta.url)));

/** A variable the test driver sets; a clear failure when the tests are run without it. */
export function setting(name) {
  const value = process.env[name];
  if (!value) {
    throw new Error(
      `${name} is not set: run these tests through pytest tests/e2e/test_client_nodejs.py (it starts the stack)`,
    );
  }
  return value;
}

/** The environment a user would export for the open `serve` (no auth). */
export function openEnv(extra = {}) {
  return { PATH: process.env.PATH, ORCHESTRATOR_URL: setting("ORCHESTRATOR_URL"), ...extra };
}

/** The environment for the IAM gateway: ORCHESTRATOR_AUTH=sigv4 and the test credentials. */
export function sigv4Env(extra = {}) {
  return {
    PATH: process.env.PATH,
    ORCHESTRATOR_URL: setting("TEST_IAM_URL"),
    ORCHESTRATOR_AUTH: "sigv4",
    AWS_ACCESS_KEY_ID: setting("TEST_AWS_ACCESS_KEY_ID"),
    AWS_SECRET_ACCESS_KEY: setting("TEST_AWS_SECRET_ACCESS_KEY"),
    AWS_SESSION_TOKEN: setting("TEST_AWS_SESSION_TOKEN"),
    AWS_REGION: setting("TEST_AWS_REGION"),
    ...extra,
  };
}

export function openClient() {
  return new OrchestratorClient({ url: setting("ORCHESTRATOR_URL") });
}

/**
 * Runs `node <script> ...args` with exactly `env`; resolves { code, stdout, stderr }.
 * `input` is written to its stdin (then closed).
 */
export function runScript(script, args, env, { input = "", timeoutMs = 180_000 } = {}) {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [join(EXAMPLES, script), ...args], { env, cwd: EXAMPLES });
    let stdout = "";
    let stderr = "";
    child.stdout.on("data", (chunk) => (stdout += chunk));
    child.stderr.on("data", (chunk) => (stderr += chunk));
    const timer = setTimeout(() => {
      child.kill();
      reject(new Error(`${script} ${args.join(" ")} did not finish in ${timeoutMs} ms\n${stderr}`));
    }, timeoutMs);
    child.on("error", reject);
    child.on("close", (code) => {
      clearTimeout(timer);
      resolve({ code, stdout, stderr });
    });
    child.stdin.end(input);
  });
}

/** The last line of stdout, parsed as JSON. */
export function lastJson(stdout) {
  const lines = stdout.trim().split("\n");
  return JSON.parse(lines[lines.length - 1]);
}

/** Follows an operation to its end with the library (for operations a test started itself). */
export async function finalState(client, operationId) {
  let last;
  for await (const operation of client.follow(operationId, { timeoutSeconds: 120, pollSeconds: 0.2 })) last = operation;
  return last;
}
