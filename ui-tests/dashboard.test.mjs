// The collector's dashboard in headless Chromium: a real `callhook serve` fed by
// `callhook simulate` with a scenario (a degraded building, a failing trunk, emergency calls),
// `callhook collect --once` into a fresh SQLite database, the scenario's building file
// imported, then `callhook report dashboard`. Sign-in with the token from the data directory,
// every page without console errors, the numbers shown against `callhook report … --format
// json` for the same filters, and a screenshot of each page (target/ui-screenshots/).
//
//   node ui-tests/dashboard.test.mjs          (CALLHOOK_BIN, CHROMIUM and SCREENSHOTS override)
import { spawn, execFileSync } from "node:child_process";
import { mkdtempSync, mkdirSync, readFileSync, writeFileSync, rmSync } from "node:fs";
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

/** Resolves with the first match of `re` on the process's `stream`, or fails after `ms`. */
function line(proc, stream, re, what, ms = 60000) {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms);
    let out = "";
    proc[stream].on("data", (d) => {
      out += d;
      const m = out.match(re);
      if (m) { clearTimeout(timer); resolve(m[1]); }
    });
  });
}

const work = mkdtempSync(path.join(tmpdir(), "callhook-dash-"));
const serverDir = path.join(work, "server");
const collectorDir = path.join(work, "collector");
const children = [];
function cleanup() {
  for (const c of children) c.kill("SIGTERM");
  rmSync(work, { recursive: true, force: true });
}

try {
  // --- a server, fed with a scenario ----------------------------------------------------
  const server = spawn(bin, ["serve", "--listen", "127.0.0.1:0", "--data-dir", serverDir, "--no-throttle"], {
    stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: "warn" },
  });
  children.push(server);
  const base = await line(server, "stdout", /listening on (http:\/\/\S+)\s/, "the server to listen");
  const scenario = path.join(work, "scenario.toml");
  writeFileSync(scenario, `
name = "dashboard test"
[[building]]
name = "Lyon office"
networks = ["10.70.0.0/16"]
city = "Lyon"
country = "FR"
[[incident]]
kind = "network"
building = "Lyon office"
start = "+2h"
duration = "3h"
calls = 20
packet_loss = 0.2
jitter_ms = 60
[[incident]]
kind = "trunk"
trunk = "sbc4.contoso.com"
sip_code = 503
duration = "40m"
calls = 8
[[incident]]
kind = "emergency"
start = "+10h"
calls = 1
`);
  const truth = path.join(work, "truth.json");
  const run = (args) => execFileSync(bin, args, { encoding: "utf8", env: { ...process.env, RUST_LOG: "warn" } });
  run(["simulate", "--url", base, "--data-dir", serverDir, "--days", "2", "--calls", "120", "--users", "30",
    "--seed", "5", "--scenario", scenario, "--truth", truth]);
  run(["collect", "--data-dir", collectorDir, "--callhook-dir", serverDir, "--callhook-url", base,
    "--once", "--reports", "getPstnCalls,getDirectRoutingCalls,getSmsLog"]);
  run(["report", "--data-dir", collectorDir, "buildings", "import", path.join(work, "truth.buildings.csv")]);
  const cli = (...args) => JSON.parse(run(["report", "--data-dir", collectorDir, ...args, "--format", "json"]));

  // --- the dashboard ------------------------------------------------------------------------
  const dash = spawn(bin, ["report", "--data-dir", collectorDir, "dashboard", "--listen", "127.0.0.1:0"], {
    stdio: ["ignore", "pipe", "pipe"], env: { ...process.env, RUST_LOG: "warn" },
  });
  children.push(dash);
  const dashUrl = await line(dash, "stderr", /dashboard at (http:\/\/\S+) \(/, "the dashboard to listen");
  const token = readFileSync(path.join(collectorDir, "dashboard-token"), "utf8").trim();

  const browser = await puppeteer.launch({
    executablePath: chromium, headless: true, args: ["--no-sandbox", "--disable-gpu"],
  });
  const page = await browser.newPage();
  await page.setViewport({ width: 1280, height: 900 });
  const errors = [];
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  page.on("pageerror", (e) => errors.push(String(e)));

  // Sign in with the token (a loopback listener would also serve anonymously).
  await page.goto(`${dashUrl.replace(/\/dashboard$/, "")}/dashboard/login`);
  await page.type("#token", token);
  await Promise.all([page.waitForNavigation(), page.click("#login-form button[type=submit]")]);
  assert.ok(page.url().endsWith("/dashboard"), page.url());

  /** The cells of table `data-report=id`, row by row. */
  const cells = (id) => page.$$eval(`table[data-report="${id}"] tbody tr`,
    (trs) => trs.map((tr) => [...tr.querySelectorAll("td")].map((td) => td.textContent.trim())));
  /** The CLI's JSON rows as comparable cells: numbers to two decimals (as pages print them). */
  const norm = (v) => {
    if (v === null || v === "") return "";
    const n = typeof v === "number" ? v : (/^-?[0-9]+(\.[0-9]+)?$/.test(v) ? Number(v) : null);
    return n === null ? String(v) : n.toFixed(2);
  };
  const asCells = (rows) => rows.map((r) => Object.values(r).map(norm));
  const shown = async (id) => (await cells(id)).map((r) => r.map(norm));

  const pages = ["", "/offenders", "/network", "/clients", "/pstn", "/emergency", "/live", "/call"];
  for (const p of pages) {
    await page.goto(`${dashUrl}${p}`);
    assert.equal(await page.$eval("h1", (h) => h.textContent.length > 0), true, p);
    await page.screenshot({ path: path.join(shots, `dashboard${p.replace("/", "-") || "-overview"}.png`), fullPage: true });
  }
  assert.deepEqual(errors, [], "console errors");

  // Overview: the KPI and the days equal the CLI's.
  await page.goto(dashUrl);
  const all = cli("quality", "--by", "all")[0];
  const psr = await page.$eval('[data-kpi="audioPoorStreamRate"] .value', (e) => e.textContent.trim());
  assert.equal(psr, `${all.audioPoorStreamRate.toFixed(2)} %`);
  assert.deepEqual(await shown("quality-day"), asCells(cli("quality", "--by", "day")));

  // The same filters give the same numbers: one building, one time range.
  const days = cli("quality", "--by", "day");
  const from = days[0].key;
  await page.goto(`${dashUrl}/network?building=Lyon+office&from=${from}`);
  assert.deepEqual(await shown("quality-building"),
    asCells(cli("quality", "--by", "building", "--building", "Lyon office", "--from", from)));
  await page.goto(`${dashUrl}/pstn`);
  assert.deepEqual(await shown("direct-routing"), asCells(cli("direct-routing")));
  const dr = cli("direct-routing");
  assert.ok(dr.some((g) => g.gateway === "sbc4.contoso.com" && g.sipCodes.includes("503:")), JSON.stringify(dr));
  await page.goto(`${dashUrl}/emergency`);
  const emergency = cli("emergency");
  assert.ok(emergency.length >= 1);
  assert.equal((await cells("emergency")).length, emergency.length);

  // Drill-down from the live feed to one call's timeline.
  await page.goto(`${dashUrl}/live`);
  await Promise.all([page.waitForNavigation(), page.click('table[data-report="live"] tbody tr a')]);
  const timeline = await cells("call");
  assert.ok(timeline.length >= 3, "call, session, segment rows");
  await page.screenshot({ path: path.join(shots, "dashboard-call-drilldown.png"), fullPage: true });
  assert.deepEqual(errors, [], "console errors");

  await browser.close();
  console.log(`dashboard ui test: ${pages.length} pages, numbers equal the CLI's; screenshots in ${shots}`);
} finally {
  cleanup();
}
