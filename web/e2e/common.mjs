// What the command-center browser scripts (browser.mjs, clips.mjs) share: their environment,
// stdin line by line, Chromium, and signing in.
import { chromium } from "playwright-core";
import readline from "node:readline";

// The environment variable `k`; throws when it is not set.
export const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} not set`);
  return v;
};
export const BASE = env("BASE");

const lines = readline.createInterface({ input: process.stdin });
// The next line the test writes on stdin.
export const nextLine = () => new Promise((resolve) => lines.once("line", resolve));
// Stops reading stdin (at the end, so that node can exit).
export const closeInput = () => lines.close();

// Debian's chromium (env CHROMIUM), headless, with `args` besides the defaults.
export const launch = (args = []) =>
  chromium.launch({
    executablePath: env("CHROMIUM"),
    args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", ...args],
  });

// Signs `user` in on `page` and waits for the live feed.
export async function signIn(page, user, pass) {
  await page.goto(BASE + "/");
  await page.waitForSelector("#login-form", { state: "visible" });
  await page.fill("#username", user);
  await page.fill("#password", pass);
  await page.click("#login-button");
  await page.waitForSelector("#app", { state: "visible" });
  await page.waitForFunction(() => document.getElementById("conn").dataset.state === "live");
}
