// Opens a completion link in headless Chromium, presses the button and
// prints the heading of the page that follows. Exits non-zero on any failure.
// Usage: node click.mjs URL   (Chromium from CHROMIUM, default /usr/bin/chromium)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const url = process.argv[2];
if (!url) {
  console.error('usage: node click.mjs URL');
  process.exit(2);
}

const profile = mkdtempSync(join(tmpdir(), 'arshjul-chromium-'));
let context;
try {
  context = await chromium.launchPersistentContext(profile, {
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    headless: true,
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
    timeout: 30000,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const shown = await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  if (!shown || shown.status() !== 200) {
    throw new Error(`GET ${url} answered ${shown ? shown.status() : 'nothing'}`);
  }
  const button = page.locator('form[method="post"] button[type="submit"]');
  if ((await button.count()) !== 1) {
    throw new Error('the page has no single submit button');
  }
  const [answer] = await Promise.all([
    page.waitForNavigation({ waitUntil: 'load', timeout: 15000 }),
    button.click(),
  ]);
  if (!answer || answer.status() !== 200) {
    throw new Error(`POST answered ${answer ? answer.status() : 'nothing'}`);
  }
  console.log((await page.locator('h1').innerText()).trim());
} catch (e) {
  console.error(`click.mjs: ${e.message}`);
  process.exitCode = 1;
} finally {
  if (context) await context.close();
  rmSync(profile, { recursive: true, force: true });
}
