// three.js (GLTFLoader, WebGLRenderer) in headless Chromium renders a GLB as an ordinary
// glTF viewer would, from a pinhole camera, and writes the picture as a PNG.
//
// Usage: node tests/js/render_gltf.js MODEL.glb OUT.png WIDTH HEIGHT HFOV_DEG [YAW_DEG]
// The camera stands at the origin looking down -Z (+Y up), turned by YAW (positive turns
// right), as DepthFusion's cameras; no lights are added (an unlit material needs none).
// Prints a JSON line: {"nodes": [names of the loaded scene's meshes], "width", "height"}.
const fs = require('fs');
const path = require('path');
const { launch } = require('./browser');

const [model, out, width, height, hfov, yaw = '0'] = process.argv.slice(2);
const THREE_DIR = path.join(__dirname, 'node_modules', 'three');
const ORIGIN = 'http://depthfusion.test';

const PAGE = `<!doctype html><html><body style="margin:0">
<script type="importmap">{"imports": {"three": "/three/build/three.module.js",
  "three/addons/": "/three/examples/jsm/"}}</script>
<script type="module">
import * as THREE from 'three';
import { GLTFLoader } from 'three/addons/loaders/GLTFLoader.js';
window.renderModel = async (w, h, hfov, yaw) => {
  const renderer = new THREE.WebGLRenderer({ antialias: false, preserveDrawingBuffer: true });
  renderer.setPixelRatio(1);
  renderer.setSize(w, h);
  document.body.appendChild(renderer.domElement);
  const gltf = await new GLTFLoader().loadAsync('/model.glb');
  const scene = new THREE.Scene();
  scene.add(gltf.scene);
  const vfov = 2 * Math.atan(Math.tan(hfov * Math.PI / 360) * h / w) * 180 / Math.PI;
  const camera = new THREE.PerspectiveCamera(vfov, w / h, 0.05, 500);
  camera.rotation.y = -yaw * Math.PI / 180;
  renderer.render(scene, camera);
  const names = [];
  gltf.scene.traverse(o => { if (o.isMesh) names.push(o.name); });
  return { png: renderer.domElement.toDataURL('image/png'), names };
};
window.ready = true;
</script></body></html>`;

(async () => {
  const browser = await launch();
  try {
    const page = await browser.newPage();
    await page.route(`${ORIGIN}/**`, route => {
      const url = new URL(route.request().url());
      if (url.pathname === '/') return route.fulfill({ contentType: 'text/html', body: PAGE });
      if (url.pathname === '/model.glb') {
        return route.fulfill({ contentType: 'model/gltf-binary', body: fs.readFileSync(model) });
      }
      if (url.pathname.startsWith('/three/')) {
        const file = path.join(THREE_DIR, url.pathname.slice('/three/'.length));
        return route.fulfill({ contentType: 'text/javascript', body: fs.readFileSync(file) });
      }
      return route.fulfill({ status: 404, body: '' });
    });
    const errors = [];
    page.on('pageerror', e => errors.push(String(e)));
    await page.goto(`${ORIGIN}/`);
    await page.waitForFunction(() => window.ready === true, null, { timeout: 30000 });
    const result = await page.evaluate(
      ([w, h, f, y]) => window.renderModel(w, h, f, y),
      [Number(width), Number(height), Number(hfov), Number(yaw)],
    );
    if (errors.length) throw new Error(errors.join('; '));
    fs.writeFileSync(out, Buffer.from(result.png.split(',')[1], 'base64'));
    console.log(JSON.stringify({ nodes: result.names, width: Number(width), height: Number(height) }));
  } finally {
    await browser.close();
  }
})().catch(e => { console.error(String(e)); process.exit(1); });
