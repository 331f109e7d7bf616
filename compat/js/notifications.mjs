#!/usr/bin/env node
// A rich change notification received the way Microsoft's samples receive one, against callhook:
// a loopback webhook answers the validation handshake, a per-user call-events subscription with an
// encryption certificate is created, a call event is ingested, and the POST that arrives is checked
// as the samples and SDKs check it:
//   - Microsoft's Node webhook sample: jsonwebtoken + jwks-rsa, audience = the app id, issuer
//     = https://sts.windows.net/{tenant}/ (v1), keys from .../common/discovery/v2.0/keys: the one
//     thing changed is the host the keys come from (callhook instead of login.microsoftonline.com);
//   - the .NET SDK (AreTokensValidAsync): issuer in the v1 or the v2 form, audience, lifetime;
//   - the Java SDK: azp = Microsoft Graph Change Tracking's app id;
//   - the resource data decrypts with the subscriber's private key (RSA-OAEP key, HMAC-SHA256, AES-CBC).
//
// Usage: node notifications.mjs --url https://127.0.0.1:PORT --data-dir DIR [--ca CERT]

import { execFileSync } from "node:child_process";
import { createDecipheriv, createHmac, privateDecrypt, constants, randomUUID, timingSafeEqual } from "node:crypto";
import { mkdtempSync, readFileSync, rmSync } from "node:fs";
import { createServer } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import jwt from "jsonwebtoken";
import jwksClient from "jwks-rsa";
import { assert, check, fetchToken, finish, parseArgs, relaunchTrusting } from "./common.mjs";

const GRAPH_CHANGE_TRACKING = "0bf30f3b-4a52-48df-9a82-234910c4a086";

// A loopback webhook: answers validation requests, keeps every notification POST.
function startWebhook() {
  const posts = [];
  const waiters = [];
  const server = createServer((req, res) => {
    const url = new URL(req.url, "http://127.0.0.1");
    const token = url.searchParams.get("validationToken");
    if (token !== null) {
      res.writeHead(200, { "Content-Type": "text/plain" });
      res.end(token);
      return;
    }
    let body = "";
    req.on("data", (c) => (body += c));
    req.on("end", () => {
      res.writeHead(202);
      res.end();
      try {
        posts.push({ path: url.pathname, body: JSON.parse(body) });
      } catch {
        posts.push({ path: url.pathname, body: null });
      }
      for (const w of waiters.splice(0)) w();
    });
  });
  // Resolves once `pred(posts)` holds, or rejects after `ms`.
  const until = (pred, ms) =>
    new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`no matching notification within ${ms} ms`)), ms);
      const test = () => {
        if (pred(posts)) {
          clearTimeout(timer);
          resolve(posts);
        } else waiters.push(test);
      };
      test();
    });
  return new Promise((resolve) =>
    server.listen(0, "127.0.0.1", () => resolve({ server, posts, until, port: server.address().port })),
  );
}

// The Node sample's check, with its JWKS URL pointed at callhook.
function nodeSampleValid(token, jwksUri, appId, tenantId) {
  const keys = jwksClient({ jwksUri });
  const getKey = (header, callback) =>
    keys.getSigningKey(header.kid, (err, key) => callback(err, key && (key.publicKey || key.rsaPublicKey)));
  return new Promise((resolve) =>
    jwt.verify(token, getKey, { audience: [appId], issuer: [`https://sts.windows.net/${tenantId}/`] }, (err) =>
      resolve(err ? err.message : true),
    ),
  );
}

function decrypt(content, privateKeyPem) {
  const key = privateDecrypt(
    { key: privateKeyPem, padding: constants.RSA_PKCS1_OAEP_PADDING, oaepHash: "sha1" },
    Buffer.from(content.dataKey, "base64"),
  );
  const data = Buffer.from(content.data, "base64");
  const mac = createHmac("sha256", key).update(data).digest();
  assert(timingSafeEqual(mac, Buffer.from(content.dataSignature, "base64")), "dataSignature does not match");
  const decipher = createDecipheriv("aes-256-cbc", key, key.subarray(0, 16));
  return JSON.parse(Buffer.concat([decipher.update(data), decipher.final()]).toString("utf8"));
}

async function main() {
  const a = parseArgs();
  relaunchTrusting(a, fileURLToPath(import.meta.url));
  const { cred, url } = a;
  const dir = mkdtempSync(join(tmpdir(), "callhook-compat-"));
  const hook = await startWebhook();
  const cleanups = [];
  try {
    execFileSync("openssl", ["req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", join(dir, "key.pem"),
      "-out", join(dir, "cert.pem"), "-subj", "/CN=callhook-compat", "-days", "2"], { stdio: "ignore" });
    const privateKeyPem = readFileSync(join(dir, "key.pem"), "utf8");
    const certBase64 = readFileSync(join(dir, "cert.pem"), "utf8").replace(/-----[^-]+-----|\s/g, "");
    const token = await fetchToken(url, cred);
    const auth = { Authorization: `Bearer ${token}` };
    // The subscriber: a directory user of the tenant (PUT is idempotent).
    const userId = "c0a11c00-0000-4000-8000-0000000c0a7e";
    const put = await fetch(`${url}/ingest/v1/tenants/${cred.tenantId}/users/${userId}`, {
      method: "PUT",
      headers: { Authorization: `Bearer ${cred.ingestKey}`, "Content-Type": "application/json" },
      body: JSON.stringify({ id: userId, displayName: "Compat Subscriber", userPrincipalName: "compat@contoso.example", mail: "compat@contoso.example" }),
    });
    assert(put.status < 300, `ingest user ${put.status}: ${await put.text()}`);
    const clientState = randomUUID();
    const resource = `users/${userId}/communications/callEvents`;
    // One subscription per app and resource: remove what an earlier run left.
    const removeOurs = async () => {
      const list = await (await fetch(`${url}/beta/subscriptions`, { headers: auth })).json();
      for (const s of list.value || []) {
        if (s.resource === resource) await fetch(`${url}/beta/subscriptions/${s.id}`, { method: "DELETE", headers: auth });
      }
    };
    await removeOurs();
    cleanups.push(removeOurs);

    let posts;
    await check("js webhook: rich call-events subscription created (validation handshake answered)", async () => {
      const r = await fetch(`${url}/beta/subscriptions`, {
        method: "POST",
        headers: { ...auth, "Content-Type": "application/json" },
        body: JSON.stringify({
          changeType: "updated",
          notificationUrl: `http://127.0.0.1:${hook.port}/notify`,
          lifecycleNotificationUrl: `http://127.0.0.1:${hook.port}/lifecycle`,
          resource,
          expirationDateTime: new Date(Date.now() + 6 * 3600e3).toISOString(),
          clientState,
          includeResourceData: true,
          encryptionCertificate: certBase64,
          encryptionCertificateId: "compat-key-1",
        }),
      });
      assert(r.status === 201, `POST /subscriptions ${r.status}: ${await r.text()}`);
      const callId = randomUUID();
      const ingest = await fetch(`${url}/ingest/v1/tenants/${cred.tenantId}/callEvents`, {
        method: "POST",
        headers: { Authorization: `Bearer ${cred.ingestKey}`, "Content-Type": "application/json" },
        body: JSON.stringify({
          value: [{ id: randomUUID(), callEventType: "callStarted", eventDateTime: new Date().toISOString(),
                    userId, direction: "outgoing", callId }],
        }),
      });
      assert(ingest.status === 200, `ingest ${ingest.status}: ${await ingest.text()}`);
      posts = await hook.until((p) => p.some((x) => x.path === "/notify"), 15000);
      return "";
    });
    const post = posts?.find((x) => x.path === "/notify")?.body;
    if (!post) return;
    const tokens = post.validationTokens || [];
    const item = post.value?.[0];

    await check("js webhook: clientState and validationTokens present", async () => {
      assert(item && item.clientState === clientState, `clientState ${item?.clientState}`);
      assert(tokens.length >= 1, "no validationTokens on a rich notification");
      return `${tokens.length} token(s)`;
    });
    await check("js webhook: Microsoft's Node sample accepts every token (keys from callhook's /common/discovery/v2.0/keys)", async () => {
      for (const t of tokens) {
        const ok = await nodeSampleValid(t, `${url}/common/discovery/v2.0/keys`, cred.clientId, cred.tenantId);
        assert(ok === true, `jsonwebtoken.verify: ${ok}`);
      }
      return "";
    });
    await check("js webhook: the v1 keys path (/common/discovery/keys) verifies them too", async () => {
      for (const t of tokens) {
        const ok = await nodeSampleValid(t, `${url}/common/discovery/keys`, cred.clientId, cred.tenantId);
        assert(ok === true, `jsonwebtoken.verify: ${ok}`);
      }
      return "";
    });
    await check("js webhook: tokens pass the .NET SDK's issuer forms and the Java SDK's publisher (azp) check", async () => {
      for (const t of tokens) {
        const c = jwt.decode(t);
        const issuers = [`https://sts.windows.net/${cred.tenantId}/`, `https://login.microsoftonline.com/${cred.tenantId}/v2.0`];
        assert(issuers.includes(c.iss), `iss ${c.iss}`);
        assert(c.aud === cred.clientId, `aud ${c.aud}`);
        assert(c.tid === cred.tenantId, `tid ${c.tid}`);
        // Graph's documented step reads the publisher from appid in a v1.0 token, azp in v2.0.
        const publisher = c.ver === "1.0" ? c.appid : c.azp;
        assert(publisher === GRAPH_CHANGE_TRACKING, `publisher (ver ${c.ver}): ${publisher}`);
        assert(c.azp === GRAPH_CHANGE_TRACKING, `Java checks azp: ${c.azp}`);
        assert(c.exp * 1000 > Date.now() && c.nbf * 1000 <= Date.now() + 300e3, "lifetime");
      }
      return "";
    });
    await check("js webhook: encryptedContent decrypts with the subscriber's private key", async () => {
      const event = decrypt(item.encryptedContent, privateKeyPem);
      assert(event.eventType === "callStarted", `decrypted ${JSON.stringify(event).slice(0, 200)}`);
      return `eventType ${event.eventType}`;
    });
  } finally {
    for (const c of cleanups) await c().catch(() => {});
    hook.server.close();
    rmSync(dir, { recursive: true, force: true });
  }
}

await main();
finish("js notifications");
