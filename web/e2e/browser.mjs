// The command center in a real headless browser. Driven by tests/web_browser.rs, which starts
// `sharpeyes serve`, makes the users, and produces alerts on Kafka when this script says READY.
//
// env: BASE (http://127.0.0.1:PORT), CHROMIUM (executable), SHOT (screenshot path),
//      OP_USER / OP_PASS (operator of the alert's village), OTHER_USER / OTHER_PASS (operator
//      of another village), INCIDENT_WAIT_MS.
// stdin: the line "GO <incident id> <other village incident id>" after the alerts are out.
// stdout: "READY" once signed in with the feed live; "OK" at the end; errors on stderr, exit 1.
import { closeInput, env, launch, nextLine, signIn } from "./common.mjs";

const wait = Number(process.env.INCIDENT_WAIT_MS || 30000);

const browser = await launch();
try {
  // bypassCSP: the page forbids eval (script-src 'self'); playwright's waitForFunction needs it.
  const ctx = await browser.newContext({ viewport: { width: 1600, height: 900 }, bypassCSP: true });
  const page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await signIn(page, env("OP_USER"), env("OP_PASS"));
  // Nothing yet: the empty state shows.
  await page.waitForSelector("#empty", { state: "visible" });
  const other = await browser.newContext({ bypassCSP: true });
  const otherPage = await other.newPage();
  await signIn(otherPage, env("OTHER_USER"), env("OTHER_PASS"));
  console.log("READY");

  const [, incident, otherIncident] = (await nextLine()).split(" ");
  // Appears live (no reload), highlighted as critical.
  const row = `li.incident[data-id="${incident}"]`;
  await page.waitForSelector(row, { timeout: wait });
  const cls = await page.getAttribute(row, "class");
  if (!cls.includes("critical")) throw new Error(`not highlighted as critical: ${cls}`);
  await page.click(row);
  await page.waitForSelector(`#detail[data-id="${incident}"]`);
  await page.fill("#d-note", "seen on the wall screen");
  await page.click('#d-actions button[data-action="acknowledge"]');
  await page.waitForFunction(() => document.getElementById("d-state").textContent === "acknowledged");
  await page.fill("#d-note", "neighbour Li went over; she is up, no injury");
  await page.click('#d-actions button[data-action="resolve"]');
  await page.waitForFunction(() => document.getElementById("d-state").textContent === "resolved");
  await page.waitForFunction(
    (id) => document.querySelector(`li.incident[data-id="${id}"]`)?.dataset.state === "resolved",
    incident,
  );
  const timeline = await page.textContent("#d-timeline");
  if (!timeline.includes("resolve: neighbour Li went over")) throw new Error(`timeline: ${timeline}`);
  await page.screenshot({ path: env("SHOT"), fullPage: true });

  // The operator of another village sees their own incident, never this one.
  await otherPage.waitForSelector(`li.incident[data-id="${otherIncident}"]`, { timeout: wait });
  if (await otherPage.$(row)) throw new Error("an operator of another village sees the incident");
  const r = await otherPage.evaluate(async (id) => (await fetch(`/api/incidents/${id}`)).status, incident);
  if (r !== 404) throw new Error(`other village's operator got HTTP ${r} for the incident (want 404: not theirs to know of)`);

  // The server goes away: the page says so, and reconnects by itself when it is back.
  console.log("KILL");
  await page.waitForFunction(() => document.getElementById("conn").dataset.state === "lost", null, { timeout: wait });
  console.log("LOST");
  await nextLine(); // "BACK"
  await page.waitForFunction(() => document.getElementById("conn").dataset.state === "live", null, { timeout: wait });
  await page.waitForSelector(`li.incident[data-id="${incident}"][data-state="resolved"]`);
  if (errors.length) throw new Error(`page errors: ${errors.join("; ")}`);
  console.log("OK");
} catch (e) {
  console.error(e.stack || String(e));
  process.exitCode = 1;
} finally {
  await browser.close();
  closeInput();
}
