// The event clip of an incident in a real headless browser. Driven by tests/web_clips.rs, which
// starts `sharpeyes serve` fed by a tansu broker, and the pipeline's delivery (outbox relay and
// clip shipper) that sends the alert at once and its clip once the MP4 is complete.
//
// env: BASE, CHROMIUM, SHOT (screenshot path), OP_USER / OP_PASS (operator of the alert's
//      village), OTHER_USER / OTHER_PASS (operator of another village), MIN_DURATION (seconds the
//      clip must last at least), INCIDENT_WAIT_MS.
// stdin: "GO <incident id>" once the alert is out; "WRITTEN" once the clip file is complete.
// stdout: "READY" once signed in; "PENDING" when the detail says the clip is not there yet;
//         "OK" at the end; errors on stderr, exit 1.
import { BASE, closeInput, env, launch, nextLine, signIn } from "./common.mjs";

const minDuration = Number(env("MIN_DURATION"));
const wait = Number(process.env.INCIDENT_WAIT_MS || 60000);

const browser = await launch(["--autoplay-policy=no-user-gesture-required"]);
let failed = false;
try {
  // bypassCSP: playwright's waitForFunction needs eval, which the page forbids.
  const ctx = await browser.newContext({ viewport: { width: 1400, height: 900 }, bypassCSP: true });
  const page = await ctx.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(String(e)));
  await signIn(page, env("OP_USER"), env("OP_PASS"));
  const other = await browser.newContext({ bypassCSP: true });
  const otherPage = await other.newPage();
  await signIn(otherPage, env("OTHER_USER"), env("OTHER_PASS"));
  console.log("READY");

  const [, incident] = (await nextLine()).split(" ");
  const row = `li.incident[data-id="${incident}"]`;
  await page.waitForSelector(row, { timeout: wait });
  await page.click(row);
  await page.waitForSelector(`#detail[data-id="${incident}"]`);
  // The alert is out before its clip: the detail says so, and shows no player.
  await page.waitForSelector("#d-clip-note", { state: "visible", timeout: wait });
  if (await page.isVisible("#d-clip")) throw new Error("a player shows while the clip is pending");
  console.log("PENDING");
  if ((await nextLine()) !== "WRITTEN") throw new Error("expected WRITTEN");

  // The clip arrives through Kafka; the open detail shows the player by itself.
  await page.waitForSelector("#d-clip", { state: "visible", timeout: wait });
  if (await page.isVisible("#d-clip-note")) throw new Error("the pending note stays with the clip there");
  const media = await page.waitForFunction(
    () => {
      const v = document.getElementById("d-clip");
      if (v.error) return { error: `${v.error.code} ${v.error.message}` };
      return v.readyState >= 2 && Number.isFinite(v.duration)
        ? { readyState: v.readyState, duration: v.duration, width: v.videoWidth, height: v.videoHeight }
        : null;
    },
    null,
    { timeout: wait, polling: 100 },
  ).then((h) => h.jsonValue());
  if (media.error) throw new Error(`the clip does not play: ${media.error}`);
  if (!(media.duration >= minDuration)) throw new Error(`clip lasts ${media.duration} s, want at least ${minDuration} s`);
  if (!(media.width > 0 && media.height > 0)) throw new Error(`no picture: ${JSON.stringify(media)}`);
  // Seek to the end and play: the browser fetches the ranges it needs.
  await page.evaluate(() => {
    const v = document.getElementById("d-clip");
    v.currentTime = v.duration - 1;
    return v.play();
  });
  await page.waitForFunction(() => document.getElementById("d-clip").currentTime > 0, null, { timeout: wait });
  await page.screenshot({ path: env("SHOT"), fullPage: true });

  const url = `/api/incidents/${incident}/clip`;
  // Ranges, as the player asked for them.
  const part = await page.evaluate(async (u) => {
    const r = await fetch(u, { headers: { Range: "bytes=0-7" } });
    const b = new Uint8Array(await r.arrayBuffer());
    return { status: r.status, range: r.headers.get("content-range"), type: r.headers.get("content-type"), box: String.fromCharCode(...b.slice(4, 8)) };
  }, url);
  if (part.status !== 206 || !/^bytes 0-7\/\d+$/.test(part.range) || part.type !== "video/mp4" || part.box !== "ftyp") {
    throw new Error(`range request: ${JSON.stringify(part)}`);
  }
  // An operator of another village cannot fetch it (the same 404 as no incident), nor can anyone
  // signed out.
  const theirs = await otherPage.evaluate(async (u) => (await fetch(u)).status, url);
  if (theirs !== 404) throw new Error(`other village's operator got HTTP ${theirs} for the clip (want 404)`);
  const anonymous = (await fetch(BASE + url)).status;
  if (anonymous !== 401) throw new Error(`signed out: HTTP ${anonymous} for the clip (want 401)`);
  if (errors.length) throw new Error(`page errors: ${errors.join("; ")}`);
  console.log(`clip: ${JSON.stringify(media)}`);
  console.log("OK");
} catch (e) {
  console.error(e.stack || String(e));
  failed = true;
} finally {
  await browser.close();
  closeInput();
}
process.exit(failed ? 1 : 0);
