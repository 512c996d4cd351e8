#!/usr/bin/env bash
# One-step set-up for a fresh machine: Python packages (CPU torch when none is installed),
# the system tools the tests use (ffprobe from Debian's ffmpeg; xvfb for the preview; node and npm),
# and the third-party clients the tests open outputs with (tests/js: Khronos glTF-Validator,
# three.js in headless Chromium through playwright-core).
# Idempotent: a second run installs nothing new.
set -euo pipefail
cd "$(dirname "$0")"
PY=${PYTHON:-python3}

if ! "$PY" -c "import torch" 2>/dev/null; then
  # An open `torch` requirement would pull a multi-GB CUDA build; 2.13.0 (CPU) is on local disk here.
  "$PY" -m pip install -q "torch==2.13.0" || "$PY" -m pip install -q torch
fi

need_apt=()
command -v ffprobe >/dev/null 2>&1 || need_apt+=(ffmpeg)
command -v Xvfb >/dev/null 2>&1 || need_apt+=(xvfb)
command -v node >/dev/null 2>&1 || need_apt+=(nodejs)
command -v npm >/dev/null 2>&1 || need_apt+=(npm)
command -v exiftool >/dev/null 2>&1 || need_apt+=(libimage-exiftool-perl)
command -v chromium >/dev/null 2>&1 || need_apt+=(chromium)
"$PY" - <<'PYEOF' 2>/dev/null || need_apt+=(libegl1 libegl-mesa0 libgl1-mesa-dri)
import ctypes.util, sys
sys.exit(0 if ctypes.util.find_library("EGL") else 1)
PYEOF
if [ ${#need_apt[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
  else
    echo "setup.sh: please install: ${need_apt[*]} (Debian/Ubuntu package names)" >&2
  fi
fi

"$PY" -m pip install -q -e ".[test]"

# Node packages of the tests (pinned in tests/js/package-lock.json; from the npm registry).
if command -v npm >/dev/null 2>&1 && ! (cd tests/js && npm ls --silent >/dev/null 2>&1); then
  npm ci --prefix tests/js --no-audit --no-fund --silent
fi
