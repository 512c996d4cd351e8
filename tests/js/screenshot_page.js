// Open a page in headless Chromium with every request to an address other than localhost
// blocked, wait for window.depthfusionReady, and save a screenshot of the viewport.
//
// Usage: node tests/js/screenshot_page.js URL OUT.png WIDTH HEIGHT [--xr IPD EYE [PITCH]]
// --xr: an emulated XR device (xr_mock.js: two parallel 90° eyes IPD metres apart, EYE
//       pixels square); the page's "Enter VR" button is clicked and, after a few XR frames,
//       OUT.png is the canvas itself: the two eye views side by side.
// Prints a JSON line: {"errors": [console and page errors], "blocked": [blocked URLs]}.
const fs = require('fs');
const { launch } = require('./browser');

const [url, out, width, height, flag, ipd, eye, pitch = '0'] = process.argv.slice(2);
const xr = flag === '--xr';

(async () => {
  const browser = await launch();
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
    if (xr) {
      await page.addInitScript(
        `window.__xrConfig = { ipd: ${Number(ipd)}, eye: ${Number(eye)}, pitch: ${Number(pitch)} };`);
      await page.addInitScript({ path: require('path').join(__dirname, 'xr_mock.js') });
    }
    page.on('pageerror', e => errors.push(String(e)));
    await page.goto(url);
    await page.waitForFunction(() => window.depthfusionReady === true, null, { timeout: 60000 });
    // one more frame after the flag, so the screenshot is a finished frame
    await page.evaluate(() => new Promise(r => requestAnimationFrame(() => requestAnimationFrame(r))));
    if (xr) {
      await page.getByRole('button', { name: /enter vr/i }).click();
      await page.waitForFunction(() => window.__xr.frames >= 5, null, { timeout: 60000 });
      const png = await page.evaluate(() => document.querySelector('canvas').toDataURL('image/png'));
      fs.writeFileSync(out, Buffer.from(png.split(',')[1], 'base64'));
    } else {
      await page.screenshot({ path: out });
    }
  } catch (e) {
    errors.push(String(e));
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify({ errors, blocked }));
})().catch(e => { console.error(String(e)); process.exit(1); });
