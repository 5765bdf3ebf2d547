// Shared by the browser scripts here: headless Chromium (CHROMIUM, default
// /usr/bin/chromium) in a throwaway profile, and the completion form's
// button.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-quic',
  '--no-first-run',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
];

/// Launches Chromium in a fresh profile, runs `body(page)` and returns what
/// it returns; closes the browser and removes the profile whatever happens.
/// `options` go to launchPersistentContext (e.g. `viewport`).
export async function withPage(options, body) {
  const profile = mkdtempSync(join(tmpdir(), 'arshjul-chromium-'));
  let context;
  try {
    context = await chromium.launchPersistentContext(profile, {
      executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
      headless: true,
      args: ARGS,
      timeout: 30000,
      ...options,
    });
    const page = context.pages()[0] ?? (await context.newPage());
    return await body(page);
  } finally {
    if (context) await context.close();
    rmSync(profile, { recursive: true, force: true });
  }
}

/// Opens `url` and throws unless it answers 200.
export async function open(page, url) {
  const shown = await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  if (!shown || shown.status() !== 200) {
    throw new Error(`GET ${url} answered ${shown ? shown.status() : 'nothing'}`);
  }
}

/// Presses the page's one submit button of its POST form and waits for the
/// page that follows; throws unless there is exactly one such button and
/// the answer is 200.
export async function submit(page) {
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
}
