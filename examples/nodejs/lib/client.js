// The novita-orchestrator REST API from Node.js: configuration from the environment, SigV4 or API-key
// auth, typed errors from the API's error body, retries on 429/503 after Retry-After, and following
// an operation until it is ready or failed.
import { randomUUID } from "node:crypto";
import { signRequest } from "./sigv4.js";

/** "Come back later; nothing was started": the only answers that are retried. */
export const RETRIED_STATUSES = new Set([429, 503]);
/** The service's own longest operation (STARTUP_TIMEOUT_SECONDS' default). */
export const DEFAULT_WAIT_SECONDS = 1800;
/**
 * How long an operation may be unknown to GET /operations/{id} before following it gives up: a
 * deployment may record a new operation only once its workflow runs, a moment after the 202.
 */
export const NOT_FOUND_GRACE_SECONDS = 30;
const EXECUTE_API_HOST = /^[a-z0-9]+\.execute-api\.([a-z0-9-]+)\.amazonaws\.com(\.cn)?$/;

/**
 * A setting or an argument is missing or wrong, found before any request (the message names the
 * environment variable or the option).
 */
export class ConfigError extends Error {
  name = "ConfigError";
}

/** The API answered with an error status: `code`, `message`, and `fields` / `operationId` when it says. */
export class ApiError extends Error {
  name = "ApiError";

  constructor(status, code, message, { fields = [], operationId = null, retryAfterSeconds = null, body = null } = {}) {
    super(`${status} ${code}: ${message}`);
    Object.assign(this, { status, code, detail: message, fields, operationId, retryAfterSeconds, body });
  }
}

/** No HTTP answer at all (connection refused, DNS, timeout). */
export class TransportError extends Error {
  name = "TransportError";
}

/** follow(): the operation was still running when the wait ran out (it keeps running). */
export class WaitTimeout extends Error {
  name = "WaitTimeout";

  constructor(operation, timeoutSeconds) {
    super(
      `operation ${operation.operationId} still ${operation.status} (phase ${operation.phase}) after ${timeoutSeconds} s`,
    );
    this.operation = operation;
  }
}

export const noAuth = { headers: () => ({}) };

export function apiKeyAuth(key) {
  return { headers: () => ({ "x-api-key": key }) };
}

export function sigv4Auth({ accessKeyId, secretAccessKey, sessionToken, region }) {
  const credentials = { accessKeyId, secretAccessKey, sessionToken: sessionToken || undefined };
  return {
    headers: ({ method, url, headers, body }) => signRequest({ method, url, headers, body, credentials, region }),
  };
}

/**
 * { url, auth } from ORCHESTRATOR_URL, ORCHESTRATOR_AUTH (sigv4 | api-key | none; default: api-key
 * when ORCHESTRATOR_API_KEY is set, else none) and, for sigv4, AWS_ACCESS_KEY_ID,
 * AWS_SECRET_ACCESS_KEY, AWS_SESSION_TOKEN and the region (from the URL, else AWS_REGION /
 * AWS_DEFAULT_REGION).
 */
export function configFromEnv(env = process.env) {
  const url = (env.ORCHESTRATOR_URL ?? "").trim().replace(/\/+$/, "");
  if (!url) {
    throw new ConfigError(
      "ORCHESTRATOR_URL is not set: the API's base URL (the stack's ApiUrl output, or serve's URL)",
    );
  }
  let parsed;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`ORCHESTRATOR_URL: not a URL: ${url}`);
  }
  if (parsed.protocol !== "http:" && parsed.protocol !== "https:") {
    throw new ConfigError(`ORCHESTRATOR_URL: must be http(s)://..., got ${url}`);
  }
  const apiKey = (env.ORCHESTRATOR_API_KEY ?? "").trim();
  const mode = (env.ORCHESTRATOR_AUTH ?? "").trim().toLowerCase() || (apiKey ? "api-key" : "none");
  if (mode === "none") return { url, auth: noAuth };
  if (mode === "api-key") {
    if (!apiKey) throw new ConfigError("ORCHESTRATOR_AUTH=api-key needs ORCHESTRATOR_API_KEY (the key's value)");
    return { url, auth: apiKeyAuth(apiKey) };
  }
  if (mode === "sigv4") {
    const accessKeyId = (env.AWS_ACCESS_KEY_ID ?? "").trim();
    const secretAccessKey = (env.AWS_SECRET_ACCESS_KEY ?? "").trim();
    if (!accessKeyId || !secretAccessKey) {
      throw new ConfigError(
        "ORCHESTRATOR_AUTH=sigv4 needs AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (and AWS_SESSION_TOKEN for temporary" +
          ' credentials; e.g. eval "$(aws configure export-credentials --format env)")',
      );
    }
    const region =
      EXECUTE_API_HOST.exec(parsed.hostname)?.[1] ||
      (env.AWS_REGION ?? "").trim() ||
      (env.AWS_DEFAULT_REGION ?? "").trim();
    if (!region) throw new ConfigError("ORCHESTRATOR_AUTH=sigv4 needs a region: it is not in the URL; set AWS_REGION");
    return { url, auth: sigv4Auth({ accessKeyId, secretAccessKey, sessionToken: env.AWS_SESSION_TOKEN, region }) };
  }
  throw new ConfigError(`ORCHESTRATOR_AUTH: expected sigv4, api-key or none, got ${JSON.stringify(mode)}`);
}

/** Retry-After in seconds (a number or an HTTP date), or null. */
export function retryAfterSeconds(value, now = Date.now()) {
  if (value == null || !String(value).trim()) return null;
  const text = String(value).trim();
  if (/^\d+(\.\d+)?$/.test(text)) return Number(text);
  const when = Date.parse(text);
  return Number.isNaN(when) ? null : Math.max(0, (when - now) / 1000);
}

/** The typed error of an error answer: the API's {"error": {...}} or API Gateway's {"message"}. */
export function errorFromAnswer(status, headers, text) {
  let body = null;
  try {
    body = text ? JSON.parse(text) : null;
  } catch {
    body = text;
  }
  const retryAfter = retryAfterSeconds(headers.get("retry-after"));
  const detail = body && typeof body === "object" ? body.error : null;
  if (detail && typeof detail === "object" && typeof detail.code === "string") {
    return new ApiError(status, detail.code, String(detail.message ?? ""), {
      fields: Array.isArray(detail.fields) ? detail.fields.map(String) : [],
      operationId: typeof detail.operationId === "string" ? detail.operationId : null,
      retryAfterSeconds: retryAfter ?? (typeof detail.retryAfterSeconds === "number" ? detail.retryAfterSeconds : null),
      body,
    });
  }
  const kind = (headers.get("x-amzn-errortype") ?? "").split(":")[0].trim();
  const message =
    body && typeof body === "object" && typeof body.message === "string"
      ? body.message
      : String(text ?? "")
          .trim()
          .slice(0, 300) || `HTTP ${status}`;
  return new ApiError(status, kind || `HTTP_${status}`, message, { retryAfterSeconds: retryAfter, body });
}

const sleepMs = (ms) => new Promise((resolve) => setTimeout(resolve, ms));
const segment = (value) => {
  if (!value) throw new ConfigError("an instance reference or operation ID must not be empty");
  return encodeURIComponent(value);
};

export class OrchestratorClient {
  /**
   * @param {{url: string, auth?: {headers: Function}, retries?: number, maxRetryWaitSeconds?: number,
   *          timeoutMs?: number, sleep?: (ms: number) => Promise<void>}} options
   */
  constructor({ url, auth = noAuth, retries = 3, maxRetryWaitSeconds = 30, timeoutMs = 30_000, sleep = sleepMs }) {
    Object.assign(this, { url: url.replace(/\/+$/, ""), auth, retries, maxRetryWaitSeconds, timeoutMs, sleep });
  }

  static fromEnv(env = process.env, options = {}) {
    return new OrchestratorClient({ ...configFromEnv(env), ...options });
  }

  /**
   * Start an instance by ID or exact name: { webhookUrl, healthCheck: {port, path}, timeoutSeconds,
   * autoStop: {afterSeconds, idleSeconds} } (once ready, stop it after that long, or that long after
   * the last heartbeat).
   */
  start(ref, { idempotencyKey, ...options } = {}) {
    return this.request("POST", `/instances/${segment(ref)}/start`, requestOptions(options), idempotencyKey);
  }

  /**
   * Create from a template: { templateId, name, and either productId (with gpuNum, clusterId) or
   * gpu: {type, count, regions, maxPricePerHour, billing: "onDemand" | "spot"} (the cheapest offer
   * with capacity), rootfsSize, ports, envs }; the options are a start's.
   */
  create(spec, { idempotencyKey, ...options } = {}) {
    return this.request("POST", "/instances", { ...spec, ...requestOptions(options) }, idempotencyKey);
  }

  /** Stop an instance: an operation (202 {operationId, ...}) that ends "stopped" once it is exited. */
  stop(ref, { idempotencyKey, webhookUrl, timeoutSeconds } = {}) {
    const body = requestOptions({ webhookUrl, timeoutSeconds });
    return this.request("POST", `/instances/${segment(ref)}/stop`, body, idempotencyKey);
  }

  /** Delete an instance: `confirm` repeats its exact name (else 422); ends "deleted" once removed. */
  delete(ref, { confirm, idempotencyKey, webhookUrl, timeoutSeconds } = {}) {
    const query = new URLSearchParams({ confirm: confirm ?? "" });
    const body = requestOptions({ webhookUrl, timeoutSeconds });
    return this.request("DELETE", `/instances/${segment(ref)}?${query}`, body, idempotencyKey);
  }

  /**
   * The instance's app is in use: an idle lease runs out idleSeconds from now. Answers the lease
   * (GET /instances/{ref} shows it as `autoStop`); no active lease is the API's 404 LEASE_NOT_FOUND.
   */
  heartbeat(ref) {
    return this.request("POST", `/instances/${segment(ref)}/heartbeat`);
  }

  /**
   * Change the instance's auto-stop lease: { afterSeconds } (run out that long from now: extend or
   * shorten), { idleSeconds } (a new idle time) or { cancel: true }. Answers the lease, or 404
   * LEASE_NOT_FOUND; rejects with ConfigError, before any request, when it names none of them.
   */
  async changeLease(ref, { afterSeconds, idleSeconds, cancel = false } = {}) {
    if (afterSeconds == null && idleSeconds == null && !cancel) {
      throw new ConfigError("changeLease: name afterSeconds, idleSeconds or cancel: true");
    }
    const body = {
      ...(afterSeconds != null && { afterSeconds }),
      ...(idleSeconds != null && { idleSeconds }),
      ...(cancel && { cancel: true }),
    };
    return this.request("POST", `/instances/${segment(ref)}/lease`, body);
  }

  operation(operationId) {
    return this.request("GET", `/operations/${segment(operationId)}`);
  }

  /**
   * Stop driving a running operation: it ends "failed" with outcome.code CANCELLED, notified once;
   * the instance is left as it is (stop it next). Answers { cancelled, operation }: cancelled is
   * false, and nothing changed, when the operation had already ended.
   */
  cancel(operationId) {
    return this.request("POST", `/operations/${segment(operationId)}/cancel`);
  }

  instance(ref) {
    return this.request("GET", `/instances/${segment(ref)}`);
  }

  /**
   * Yields the operation each time its phase or notifications change, the final state last. Throws
   * WaitTimeout when it is still running after `timeoutSeconds`, and the API's 404 when the operation
   * stays unknown for `notFoundGraceSeconds`.
   */
  async *follow(
    operationId,
    { timeoutSeconds = DEFAULT_WAIT_SECONDS, pollSeconds = 2, notFoundGraceSeconds = NOT_FOUND_GRACE_SECONDS } = {},
  ) {
    const started = Date.now();
    const deadline = started + timeoutSeconds * 1000;
    let seen = null;
    for (;;) {
      let operation;
      try {
        operation = await this.operation(operationId);
      } catch (error) {
        const early = seen === null && Date.now() - started < notFoundGraceSeconds * 1000;
        if (!(error instanceof ApiError && error.status === 404 && early)) throw error;
        await this.sleep(Math.min(pollSeconds * 1000, 500));
        continue;
      }
      const key = JSON.stringify([operation.status, operation.phase, operation.notifications]);
      if (key !== seen) {
        seen = key;
        yield operation;
      }
      if (operation.status !== "running") return;
      const remaining = deadline - Date.now();
      if (remaining <= 0) throw new WaitTimeout(operation, timeoutSeconds);
      await this.sleep(Math.min(pollSeconds * 1000, remaining));
    }
  }

  async request(method, path, body, idempotencyKey) {
    const url = this.url + path;
    const headers = { accept: "application/json" };
    let payload = "";
    if (method !== "GET") {
      payload = JSON.stringify(body ?? {});
      headers["content-type"] = "application/json";
      // A retried start or create returns the same operation instead of starting a second one.
      headers["idempotency-key"] = idempotencyKey || randomUUID();
    }
    for (let attempt = 0; ; attempt += 1) {
      const signed = { ...headers, ...this.auth.headers({ method, url, headers, body: payload }) };
      let response;
      try {
        response = await fetch(url, {
          method,
          headers: signed,
          body: payload || undefined,
          redirect: "manual", // a redirect would carry the key or signature elsewhere
          signal: AbortSignal.timeout(this.timeoutMs),
        });
      } catch (error) {
        throw new TransportError(`${method} ${url}: ${error.cause?.message ?? error.message}`);
      }
      const text = await response.text();
      if (response.status >= 200 && response.status < 300) {
        try {
          return JSON.parse(text);
        } catch {
          throw new TransportError(`${method} ${url}: HTTP ${response.status} with a body that is not JSON`);
        }
      }
      const error = errorFromAnswer(response.status, response.headers, text);
      const wait = error.retryAfterSeconds ?? 2 ** attempt;
      if (!RETRIED_STATUSES.has(error.status) || attempt >= this.retries || wait > this.maxRetryWaitSeconds) {
        throw error;
      }
      await this.sleep(wait * 1000);
    }
  }
}

function requestOptions({ webhookUrl, healthCheck, timeoutSeconds, autoStop } = {}) {
  const options = {};
  if (webhookUrl) options.webhook = { url: webhookUrl };
  if (healthCheck) options.healthCheck = healthCheck;
  if (timeoutSeconds != null) options.timeoutSeconds = timeoutSeconds;
  if (autoStop) options.autoStop = autoStop;
  return options;
}
