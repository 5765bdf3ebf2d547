// Opens a completion link in headless Chromium, fills "Udført af" and the
// note, chooses evidence files, presses the button and prints the heading of
// the page that follows. Exits non-zero on any failure, or when the browser
// console reports an error.
// Usage: node upload.mjs URL PERFORMED_BY NOTE FILE…
//   (Chromium from CHROMIUM, default /usr/bin/chromium)
import { open, submit, withPage } from './lib.mjs';

const [url, performedBy, note, ...files] = process.argv.slice(2);
if (!url || files.length === 0) {
  console.error('usage: node upload.mjs URL PERFORMED_BY NOTE FILE…');
  process.exit(2);
}

try {
  await withPage({ viewport: { width: 390, height: 900 } }, async (page) => {
    const errors = [];
    page.on('console', (m) => m.type() === 'error' && errors.push(m.text()));
    await open(page, url);
    await page.getByLabel(/Udført af|Performed by/).fill(performedBy);
    await page.getByLabel(/Bemærkning|Note/).fill(note);
    await page.getByLabel(/Dokumentation|Evidence/).setInputFiles(files);
    await submit(page);
    if (errors.length > 0) {
      throw new Error(`console errors: ${errors.join('; ')}`);
    }
    console.log((await page.locator('h1').innerText()).trim());
  });
} catch (e) {
  console.error(`upload.mjs: ${e.message}`);
  process.exitCode = 1;
}
