// Opens an HTML report file in headless Chromium at A4 width (794 px),
// checks that nothing overflows sideways (on screen and in print media,
// and on screen at a phone's 390 px),
// that nothing is fetched from elsewhere and that the console stays
// quiet, then prints it to PDF (A4). Prints "ok PAGES" or fails.
// Usage: node report.mjs FILE.html OUT.pdf   (Chromium from CHROMIUM, default /usr/bin/chromium)
import { readFileSync } from 'node:fs';
import { pathToFileURL } from 'node:url';
import { withPage } from './lib.mjs';

const [file, pdf] = process.argv.slice(2);
if (!file || !pdf) {
  console.error('usage: node report.mjs FILE.html OUT.pdf');
  process.exit(2);
}

const url = pathToFileURL(file).href;
try {
  await withPage({ viewport: { width: 794, height: 1123 } }, async (page) => {
    const problems = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warning') problems.push(`console ${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => problems.push(`page error: ${e.message}`));
    page.on('request', (r) => {
      if (r.url() !== url) problems.push(`fetched ${r.url()}`);
    });
    await page.goto(url, { waitUntil: 'load', timeout: 15000 });
    // A4 on screen and in print, and a phone (390 px) on screen: long
    // words in titles, names and references must wrap, not widen the page.
    for (const [media, width] of [['screen', 794], ['print', 794], ['screen', 390]]) {
      await page.setViewportSize({ width, height: 1123 });
      await page.emulateMedia({ media });
      const { scroll, inner } = await page.evaluate(() => ({
        scroll: document.documentElement.scrollWidth,
        inner: window.innerWidth,
      }));
      if (scroll > inner) problems.push(`${media} at ${width} px: scrollWidth ${scroll} > innerWidth ${inner}`);
    }
    await page.setViewportSize({ width: 794, height: 1123 });
    await page.emulateMedia({ media: 'print' });
    await page.pdf({ path: pdf, format: 'A4', printBackground: true, preferCSSPageSize: true });
    const bytes = readFileSync(pdf);
    if (bytes.subarray(0, 5).toString() !== '%PDF-') problems.push('the PDF does not start with %PDF-');
    const pages = (bytes.toString('latin1').match(/\/Type\s*\/Page[^s]/g) || []).length;
    if (problems.length) throw new Error(problems.join('\n'));
    console.log(`ok ${pages}`);
  });
} catch (e) {
  console.error(`report.mjs: ${e.message}`);
  process.exitCode = 1;
}
