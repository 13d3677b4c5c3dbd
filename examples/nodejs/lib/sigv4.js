// AWS Signature Version 4 with node:crypto alone, as API Gateway's IAM auth (execute-api) checks it.
// https://docs.aws.amazon.com/IAM/latest/UserGuide/create-signed-request.html
import { createHash, createHmac } from "node:crypto";

const ALGORITHM = "AWS4-HMAC-SHA256";

/** RFC 3986 encoding: everything but A-Z a-z 0-9 - _ . ~ is percent-encoded. */
export function encodeRfc3986(text) {
  return encodeURIComponent(text).replace(/[!'()*]/g, (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`);
}

/** The path as sent, dot segments and empty segments removed, each segment encoded once more. */
export function canonicalPath(pathname) {
  const segments = [];
  for (const segment of pathname.split("/")) {
    if (segment === "" || segment === ".") continue;
    if (segment === "..") segments.pop();
    else segments.push(segment);
  }
  const trailing = pathname.endsWith("/") && segments.length > 0 ? "/" : "";
  // Every service but S3 signs the already-encoded path encoded again (a space is %2520).
  return `/${segments.map(encodeRfc3986).join("/")}${trailing}`;
}

/** Query pairs decoded, RFC 3986-encoded, sorted by name then value. */
export function canonicalQuery(search) {
  const query = search.startsWith("?") ? search.slice(1) : search;
  if (!query) return "";
  return query
    .split("&")
    .map((pair) => {
      const cut = pair.indexOf("=");
      const [name, value] = cut < 0 ? [pair, ""] : [pair.slice(0, cut), pair.slice(cut + 1)];
      return [encodeRfc3986(decodeURIComponent(name)), encodeRfc3986(decodeURIComponent(value))];
    })
    .sort(([a, x], [b, y]) => (a < b ? -1 : a > b ? 1 : x < y ? -1 : x > y ? 1 : 0))
    .map(([name, value]) => `${name}=${value}`)
    .join("&");
}

function sha256Hex(data) {
  return createHash("sha256").update(data).digest("hex");
}

function hmac(key, data) {
  return createHmac("sha256", key).update(data, "utf8").digest();
}

/** 20240102T030405Z */
export function amzDate(date) {
  return date
    .toISOString()
    .replace(/[-:]/g, "")
    .replace(/\.\d{3}/, "");
}

/**
 * The headers that sign this request: authorization, x-amz-date and, with temporary credentials,
 * x-amz-security-token. Every header in `headers` is signed, and so is the URL's host.
 *
 * @param {{method: string, url: string, headers?: Record<string, string>, body?: string | Buffer,
 *          credentials: {accessKeyId: string, secretAccessKey: string, sessionToken?: string},
 *          region: string, service?: string, date?: Date}} request
 */
export function signRequest({
  method,
  url,
  headers = {},
  body = "",
  credentials,
  region,
  service = "execute-api",
  date = new Date(),
}) {
  const target = new URL(url);
  const stamp = amzDate(date);
  const day = stamp.slice(0, 8);
  const added = { "x-amz-date": stamp };
  if (credentials.sessionToken) added["x-amz-security-token"] = credentials.sessionToken;

  const signed = new Map();
  for (const [name, value] of Object.entries({ ...headers, ...added })) {
    signed.set(name.toLowerCase(), String(value).trim().split(/\s+/).join(" "));
  }
  if (!signed.has("host")) signed.set("host", target.host);
  const names = [...signed.keys()].sort();
  const canonicalRequest = [
    method.toUpperCase(),
    canonicalPath(target.pathname),
    canonicalQuery(target.search),
    names.map((name) => `${name}:${signed.get(name)}\n`).join(""),
    names.join(";"),
    sha256Hex(body ?? ""),
  ].join("\n");

  const scope = `${day}/${region}/${service}/aws4_request`;
  const stringToSign = [ALGORITHM, stamp, scope, sha256Hex(canonicalRequest)].join("\n");
  let key = hmac(`AWS4${credentials.secretAccessKey}`, day);
  for (const part of [region, service, "aws4_request"]) key = hmac(key, part);
  const signature = createHmac("sha256", key).update(stringToSign, "utf8").digest("hex");
  return {
    ...added,
    authorization: `${ALGORITHM} Credential=${credentials.accessKeyId}/${scope}, SignedHeaders=${names.join(";")}, Signature=${signature}`,
  };
}
