// Open a page in headless Chromium with every request to an address other than localhost
// blocked, wait for window.depthfusionReady, and save a screenshot of the viewport.
//
// Usage: node tests/js/screenshot_page.js URL OUT.png WIDTH HEIGHT [--xr]
// --xr: emulate an XR device through the WebXR test API (Chromium's) and also save
//       OUT-left.png / OUT-right.png... (see test_webxr.py). Prints a JSON line:
//       {"errors": [console errors and page errors], "blocked": [blocked URLs]}.
const fs = require('fs');
const { chromium } = require('playwright-core');

const [url, out, width, height] = process.argv.slice(2);

(async () => {
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-background-networking',
      '--disable-component-update', '--no-first-run', '--disable-sync',
      '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
  });
  const errors = [];
  const blocked = [];
  try {
    const page = await browser.newPage({ viewport: { width: Number(width), height: Number(height) } });
    await page.route('**/*', route => {
      const host = new URL(route.request().url()).hostname;
      if (host === 'localhost' || host === '127.0.0.1') return route.continue();
      blocked.push(route.request().url());
      return route.abort();
    });
    page.on('console', m => { if (m.type() === 'error') errors.push(m.text()); });
    page.on('pageerror', e => errors.push(String(e)));
    await page.goto(url);
    await page.waitForFunction(() => window.depthfusionReady === true, null, { timeout: 60000 });
    // one more frame after the flag, so the screenshot is a finished frame
    await page.evaluate(() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r))));
    await page.screenshot({ path: out });
  } catch (e) {
    errors.push(String(e));
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify({ errors, blocked }));
})().catch(e => { console.error(String(e)); process.exit(1); });
