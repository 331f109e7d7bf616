// What every compat check script shares: arguments, PASS/FAIL lines, trusting callhook's
// certificate, and the client-credentials token.
import { spawnSync } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { join, resolve } from "node:path";

export const SCOPE = "https://graph.microsoft.com/.default";
export const failed = [];

export function parseArgs() {
  const a = {};
  const argv = process.argv.slice(2);
  for (let i = 0; i < argv.length; i += 2) a[argv[i].replace(/^--/, "")] = argv[i + 1];
  if (!a.url || !a["data-dir"]) {
    console.error("usage: node SCRIPT --url URL --data-dir DIR [--ca CERT]");
    process.exit(2);
  }
  a.url = a.url.replace(/\/+$/, "");
  a.https = a.url.startsWith("https://");
  a.ca = a.ca || join(a["data-dir"], "tls", "cert.pem");
  a.cred = JSON.parse(readFileSync(join(a["data-dir"], "credentials.json"), "utf8"));
  return a;
}

// Node reads extra CAs only at start-up: run the script again with the certificate trusted.
export function relaunchTrusting(a, script) {
  if (a.https && !process.env.CALLHOOK_COMPAT_RELAUNCHED && existsSync(a.ca)) {
    const r = spawnSync(process.execPath, [script, ...process.argv.slice(2)], {
      stdio: "inherit",
      env: { ...process.env, NODE_EXTRA_CA_CERTS: resolve(a.ca), CALLHOOK_COMPAT_RELAUNCHED: "1" },
    });
    process.exit(r.status ?? 1);
  }
}

export function report(ok, name, detail = "") {
  console.log(`${ok ? "PASS" : "FAIL"} ${name}${detail ? " -- " + detail : ""}`);
  if (!ok) failed.push(name);
  return ok;
}
export const note = (t) => console.log("NOTE " + t);

export class Assert extends Error {}
export function assert(cond, msg) {
  if (!cond) throw new Assert(msg);
}

export function describe(e) {
  if (e && e.statusCode !== undefined) {
    const body = typeof e.body === "string" ? e.body.slice(0, 400) : JSON.stringify(e.body)?.slice(0, 400);
    return `GraphError statusCode=${e.statusCode} code=${e.code} message=${JSON.stringify(e.message)} requestId=${e.requestId} date=${e.date?.toISOString?.()} body=${body}`;
  }
  return `${e?.name}: ${e?.message}\n${(e?.stack || "").split("\n").slice(1, 6).join("\n")}`;
}

export async function check(name, fn) {
  try {
    const detail = await fn();
    report(true, name, detail || "");
  } catch (e) {
    report(false, name, e instanceof Assert ? e.message : describe(e));
  }
}

export async function fetchToken(url, cred) {
  const r = await fetch(`${url}/${cred.tenantId}/oauth2/v2.0/token`, {
    method: "POST",
    headers: { "Content-Type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "client_credentials",
      client_id: cred.clientId,
      client_secret: cred.clientSecret,
      scope: SCOPE,
    }),
  });
  if (r.status !== 200) throw new Error(`token endpoint ${r.status}: ${await r.text()}`);
  return (await r.json()).access_token;
}

export function finish(label) {
  console.log(`${label}: ${failed.length} failed${failed.length ? ": " + failed.join("; ") : ""}`);
  process.exit(failed.length ? 1 : 0);
}
