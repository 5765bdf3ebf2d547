// Runs axe-core on the completion link's pages in headless Chromium at
// 390 px and 1280 px: the form (CONFIRM_URL), an error page (ERROR_URL),
// and, after pressing the button, the page that records it and the page a
// second visit shows. Fails (exit 1) on any serious or critical axe
// violation, on horizontal overflow (scrollWidth > innerWidth), or on a
// console error. Prints one line per page and width checked.
// Usage: node axe.mjs CONFIRM_URL ERROR_URL   (Chromium from CHROMIUM,
// default /usr/bin/chromium). Driven by tests/it/e2e.rs.
// Or: node axe.mjs --overview OVERVIEW_URL [MIN_TEXT_PX]: the overview page
// alone, at both widths (driven by tests/it/overview_page.rs and
// overview_scale.rs); it also prints the smallest text of the wheel (each
// SVG `text` element's font size times its on-screen scale, in CSS px)
// and, given MIN_TEXT_PX, fails when any is smaller.
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { submit, withPage } from './lib.mjs';

const overview = process.argv[2] === '--overview';
const [confirmUrl, errorUrl] = process.argv.slice(overview ? 3 : 2);
const minText = overview && errorUrl ? Number(errorUrl) : 0;
if (!confirmUrl || (!overview && !errorUrl)) {
  console.error('usage: node axe.mjs CONFIRM_URL ERROR_URL | node axe.mjs --overview OVERVIEW_URL [MIN_TEXT_PX]');
  process.exit(2);
}
const axeSource = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const WIDTHS = [390, 1280];

const problems = [];

/// Checks the page as it is now, at its current width.
async function check(page, name, errors) {
  const width = page.viewportSize().width;
  const where = `${name} at ${width} px`;
  const { scrollWidth, innerWidth } = await page.evaluate(() => ({
    scrollWidth: document.documentElement.scrollWidth,
    innerWidth: window.innerWidth,
  }));
  if (scrollWidth > innerWidth) {
    problems.push(`${where}: horizontal overflow, scrollWidth ${scrollWidth} > innerWidth ${innerWidth}`);
  }
  // Through the DevTools protocol, which the page's CSP does not govern.
  await page.evaluate(`${axeSource}\n;0`);
  const result = await page.evaluate(() => window.axe.run(document, { resultTypes: ['violations'] }));
  for (const v of result.violations) {
    if (v.impact === 'serious' || v.impact === 'critical') {
      const nodes = v.nodes.map((n) => n.target.join(' ')).join(', ');
      problems.push(`${where}: axe ${v.impact} ${v.id}: ${v.help} (${nodes})`);
    }
  }
  for (const e of errors.splice(0)) {
    problems.push(`${where}: console error: ${e}`);
  }
  console.log(`checked ${where}: ${result.violations.length} violations of lesser impact at most`);
}

/// The wheel's smallest text at the page's current width, in CSS px: each
/// visible SVG `text` element's computed font size (user units) times
/// the scale its screen matrix applies (rotation included).
async function smallestWheelText(page, name) {
  const width = page.viewportSize().width;
  const { smallest, text, count } = await page.evaluate(() => {
    let smallest = Infinity;
    let text = '';
    const all = [...document.querySelectorAll('svg text')];
    for (const el of all) {
      const box = el.getBoundingClientRect();
      if (box.width === 0 && box.height === 0) continue;
      const m = el.getScreenCTM();
      const scale = Math.sqrt(m.a * m.a + m.b * m.b);
      const px = parseFloat(getComputedStyle(el).fontSize) * scale;
      if (px < smallest) {
        smallest = px;
        text = el.textContent;
      }
    }
    return { smallest, text, count: all.length };
  });
  console.log(`smallest wheel text of ${name} at ${width} px: ${smallest.toFixed(2)} px (${JSON.stringify(text)}, ${count} texts)`);
  if (minText > 0 && !(smallest >= minText)) {
    problems.push(`${name} at ${width} px: wheel text ${JSON.stringify(text)} is ${smallest.toFixed(2)} px, under ${minText} px`);
  }
}

/// Opens `url` at `width`; `status` is the status the page is expected to
/// have. Chromium logs every 4xx document as a console error ("Failed to
/// load resource"); that one line is expected on an error page and not
/// counted there.
async function visit(page, url, width, status, errors) {
  await page.setViewportSize({ width, height: 900 });
  const shown = await page.goto(url, { waitUntil: 'load', timeout: 15000 });
  if (!shown || shown.status() !== status) {
    throw new Error(`GET ${url} answered ${shown ? shown.status() : 'nothing'}, expected ${status}`);
  }
  if (status >= 400) {
    const expected = `the server responded with a status of ${status}`;
    const kept = errors.filter((e) => !e.includes(expected));
    errors.splice(0, errors.length, ...kept);
  }
}

try {
  await withPage({}, async (page) => {
    const errors = [];
    page.on('console', (m) => {
      if (m.type() === 'error') errors.push(m.text());
    });
    page.on('pageerror', (e) => errors.push(e.message));

    if (overview) {
      for (const width of WIDTHS) {
        await visit(page, confirmUrl, width, 200, errors);
        await check(page, 'the overview', errors);
        await smallestWheelText(page, 'the overview');
      }
    } else {
      for (const width of WIDTHS) {
        await visit(page, confirmUrl, width, 200, errors);
        await check(page, 'the confirm page', errors);
        await visit(page, errorUrl, width, 404, errors);
        await check(page, 'the error page', errors);
      }
      // Press the button at 390 px: the page that records it.
      await visit(page, confirmUrl, 390, 200, errors);
      await submit(page);
      await check(page, 'the done page', errors);
      // A second visit: the page that says it is already registered.
      for (const width of WIDTHS) {
        await visit(page, confirmUrl, width, 200, errors);
        await check(page, 'the already-registered page', errors);
      }
    }
  });
} catch (e) {
  problems.push(`axe.mjs: ${e.message}`);
}
if (problems.length > 0) {
  for (const p of problems) console.error(p);
  process.exitCode = 1;
}
