// Opens a completion link in headless Chromium, presses the button and
// prints the heading of the page that follows. Exits non-zero on any failure.
// Usage: node click.mjs URL   (Chromium from CHROMIUM, default /usr/bin/chromium)
import { open, submit, withPage } from './lib.mjs';

const url = process.argv[2];
if (!url) {
  console.error('usage: node click.mjs URL');
  process.exit(2);
}

try {
  await withPage({}, async (page) => {
    await open(page, url);
    await submit(page);
    console.log((await page.locator('h1').innerText()).trim());
  });
} catch (e) {
  console.error(`click.mjs: ${e.message}`);
  process.exitCode = 1;
}
