// The console in headless Chromium, as a new user meets it: a real `callhook serve` on
// loopback with a fresh data directory and a loopback webhook; sign-in, every page without
// console errors, the numbers shown against the JSON control routes, actions and their
// effect at the webhook, and a screenshot of each page (target/ui-screenshots/).
//
//   node ui-tests/console.test.mjs            (CALLHOOK_BIN, CHROMIUM and SCREENSHOTS override)
import { spawn } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, rmSync } from "node:fs";
import http from "node:http";
import { tmpdir } from "node:os";
import path from "node:path";
import { fileURLToPath } from "node:url";
import assert from "node:assert/strict";
import puppeteer from "puppeteer-core";

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..");
const bin = process.env.CALLHOOK_BIN || path.join(root, "target/debug/callhook");
const chromium = process.env.CHROMIUM || "/usr/bin/chromium";
const shots = process.env.SCREENSHOTS || path.join(root, "target/ui-screenshots");
mkdirSync(shots, { recursive: true });

/** Resolves when `predicate` holds for something `source` delivers, or fails after `ms`. */
function waitFor(what, subscribe, ms = 30000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    subscribe((value) => { clearTimeout(timer); resolve(value); });
  });
}

// --- a loopback webhook that records every notification POST -------------------------------
const received = [];
const listeners = [];
const hook = http.createServer((req, res) => {
  const url = new URL(req.url, "http://x");
  const token = url.searchParams.get("validationToken");
  const chunks = [];
  req.on("data", (c) => chunks.push(c));
  req.on("end", () => {
    if (token !== null) {
      res.writeHead(200, { "content-type": "text/plain" });
      res.end(token);
      return;
    }
    const got = { path: url.pathname, body: Buffer.concat(chunks) };
    received.push(got);
    for (const l of listeners.splice(0)) l(got);
    res.writeHead(202);
    res.end();
  });
});
await new Promise((r) => hook.listen(0, "127.0.0.1", r));
const hookUrl = `http://127.0.0.1:${hook.address().port}`;
/** The next POST the webhook receives that `match`es. */
function nextPost(what, match) {
  const seen = received.find(match);
  if (seen) { received.splice(received.indexOf(seen), 1); return Promise.resolve(seen); }
  return waitFor(what, (done) => {
    const l = (got) => {
      if (match(got)) { received.splice(received.indexOf(got), 1); done(got); } else listeners.push(l);
    };
    listeners.push(l);
  });
}

// --- the server -------------------------------------------------------------------------
const dataDir = mkdtempSync(path.join(tmpdir(), "callhook-ui-"));
const server = spawn(bin, ["serve", "--listen", "127.0.0.1:0", "--data-dir", dataDir, "--clock", "manual"], {
  stdio: ["ignore", "pipe", "pipe"],
  env: { ...process.env, RUST_LOG: "warn" },
});
let serverLog = "";
server.stderr.on("data", (d) => { serverLog += d; });
const base = await waitFor("the server to listen", (done) => {
  let out = "";
  server.stdout.on("data", (d) => {
    out += d;
    const m = out.match(/listening on (http:\/\/\S+)/);
    if (m) done(m[1]);
  });
});
const creds = JSON.parse(readFileSync(path.join(dataDir, "credentials.json"), "utf8"));

async function control(method, p, body) {
  const r = await fetch(base + p, {
    method,
    headers: { authorization: `Bearer ${creds.ingestKey}`, "content-type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await r.text();
  return { status: r.status, json: text ? JSON.parse(text) : null, text };
}

async function graphToken() {
  const r = await fetch(`${base}/${creds.tenantId}/oauth2/v2.0/token`, {
    method: "POST",
    headers: { "content-type": "application/x-www-form-urlencoded" },
    body: new URLSearchParams({
      grant_type: "client_credentials", client_id: creds.clientId, client_secret: creds.clientSecret,
      scope: "https://graph.microsoft.com/.default",
    }),
  });
  assert.equal(r.status, 200);
  return (await r.json()).access_token;
}

function callRecord(id) {
  const start = new Date(Date.now() - 2 * 3600e3);
  const end = new Date(start.getTime() + 600e3);
  const user = (uid, name) => ({ user: { id: uid, displayName: name, tenantId: creds.tenantId } });
  const a = "0a110000-0000-4000-8000-000000000001";
  const b = "0a110000-0000-4000-8000-000000000002";
  return {
    id, type: "peerToPeer", modalities: ["audio"],
    startDateTime: start.toISOString(), endDateTime: end.toISOString(), joinWebUrl: null,
    organizer_v2: { id: a, identity: user(a, "Ada") },
    participants_v2: [{ id: a, identity: user(a, "Ada") }, { id: b, identity: user(b, "Bob") }],
    sessions: [{
      id: "5e550000-0000-4000-8000-000000000001", modalities: ["audio"],
      startDateTime: start.toISOString(), endDateTime: end.toISOString(), isTest: false,
      caller: { "@odata.type": "#microsoft.graph.callRecords.participantEndpoint", name: "caller" },
      callee: { "@odata.type": "#microsoft.graph.callRecords.participantEndpoint", name: "callee" },
      segments: [{
        id: "5e6e0000-0000-4000-8000-000000000001",
        startDateTime: start.toISOString(), endDateTime: end.toISOString(),
        media: [{ label: "main-audio", streams: [{ streamId: "0", streamDirection: "callerToCallee" }] }],
      }],
    }],
  };
}

async function ingest() {
  const id = crypto.randomUUID();
  const r = await fetch(`${base}/ingest/v1/tenants/${creds.tenantId}/callRecords/${id}`, {
    method: "PUT",
    headers: { authorization: `Bearer ${creds.ingestKey}`, "content-type": "application/json" },
    body: JSON.stringify(callRecord(id)),
  });
  assert.equal(r.status, 201, await r.text());
  return id;
}

let browser;
const failures = [];
try {
  // A subscription with a lifecycle URL, so every lifecycle event can be fired.
  const token = await graphToken();
  const sr = await fetch(`${base}/v1.0/subscriptions`, {
    method: "POST",
    headers: { authorization: `Bearer ${token}`, "content-type": "application/json" },
    body: JSON.stringify({
      changeType: "created,updated", resource: "/communications/callRecords",
      notificationUrl: `${hookUrl}/notify`, lifecycleNotificationUrl: `${hookUrl}/lifecycle`,
      expirationDateTime: new Date(Date.now() + 2 * 3600e3).toISOString(), clientState: "s3cret",
    }),
  });
  const created = await sr.text();
  assert.equal(sr.status, 201, created);
  const sub = JSON.parse(created).id;

  browser = await puppeteer.launch({
    executablePath: chromium, headless: true,
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"],
  });
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const errors = [];
  page.on("console", (m) => { if (m.type() === "error") errors.push(`${page.url()}: ${m.text()}`); });
  page.on("pageerror", (e) => errors.push(`${page.url()}: ${e.message}`));
  page.on("requestfailed", (r) => {
    // The live tail's stream is cut when the page is left: not an error of the page.
    if (!r.url().endsWith("/tail/events")) errors.push(`${r.url()}: ${r.failure()?.errorText}`);
  });
  const step = async (name, fn) => {
    try { await fn(); console.log(`ok   ${name}`); } catch (e) { failures.push(name); console.log(`FAIL ${name}\n     ${e.stack}`); }
  };
  const visit = async (p, shot) => {
    const resp = await page.goto(base + p, { waitUntil: "networkidle2" });
    if (shot) await page.screenshot({ path: path.join(shots, `${shot}.png`), fullPage: true });
    return resp;
  };
  const text = (sel) => page.$eval(sel, (e) => e.textContent.trim());
  const submit = async (selector) => {
    await Promise.all([page.waitForNavigation({ waitUntil: "networkidle2" }), page.click(selector)]);
  };

  await step("without credentials: the console sends to its login page; actions are refused", async () => {
    await visit("/", null);
    assert.equal(new URL(page.url()).pathname, "/_callhook/ui/login");
    await page.screenshot({ path: path.join(shots, "login.png"), fullPage: true });
    const r = await fetch(`${base}/_callhook/ui/delivery/pause`, {
      method: "POST", body: new URLSearchParams({ csrf: "x" }), redirect: "manual",
    });
    assert.equal(r.status, 401);
    assert.equal((await control("GET", "/_callhook/delivery")).json.paused, false);
  });

  await step("a wrong key is refused", async () => {
    await page.type("#key", "not-the-key");
    await submit("#login-form button[type=submit]");
    assert.equal(new URL(page.url()).pathname, "/_callhook/ui/login");
    assert.match(await text(".flash.error"), /not this server's ingest key/);
  });

  await step("signing in with the ingest key", async () => {
    await page.type("#key", creds.ingestKey);
    await submit("#login-form button[type=submit]");
    assert.equal(new URL(page.url()).pathname, "/_callhook/ui");
  });

  await step("a notification is delivered and kept", async () => {
    await ingest();
    await nextPost("the change notification", (g) => g.path === "/notify");
    // The settler keeps the POST just after the webhook answered it.
    await waitFor("the POST to be kept", (done) => {
      const poll = async () => {
        const posts = (await control("GET", `/_callhook/subscriptions/${sub}/posts`)).json.value;
        if (posts.length > 0) done(posts); else setTimeout(poll, 100);
      };
      poll();
    });
  });

  const pages = [
    ["/_callhook/ui", "overview"], ["/_callhook/ui/tenants", "tenants"],
    ["/_callhook/ui/subscriptions", "subscriptions"], [`/_callhook/ui/subscriptions/${sub}`, "subscription"],
    ["/_callhook/ui/outbox", "outbox"], ["/_callhook/ui/posts", "posts"], ["/_callhook/ui/tail", "tail"],
    ["/_callhook/ui/clock", "clock"], ["/_callhook/ui/simulator", "simulator"],
  ];
  for (const [p, name] of pages) {
    await step(`page ${name} loads without console errors`, async () => {
      const before = errors.length;
      const resp = await visit(p, name);
      assert.equal(resp.status(), 200);
      assert.deepEqual(errors.slice(before), []);
    });
  }

  await step("numbers shown equal the JSON control routes", async () => {
    const subs = (await control("GET", "/_callhook/subscriptions")).json.value;
    const delivery = (await control("GET", "/_callhook/delivery")).json;
    const tenants = (await control("GET", "/_callhook/admin/tenants")).json.value;
    await visit("/_callhook/ui", null);
    assert.equal(Number(await text("#count-subscriptions")), subs.length);
    assert.equal(Number(await text("#count-queued")), delivery.queued);
    assert.equal(Number(await text("#count-tenants")), tenants.length);
    await visit("/_callhook/ui/subscriptions", null);
    const rows = await page.$$eval("#subscriptions tbody tr[data-id]", (trs) =>
      trs.map((tr) => ({ id: tr.dataset.id, queued: Number(tr.querySelector(".queued").textContent) })));
    assert.deepEqual(rows, subs.map((s) => ({ id: s.id, queued: s.queued })));
    const posts = (await control("GET", `/_callhook/subscriptions/${sub}/posts`)).json.value;
    await visit(`/_callhook/ui/subscriptions/${sub}`, null);
    const shown = await page.$$eval("#posts tbody tr", (trs) => trs.length);
    assert.equal(shown, posts.length);
  });

  await step("a delivered POST is shown as the webhook received it", async () => {
    const posts = (await control("GET", `/_callhook/subscriptions/${sub}/posts`)).json.value;
    const id = posts[posts.length - 1].id;
    const raw = await fetch(`${base}/_callhook/posts/${id}/request/body`, { headers: { authorization: `Bearer ${creds.ingestKey}` } });
    const bytes = Buffer.from(await raw.arrayBuffer());
    await visit(`/_callhook/ui/posts/${id}`, "post");
    const shownBody = JSON.parse(await text("#request-body"));
    assert.deepEqual(shownBody, JSON.parse(bytes.toString("utf8")));
    assert.equal(shownBody.value[0].subscriptionId, sub);
    // The page's raw-body link serves the same bytes to the signed-in browser.
    const href = await page.$eval("#raw-request", (a) => a.href);
    const viaPage = await page.evaluate(async (u) => {
      const r = await fetch(u, { credentials: "same-origin" });
      return Array.from(new Uint8Array(await r.arrayBuffer()));
    }, href);
    assert.deepEqual(Buffer.from(viaPage), bytes);
  });

  for (const event of ["reauthorizationRequired", "missed", "subscriptionRemoved"]) {
    await step(`lifecycle event ${event} fired from the console reaches the webhook`, async () => {
      await visit(`/_callhook/ui/subscriptions/${sub}`, null);
      const button = await page.$$(`form[action$="/lifecycle"] button`);
      const labels = await Promise.all(button.map((b) => b.evaluate((e) => e.textContent)));
      const i = labels.findIndex((l) => l.includes(event));
      assert.ok(i >= 0, `a button for ${event}`);
      const arrived = nextPost(`the ${event} notification`, (g) =>
        g.path === "/lifecycle" && JSON.parse(g.body).value[0].lifecycleEvent === event);
      await Promise.all([page.waitForNavigation({ waitUntil: "networkidle2" }), button[i].click()]);
      assert.match(await text(".flash"), new RegExp(`${event} queued`));
      const got = await arrived;
      assert.equal(JSON.parse(got.body).value[0].subscriptionId, sub);
    });
  }

  // subscriptionRemoved removed that one; a fresh subscription for the rest.
  const sr2 = await fetch(`${base}/v1.0/subscriptions`, {
    method: "POST",
    headers: { authorization: `Bearer ${await graphToken()}`, "content-type": "application/json" },
    body: JSON.stringify({
      changeType: "created", resource: "/communications/callRecords",
      notificationUrl: `${hookUrl}/notify`, lifecycleNotificationUrl: `${hookUrl}/lifecycle`,
      expirationDateTime: new Date(Date.now() + 2 * 3600e3).toISOString(), clientState: "s3cret",
    }),
  });
  const sub2 = (await sr2.json()).id;

  await step("pause holds notifications in the outbox, resume delivers them", async () => {
    await visit("/_callhook/ui/outbox", null);
    await submit("form[action$='/delivery/pause'] button");
    assert.equal(await text("#delivery-state"), "paused");
    assert.equal((await control("GET", "/_callhook/delivery")).json.paused, true);
    await ingest();
    const queued = (await control("GET", "/_callhook/delivery")).json.queued;
    assert.ok(queued >= 1, `queued ${queued}`);
    await visit("/_callhook/ui/outbox", "outbox-paused");
    assert.equal(Number(await text("#count-queued")), queued);
    const arrived = nextPost("the held notification", (g) => g.path === "/notify");
    await submit("form[action$='/delivery/resume'] button");
    assert.equal(await text("#delivery-state"), "running");
    await arrived;
  });

  await step("the live tail shows POSTs as they are made", async () => {
    await visit("/_callhook/ui/tail", null);
    await page.waitForFunction(() => document.getElementById("tail-state").textContent === "connected");
    await ingest();
    await page.waitForFunction(() => Number(document.getElementById("tail-count").textContent) >= 1, { timeout: 30000 });
    await page.screenshot({ path: path.join(shots, "tail-live.png"), fullPage: true });
  });

  await step("the simulator runs from the console with its progress shown", async () => {
    await visit("/_callhook/ui/simulator", null);
    await page.$eval("#calls", (e) => { e.value = "20"; });
    await page.type("#seed", "7");
    await submit("#simulate-form button");
    await page.waitForFunction(() => document.querySelector("#run .run-state").textContent !== "running", { timeout: 120000 });
    const state = await text("#run .run-state");
    const log = await text("#run-log");
    await page.screenshot({ path: path.join(shots, "simulator-done.png"), fullPage: true });
    assert.equal(state, "done", log);
    assert.match(log, /seed 7|7/);
  });

  await step("a scenario run from the console keeps its ground truth", async () => {
    const scenario = readFileSync(path.join(root, "examples/scenarios/site-outage.toml"), "utf8");
    await visit("/_callhook/ui/simulator", null);
    await page.$eval("#calls", (e) => { e.value = "60"; });
    await page.type("#seed", "11");
    await page.$eval("#scenario", (e, v) => { e.value = v; }, scenario);
    await submit("#simulate-form button");
    await page.waitForFunction(() => document.querySelector("#run .run-state").textContent !== "running", { timeout: 180000 });
    assert.equal(await text("#run .run-state"), "done", await text("#run-log"));
    await visit("/_callhook/ui/simulator", "simulator-scenario");
    const truth = await page.$eval("#truth-link", (a) => fetch(a.href, { credentials: "same-origin" }).then((r) => r.json()));
    assert.ok(JSON.stringify(truth).includes("Paris"), "the truth names the scenario's building");
  });

  await step("a live run runs until it is stopped from the console", async () => {
    await visit("/_callhook/ui/simulator", null);
    await page.click("input[name='--live']");
    await page.$eval("input[name='--rate']", (e) => { e.value = "60"; });
    await submit("#simulate-form button");
    assert.equal(await text("#run .run-state"), "running");
    await submit("form[action$='/simulator/stop'] button");
    await page.waitForFunction(() => document.querySelector("#run .run-state").textContent === "stopped", { timeout: 30000 });
    await page.screenshot({ path: path.join(shots, "simulator-stopped.png"), fullPage: true });
  });

  await step("deleting a subscription from the console", async () => {
    page.once("dialog", (d) => d.accept());
    await visit(`/_callhook/ui/subscriptions/${sub2}`, null);
    await submit("form[action$='/delete'] button");
    const left = (await control("GET", "/_callhook/subscriptions")).json.value.map((s) => s.id);
    assert.ok(!left.includes(sub2));
  });

  await step("the manual clock advances from the console", async () => {
    const before = Date.parse((await control("GET", "/_callhook/clock")).json.now);
    await visit("/_callhook/ui/clock", null);
    await page.$eval("#hours", (e) => { e.value = "2"; });
    await submit("#advance-form button");
    const after = Date.parse((await control("GET", "/_callhook/clock")).json.now);
    assert.ok(after - before >= 2 * 3600e3, `${after - before} ms`);
    assert.equal(Date.parse(await text("#clock-now")) >= before + 2 * 3600e3, true);
  });

  await step("signing out ends the session", async () => {
    await visit("/_callhook/ui", null);
    await submit("header form button");
    await visit("/_callhook/ui/subscriptions", null);
    assert.equal(new URL(page.url()).pathname, "/_callhook/ui/login");
  });

  await step("no console errors anywhere", async () => assert.deepEqual(errors, []));
} finally {
  if (browser) await browser.close();
  server.kill("SIGTERM");
  hook.close();
  rmSync(dataDir, { recursive: true, force: true });
}
if (failures.length) {
  console.log(`\n${failures.length} failed: ${failures.join("; ")}\n--- server log ---\n${serverLog.slice(-4000)}`);
  process.exit(1);
}
console.log(`all passed; screenshots in ${shots}`);
