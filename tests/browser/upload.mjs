// Opens a completion link in headless Chromium, fills "Udført af" and the
// note, chooses evidence files, presses the button and prints the heading of
// the page that follows. Exits non-zero on any failure, or when the browser
// console reports an error.
// Usage: node upload.mjs URL PERFORMED_BY NOTE FILE…
//   (Chromium from CHROMIUM, default /usr/bin/chromium)
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const [url, performedBy, note, ...files] = process.argv.slice(2);
if (!url || files.length === 0) {
  console.error('usage: node upload.mjs URL PERFORMED_BY NOTE FILE…');
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
    viewport: { width: 390, height: 900 },
    timeout: 30000,
  });
  const page = context.pages()[0] ?? (await context.newPage());
  const errors = [];
  page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
  const shown = await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  if (!shown || shown.status() !== 200) {
    throw new Error(`GET ${url} answered ${shown ? shown.status() : 'nothing'}`);
  }
  await page.getByLabel(/Udført af|Performed by/).fill(performedBy);
  await page.getByLabel(/Bemærkning|Note/).fill(note);
  await page.getByLabel(/Dokumentation|Evidence/).setInputFiles(files);
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
  if (errors.length > 0) {
    throw new Error(`console errors: ${errors.join('; ')}`);
  }
  console.log((await page.locator('h1').innerText()).trim());
} catch (e) {
  console.error(`upload.mjs: ${e.message}`);
  process.exitCode = 1;
} finally {
  if (context) await context.close();
  rmSync(profile, { recursive: true, force: true });
}
