// DepthFusion's WebXR viewer: the layered scene mesh (scene.glb: unlit foreground and
// background layers) seen from a pinhole camera with the project's conventions (+Y up,
// forward -Z, yaw turns right, horizontal field of view), or in a headset with 6-DoF head
// motion. Everything it loads is in this folder: no network.
//
// index.html#pose=x,y,z,yaw,pitch,fov opens at that pose (metres, degrees); &ui=0 hides the
// overlays. window.depthfusionReady becomes true once a frame with the mesh is drawn.
import * as THREE from 'three';
import { GLTFLoader } from './GLTFLoader.js';
import { VRButton } from './VRButton.js';

const DEG = Math.PI / 180;
const params = new URLSearchParams(location.hash.slice(1));
const showUi = params.get('ui') !== '0';

function fail(text) {
  const box = document.getElementById('message');
  box.textContent = text;
  box.style.display = showUi ? 'block' : 'none';
  console.error(text);
}

function parsePose(text, start) {
  if (!text) return { ...start };
  const v = text.split(',').map(Number);
  if (v.length < 3 || v.some(x => !Number.isFinite(x))) {
    fail(`#pose=${text}: expected x,y,z[,yaw,pitch,fov] in metres and degrees`);
    return { ...start };
  }
  return { position: [v[0], v[1], v[2]], yaw: v[3] ?? start.yaw, pitch: v[4] ?? start.pitch,
    fov: v[5] ?? start.fov };
}

function verticalFov(hfov, aspect) {
  return 2 * Math.atan(Math.tan(hfov * DEG / 2) / aspect) / DEG;
}

async function main() {
  if (!showUi) document.getElementById('help').style.display = 'none';
  const info = await (await fetch('./scene.json')).json();
  const start = { position: info.start.position, yaw: info.start.yaw, pitch: info.start.pitch,
    fov: info.start.fov };
  const view = parsePose(params.get('pose'), start);

  const renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
  renderer.setPixelRatio(window.devicePixelRatio);
  renderer.setSize(window.innerWidth, window.innerHeight);
  renderer.xr.enabled = true;
  renderer.xr.setReferenceSpaceType('local');
  document.body.appendChild(renderer.domElement);

  const scene = new THREE.Scene();
  scene.background = new THREE.Color(0x000000);
  // The rig stands at the start position, turned by the start yaw; in a headset the head
  // moves inside it (6-DoF), on a desktop the camera is the rig's only child at its origin.
  const rig = new THREE.Group();
  scene.add(rig);
  const camera = new THREE.PerspectiveCamera(60, window.innerWidth / window.innerHeight,
    0.02, 4 * info.radius + 100);
  camera.rotation.order = 'YXZ';
  rig.add(camera);

  const gltf = await new GLTFLoader().loadAsync('./scene.glb');
  scene.add(gltf.scene);
  const materials = [];
  gltf.scene.traverse(o => { if (o.isMesh) materials.push(o.material); });

  function applyView() {
    rig.position.set(...view.position);
    rig.rotation.set(0, 0, 0);
    camera.position.set(0, 0, 0);
    camera.rotation.set(view.pitch * DEG, -view.yaw * DEG, 0, 'YXZ');
    camera.fov = verticalFov(view.fov, camera.aspect);
    camera.updateProjectionMatrix();
  }
  applyView();

  // --- desktop: drag to look, keys to move, wheel for the field of view ---------------------
  const keys = new Set();
  let dragging = null;
  renderer.domElement.addEventListener('pointerdown', e => { dragging = [e.clientX, e.clientY]; });
  window.addEventListener('pointerup', () => { dragging = null; });
  window.addEventListener('pointermove', e => {
    if (!dragging) return;
    const perPixel = view.fov / window.innerWidth;  // the point under the cursor stays under it
    view.yaw -= (e.clientX - dragging[0]) * perPixel;
    view.pitch = Math.max(-89, Math.min(89, view.pitch + (e.clientY - dragging[1]) * perPixel));
    dragging = [e.clientX, e.clientY];
    applyView();
  });
  renderer.domElement.addEventListener('wheel', e => {
    e.preventDefault();
    view.fov = Math.max(10, Math.min(150, view.fov + Math.sign(e.deltaY) * 5));
    applyView();
  }, { passive: false });
  window.addEventListener('keydown', e => {
    keys.add(e.key.toLowerCase());
    if (e.key.toLowerCase() === 'r') { Object.assign(view, parsePose(null, start)); applyView(); }
  });
  window.addEventListener('keyup', e => keys.delete(e.key.toLowerCase()));
  window.addEventListener('resize', () => {
    camera.aspect = window.innerWidth / window.innerHeight;
    renderer.setSize(window.innerWidth, window.innerHeight);
    applyView();
  });

  // --- phone: device orientation -----------------------------------------------------------
  let orientation = null;
  window.addEventListener('deviceorientation', e => {
    if (e.alpha !== null) orientation = e;
  });
  const zee = new THREE.Vector3(0, 0, 1);
  const screenFix = new THREE.Quaternion(-Math.sqrt(0.5), 0, 0, Math.sqrt(0.5));
  function orientCamera() {
    const euler = new THREE.Euler(orientation.beta * DEG, orientation.alpha * DEG,
      -orientation.gamma * DEG, 'YXZ');
    camera.quaternion.setFromEuler(euler).multiply(screenFix).multiply(
      new THREE.Quaternion().setFromAxisAngle(zee, -(screen.orientation?.angle ?? 0) * DEG));
  }

  // --- headset: immersive-vr with a comfort radius ----------------------------------------
  if (navigator.xr && showUi) {
    document.body.appendChild(VRButton.createButton(renderer));
  }
  // In a headset the head gives pitch and roll; the rig keeps the start's position and
  // heading (the horizon stays level), and the head moves freely inside it.
  renderer.xr.addEventListener('sessionstart', () => {
    rig.position.set(...view.position);
    rig.rotation.set(0, -view.yaw * DEG, 0);
  });
  renderer.xr.addEventListener('sessionend', () => applyView());
  const head = new THREE.Vector3();
  function comfort() {
    // Beyond the comfort radius the scene fades out, back to full as the head returns:
    // past it the background layer has nothing left to fill.
    camera.getWorldPosition(head);
    const d = head.distanceTo(rig.position);
    const r = info.comfort_radius;
    const fade = renderer.xr.isPresenting ? Math.min(1, Math.max(0, (d - r) / (0.5 * r))) : 0;
    for (const m of materials) m.color.setScalar(1 - fade);
  }

  let last = performance.now();
  const forward = new THREE.Vector3();
  const right = new THREE.Vector3();
  renderer.setAnimationLoop(now => {
    const dt = Math.min(0.1, (now - last) / 1000);
    last = now;
    if (!renderer.xr.isPresenting) {
      if (orientation) orientCamera();
      const speed = (keys.has('shift') ? 4 : 1) * dt;
      camera.getWorldDirection(forward);
      forward.y = 0;
      forward.normalize();
      right.crossVectors(forward, camera.up).normalize();
      const move = (k1, k2) => keys.has(k1) || keys.has(k2);
      let moved = false;
      for (const [a, b, vec, sign] of [['w', 'arrowup', forward, 1], ['s', 'arrowdown', forward, -1],
        ['d', 'arrowright', right, 1], ['a', 'arrowleft', right, -1]]) {
        if (move(a, b)) {
          view.position = view.position.map((p, i) => p + sign * speed * vec.getComponent(i));
          moved = true;
        }
      }
      if (moved) applyView();
    }
    comfort();
    renderer.render(scene, camera);
    window.depthfusionReady = true;
  });
}

main().catch(e => fail(`DepthFusion viewer: ${e.message || e}`));
