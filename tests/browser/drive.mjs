// Drives Debian's chromium (headless) with playwright-core: opens the page URL given as the first
// argument and prints the page's window.__result as one JSON line once window.__done is set.
//   node tests/browser/drive.mjs <page url> [chromium path]
import { chromium } from "playwright-core";

const [url, executablePath = "/usr/bin/chromium"] = process.argv.slice(2);
const browser = await chromium.launch({ executablePath, headless: true, args: ["--no-sandbox"] });
try {
  const page = await browser.newPage();
  const consoleLines = [];
  page.on("console", (msg) => consoleLines.push(msg.type() + ": " + msg.text()));
  await page.goto(url);
  await page.waitForFunction(() => window.__subscribed === true, null, { timeout: 30000, polling: 50 });
  let timedOut = false;
  try {
    await page.waitForFunction(() => window.__done === true, null, { timeout: 60000, polling: 50 });
  } catch (err) {
    timedOut = String(err.message || err); // reported with what the page saw so far
  }
  const result = await page.evaluate(() => window.__result);
  result.console = consoleLines;
  result.timedOut = timedOut;
  process.stdout.write(JSON.stringify(result) + "\n");
} finally {
  await browser.close();
}
