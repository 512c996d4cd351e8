// A minimal emulated XR device for headless Chromium (injected before the page's scripts):
// navigator.xr offers an 'immersive-vr' session whose viewer stands at the reference space's
// origin, its head pitched by window.__xrConfig.pitch degrees (positive looks up), with two
// eyes at -ipd/2 and +ipd/2 along the head's x axis, parallel, each a square view of 90°
// (window.__xr.eye pixels) drawn side by side into the page's canvas (XRWebGLLayer with the
// default framebuffer, as WebXR polyfills do). window.__xr.frames counts XR frames.
(() => {
  const cfg = Object.assign({ ipd: 0.064, eye: 400, pitch: 0 }, window.__xrConfig || {});
  const state = { frames: 0, eye: cfg.eye, ipd: cfg.ipd, session: null };
  window.__xr = state;
  delete window.XRWebGLBinding;  // the classic XRWebGLLayer path

  const near = 0.05, far = 1000;
  const projection = new Float32Array([  // 90° symmetric frustum, aspect 1, column-major
    1, 0, 0, 0,
    0, 1, 0, 0,
    0, 0, -(far + near) / (far - near), -1,
    0, 0, -2 * far * near / (far - near), 0,
  ]);
  const a = cfg.pitch * Math.PI / 180, c = Math.cos(a), s = Math.sin(a);
  function eyeView(eye, x) {  // rotation about x by the pitch, then the eye's offset on x
    const matrix = new Float32Array([1, 0, 0, 0, 0, c, s, 0, 0, -s, c, 0, x, 0, 0, 1]);
    const inverse = new Float32Array([1, 0, 0, 0, 0, c, -s, 0, 0, s, c, 0, -x, 0, 0, 1]);
    return {
      eye, projectionMatrix: projection,
      transform: { position: { x, y: 0, z: 0, w: 1 },
        orientation: { x: Math.sin(a / 2), y: 0, z: 0, w: Math.cos(a / 2) },
        matrix, inverse: { matrix: inverse } },
    };
  }
  const views = [eyeView('left', -cfg.ipd / 2), eyeView('right', cfg.ipd / 2)];
  const pose = { views, emulatedPosition: false, transform: eyeView('none', 0).transform };

  class XRWebGLLayer {
    constructor(session, gl) {
      this.framebuffer = null;
      this.framebufferWidth = 2 * state.eye;
      this.framebufferHeight = state.eye;
      this.ignoreDepthValues = true;
      this.antialias = true;
    }
    getViewport(view) {
      return { x: view.eye === 'left' ? 0 : state.eye, y: 0, width: state.eye, height: state.eye };
    }
  }
  window.XRWebGLLayer = XRWebGLLayer;
  WebGL2RenderingContext.prototype.makeXRCompatible = function () { return Promise.resolve(); };
  WebGLRenderingContext.prototype.makeXRCompatible = function () { return Promise.resolve(); };

  class Session extends EventTarget {
    constructor() {
      super();
      this.renderState = { baseLayer: null, layers: undefined };
      this.inputSources = [];
      this.environmentBlendMode = 'opaque';
      this.visibilityState = 'visible';
    }
    updateRenderState(s) { Object.assign(this.renderState, s); }
    requestReferenceSpace() {
      const space = { getOffsetReferenceSpace: () => space, addEventListener() {}, removeEventListener() {} };
      return Promise.resolve(space);
    }
    requestAnimationFrame(cb) {
      return window.requestAnimationFrame(t => {
        state.frames += 1;
        cb(t, { session: this, getViewerPose: () => pose, getPose: () => null });
      });
    }
    cancelAnimationFrame(id) { window.cancelAnimationFrame(id); }
    end() { this.dispatchEvent(new Event('end')); return Promise.resolve(); }
  }
  const xr = new EventTarget();
  xr.isSessionSupported = mode => Promise.resolve(mode === 'immersive-vr');
  xr.requestSession = () => { state.session = new Session(); return Promise.resolve(state.session); };
  Object.defineProperty(navigator, 'xr', { value: xr, configurable: true });
})();
