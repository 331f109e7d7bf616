#!/usr/bin/env node
// Check that the official JavaScript Graph client (@microsoft/microsoft-graph-client v3, unmodified)
// works against callhook. Needs `npm ci` in this folder and a callhook filled by ../feed.py.
// Prints one PASS/FAIL line per check (NOTE lines are informational); exits 1 if any FAIL.
//
// Usage: node check.mjs --url http://127.0.0.1:PORT --data-dir DIR [--ca DIR/tls/cert.pem]
//   With https, the self-signed certificate is trusted through NODE_EXTRA_CA_CERTS, set from --ca
//   or DIR/tls/cert.pem by re-running this script (Node reads that variable only at start-up).

import "isomorphic-fetch";
import { fileURLToPath } from "node:url";
import { ClientSecretCredential } from "@azure/identity";
import { BatchRequestContent, BatchResponseContent, Client, PageIterator } from "@microsoft/microsoft-graph-client";
import { TokenCredentialAuthenticationProvider } from "@microsoft/microsoft-graph-client/authProviders/azureTokenCredentials/index.js";
import { Assert, SCOPE, assert, check, describe, fetchToken, finish, note, parseArgs, relaunchTrusting, report } from "./common.mjs";

const SESSIONS_70_ID = "c0a11c00-0000-4000-8000-000000000070";
const PARTICIPANTS_140_ID = "c0a11c00-0000-4000-8000-000000000140";
const SERVICE_ID = "c0a11c00-0000-4000-8000-00000000005e";

// ---------------------------------------------------------------- raw HTTP (the reference)

async function rawCount(url, token) {
  let n = 0;
  while (url) {
    const r = await fetch(url, { headers: { Authorization: `Bearer ${token}` } });
    if (r.status !== 200) throw new Error(`raw GET ${url} -> ${r.status} ${await r.text()}`);
    const page = await r.json();
    n += page.value.length;
    url = page["@odata.nextLink"];
  }
  return n;
}

async function iterateAll(client, first, requestOptions) {
  const items = [];
  const it = new PageIterator(client, first, (x) => (items.push(x), true), requestOptions);
  await it.iterate();
  return items;
}

// ---------------------------------------------------------------- the checks

async function suite(label, client, base, token) {
  const P = `js[${label}]`;

  await check(`${P} BatchRequestContent: 20 callRecords in one $batch`, async () => {
    const listed = await (
      await fetch(`${base}/v1.0/communications/callRecords?$select=id`, { headers: { Authorization: `Bearer ${token}` } })
    ).json();
    const ids = listed.value.slice(0, 20).map((r) => r.id);
    assert(ids.length === 20, `need 20 records, listed ${ids.length}`);
    // Node's own Request refuses relative URLs, and client 3.0.7 keeps the version segment of an
    // absolute one (Graph then answers "Resource not found for the segment 'v1.0'"): Microsoft's
    // advice for 3.0.7 is the host without the version, which the client turns into "/communications/…".
    const steps = ids.map((id, i) => ({
      id: String(i + 1),
      request: new Request(`${base}/communications/callRecords/${id}?$expand=sessions($expand=segments)`, { method: "GET" }),
    }));
    const content = await new BatchRequestContent(steps).getContent();
    const answer = new BatchResponseContent(await client.api("/$batch").post(content));
    for (const [i, id] of ids.entries()) {
      const r = answer.getResponseById(String(i + 1));
      assert(r, `no response for step ${i + 1}`);
      assert(r.status === 200, `step ${i + 1}: status ${r.status}`);
      const body = await r.json();
      assert(body.id === id, `step ${i + 1} is ${body.id}, wanted ${id}`);
      assert(Array.isArray(body.sessions) && body.sessions.length > 0, `no sessions in ${id}`);
    }
    return "20 x 200";
  });

  await check(`${P} list callRecords: PageIterator over all pages`, async () => {
    const first = await client.api("/communications/callRecords").get();
    assert(first.value?.length > 0, "first page empty");
    assert(first["@odata.nextLink"], "no @odata.nextLink on the first page (78 records fed, page size 60)");
    const items = await iterateAll(client, first);
    const expected = await rawCount(`${base}/v1.0/communications/callRecords`, token);
    const ids = new Set(items.map((r) => r.id));
    assert(ids.size === items.length, "duplicate ids across pages");
    assert(items.length === expected, `client saw ${items.length}, raw HTTP ${expected}`);
    for (const id of [SESSIONS_70_ID, PARTICIPANTS_140_ID, SERVICE_ID]) assert(ids.has(id), `missing ${id}`);
    return `${items.length} records`;
  });

  await check(`${P} list callRecords: Prefer odata.maxpagesize=25 + $filter startDateTime`, async () => {
    const since = new Date(Date.now() - 30 * 3600e3).toISOString().replace(/\.\d+Z$/, "Z");
    const first = await client
      .api("/communications/callRecords")
      .filter(`startDateTime ge ${since}`)
      .header("Prefer", "odata.maxpagesize=25")
      .get();
    assert(first.value.length <= 25, `page of ${first.value.length} > 25`);
    const items = await iterateAll(client, first, { headers: { Prefer: "odata.maxpagesize=25" } });
    assert(items.length > 0, "nothing in the last 30 hours");
    const early = items.filter((r) => r.startDateTime < since);
    assert(early.length === 0, `records before the bound: ${early.map((r) => r.id).slice(0, 3)}`);
    return `${items.length} records, first page ${first.value.length}`;
  });

  await check(`${P} get callRecord .expand("sessions($expand=segments)"): full shape`, async () => {
    const rec = await client
      .api(`/communications/callRecords/${SERVICE_ID}`)
      .expand("sessions($expand=segments)")
      .get();
    assert(rec.id === SERVICE_ID && rec.type === "groupCall", "id/type");
    assert(rec.organizer_v2?.identity?.user?.displayName === "User 0", "organizer_v2");
    assert(rec.sessions?.length === 2, `sessions ${rec.sessions?.length}`);
    const s0 = rec.sessions[0];
    assert(s0.caller["@odata.type"] === "#microsoft.graph.callRecords.participantEndpoint", "caller type");
    assert(s0.callee["@odata.type"] === "#microsoft.graph.callRecords.serviceEndpoint", "callee type");
    assert(s0.caller.userAgent["@odata.type"] === "#microsoft.graph.callRecords.clientUserAgent", "client UA");
    assert(s0.callee.userAgent["@odata.type"] === "#microsoft.graph.callRecords.serviceUserAgent", "service UA");
    assert(s0.callee.userAgent.role === "skypeForBusinessAudioVideoMcu", "role");
    assert(s0.caller.associatedIdentity?.userPrincipalName === "user0@contoso.com", "associatedIdentity");
    const st = s0.segments?.[0]?.media?.[0]?.streams;
    assert(st?.length === 2, "streams");
    assert(st[0].averageJitter === "PT0.016S", `averageJitter ${st[0].averageJitter}`);
    assert(st[0].averageAudioDegradation === null, "null float");
    assert(Math.abs(st[1].averageAudioDegradation - 1.160898) < 1e-6, "float");
    assert(s0.segments[0].media[0].calleeNetwork.linkSpeed === 4294967295, "linkSpeed");
    return "";
  });

  await check(`${P} get callRecord with 70 sessions: 60 inline, sessions@odata.nextLink via PageIterator`, async () => {
    const rec = await client
      .api(`/communications/callRecords/${SESSIONS_70_ID}`)
      .expand("sessions($expand=segments)")
      .get();
    const link = rec["sessions@odata.nextLink"];
    note(`${P} 70-session record: ${rec.sessions?.length} inline, sessions@odata.nextLink=${link}`);
    assert(rec.sessions?.length === 60, `inline ${rec.sessions?.length}`);
    assert(link, "no sessions@odata.nextLink");
    const page = await client.api(link).get();
    const rest = await iterateAll(client, page);
    const ids = new Set([...rec.sessions, ...rest].map((s) => s.id));
    assert(ids.size === 70, `${ids.size} distinct sessions`);
    assert(rest.every((s) => s.segments?.length), "nextLink page lost segments");
    return "";
  });

  await check(`${P} sessions .expand("segments"): PageIterator 70 sessions`, async () => {
    const first = await client.api(`/communications/callRecords/${SESSIONS_70_ID}/sessions`).expand("segments").get();
    assert(first.value.length === 60, `first page ${first.value.length}`);
    const items = await iterateAll(client, first);
    assert(new Set(items.map((s) => s.id)).size === 70, `${items.length} sessions`);
    assert(items.every((s) => s.segments?.[0]?.media), "segments missing");
    return "";
  });

  await check(`${P} .expand("participants_v2") 130 inline + nextLink; participants_v2 PageIterator 140`, async () => {
    const rec = await client.api(`/communications/callRecords/${PARTICIPANTS_140_ID}`).expand("participants_v2").get();
    assert(rec.participants_v2?.length === 130, `inline ${rec.participants_v2?.length}`);
    const link = rec["participants_v2@odata.nextLink"];
    assert(link, "no participants_v2@odata.nextLink");
    const rest = await iterateAll(client, await client.api(link).get());
    assert(new Set([...rec.participants_v2, ...rest].map((p) => p.id)).size === 140, "via nextLink");
    const first = await client.api(`/communications/callRecords/${PARTICIPANTS_140_ID}/participants_v2`).get();
    const items = await iterateAll(client, first);
    assert(new Set(items.map((p) => p.id)).size === 140, `builder saw ${items.length}`);
    return "";
  });

  const now = Date.now();
  const from = new Date(now - 5 * 86400e3).toISOString().replace(/\.\d+Z$/, "Z");
  const to = new Date(now + 86400e3).toISOString().replace(/\.\d+Z$/, "Z");
  for (const [fn, atLeast] of [
    ["getPstnCalls", 1500],
    ["getDirectRoutingCalls", 1200],
  ]) {
    for (const qualified of [false, true]) {
      const name = `${qualified ? "microsoft.graph.callRecords." : ""}${fn}`;
      await check(`${P} ${name}(fromDateTime=…,toDateTime=…): PageIterator over all pages`, async () => {
        const path = `/communications/callRecords/${name}(fromDateTime=${from},toDateTime=${to})`;
        const first = await client.api(path).get();
        assert(first.value.length === 1000, `first page ${first.value.length}`);
        assert(first["@odata.nextLink"], "no @odata.nextLink after 1000 rows");
        const rows = await iterateAll(client, first);
        const expected = await rawCount(`${base}/v1.0${path}`, token);
        assert(rows.length === expected, `client saw ${rows.length}, raw HTTP ${expected}`);
        assert(rows.length >= atLeast, `only ${rows.length} rows`);
        assert(new Set(rows.map((r) => r.id)).size === rows.length, "duplicate ids");
        return `${rows.length} rows`;
      });
    }
  }

  for (const [name, call, status, code] of [
    [
      "bad $filter -> GraphError 400 BadRequest",
      () => client.api("/communications/callRecords").filter("bogus eq 'x'").get(),
      400,
      "BadRequest",
    ],
    [
      "unknown id -> GraphError 404 NotFound",
      () => client.api("/communications/callRecords/00000000-0000-0000-0000-000000000404").get(),
      404,
      "NotFound",
    ],
  ]) {
    await check(`${P} ${name}`, async () => {
      try {
        await call();
      } catch (e) {
        note(`${P} ${name}: ${describe(e)}`);
        assert(e.statusCode === status, `statusCode ${e.statusCode}`);
        assert(e.code === code, `code ${e.code}`);
        assert(e.message && e.message !== "null", "empty message");
        assert(e.requestId, "no requestId (innerError.request-id)");
        return "";
      }
      throw new Assert("no error thrown");
    });
  }
}

async function main() {
  const a = parseArgs();
  relaunchTrusting(a, fileURLToPath(import.meta.url));
  const https = a.https;
  const cred = a.cred;
  let token;
  try {
    token = await fetchToken(a.url, cred);
    report(true, "js token endpoint (client_credentials)");
  } catch (e) {
    report(false, "js token endpoint (client_credentials)", describe(e));
    return;
  }
  const host = new URL(a.url).hostname;
  const common = { baseUrl: `${a.url}/`, defaultVersion: "v1.0", customHosts: new Set([host]) };

  // Client.init: authProvider is a callback. initWithMiddleware: an object with getAccessToken.
  const viaInit = Client.init({ ...common, authProvider: (done) => done(null, token) });
  const viaMiddleware = Client.initWithMiddleware({ ...common, authProvider: { getAccessToken: async () => token } });

  for (const [label, client] of [
    ["Client.init", viaInit],
    ["initWithMiddleware", viaMiddleware],
  ]) {
    await check(`js ${label}: authProvider token attached (customHosts=${host})`, async () => {
      try {
        await client.api("/communications/callRecords").get();
      } catch (e) {
        if (e.statusCode === 401 && !https) {
          throw new Assert(
            "401: over plain http the v3 client never sends a token. Its AuthenticationHandler attaches " +
              "the token only to https:// URLs of Graph hosts or customHosts and deletes any Authorization " +
              "header otherwise; GraphRequest.parsePath also mangles absolute http:// nextLinks into " +
              "/v1.0/http://…. Run callhook with --tls for this client. " +
              describe(e),
          );
        }
        throw e;
      }
      return "";
    });
  }
  if (!https) {
    note("skipping the rest: the JS client needs callhook --tls (see the FAIL above)");
    return;
  }
  await suite("initWithMiddleware", viaMiddleware, a.url, token);
  await suite("Client.init", viaInit, a.url, token);

  // How users authenticate in Node: @azure/identity pointed at callhook as its authority host.
  await check("js @azure/identity ClientSecretCredential(authorityHost=callhook) + TokenCredentialAuthenticationProvider", async () => {
    const credential = new ClientSecretCredential(cred.tenantId, cred.clientId, cred.clientSecret, {
      authorityHost: a.url,
      disableInstanceDiscovery: true,
    });
    const authProvider = new TokenCredentialAuthenticationProvider(credential, { scopes: [SCOPE] });
    const client = Client.initWithMiddleware({ ...common, authProvider });
    const first = await client.api("/communications/callRecords").get();
    assert(first.value?.length > 0, "first page empty");
    const items = await iterateAll(client, first);
    return `${items.length} records`;
  });
}

await main();
finish("js");
