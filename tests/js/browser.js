// Headless Chromium as the tests run it: Debian's chromium, WebGL on SwiftShader, nothing
// started in the background that would reach the network.
const { chromium } = require('playwright-core');

exports.launch = () => chromium.launch({
  executablePath: process.env.CHROMIUM || '/usr/bin/chromium',
  args: ['--headless', '--no-sandbox', '--disable-background-networking',
    '--disable-component-update', '--no-first-run', '--disable-sync',
    '--use-angle=swiftshader', '--enable-unsafe-swiftshader'],
});
