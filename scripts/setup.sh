#!/usr/bin/env bash
# Idempotent set-up for a fresh Debian 12 machine; a second run only checks and returns.
#   scripts/setup.sh          everything: apt packages, ONNX Runtime, the tansu broker
#   scripts/setup.sh --no-broker   skip tansu (the demo without --kafka does not need it)
# What it installs:
#   apt: GStreamer 1.22 dev + plugins (base, good, bad, ugly for x264enc, libav), make, pkgconf
#        and libssl-dev (bundled librdkafka with TLS/SASL and the GStreamer bindings build with
#        them); protobuf-compiler and libprotobuf-dev (the etcd-client crate compiles etcd's
#        protos with protoc and needs Google's well-known .proto files); etcd-server (3.4, the
#        cluster's coordination engine: `sharpeyes run --cluster` and tests/cluster.rs start it)
#        gstreamer1.0-plugins-base-apps: gst-discoverer-1.0, which the clip tests
#        (tests/clips.rs, ingest/tests/clips.rs) check the event clips' duration with
#   .venv/: the PyPI onnxruntime wheel (with its dependencies), numpy (for
#        scripts/reference_decode.py), opencv-python-headless (the reference resize of
#        inference/tests/resize_reference.rs) and jsonschema (scripts/validate_events.py, the tests'
#        schema checks); its libonnxruntime.so is what ORT_DYLIB_PATH points at
#   for the tests (not with --no-broker): apt chromium, nodejs and npm, and playwright-core in
#        web/e2e/node_modules (npm ci): the command center's browser test
#   tansu 0.6.0 (Kafka-protocol broker for tests and demos), built once (~9 min) into
#        ${SHARPEYES_CACHE:-~/.cache/sharpeyes}/tansu-0.6.0, reused by every checkout after that
set -euo pipefail
cd "$(dirname "$0")/.."

ORT_VERSION=1.31.1
TANSU_VERSION=0.6.0
CACHE=${SHARPEYES_CACHE:-$HOME/.cache/sharpeyes}
broker=1
[ "${1:-}" = "--no-broker" ] && broker=0

APT_PACKAGES=(make pkgconf libssl-dev libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev libgstrtspserver-1.0-dev
  gstreamer1.0-plugins-base gstreamer1.0-plugins-good gstreamer1.0-plugins-bad gstreamer1.0-plugins-ugly
  gstreamer1.0-libav protobuf-compiler libprotobuf-dev etcd-server
  gstreamer1.0-plugins-base-apps)
# apt_install WHY PACKAGE...: installs those not installed yet, one at a time (a failure names
# the package), with sudo unless root.
apt_install() {
  local why=$1 p missing=()
  shift
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=""
  [ "$(id -u)" -ne 0 ] && sudo="sudo"
  echo "setup: apt-get install ${missing[*]} ($why)" >&2
  $sudo apt-get update -qq
  for p in "${missing[@]}"; do
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$p" >/dev/null
  done
}
apt_install "build and run" "${APT_PACKAGES[@]}"

ort_lib=$(ls .venv/lib/python3*/site-packages/onnxruntime/capi/libonnxruntime.so.$ORT_VERSION 2>/dev/null | head -n1 || true)
# numpy and onnxruntime's own dependencies come too: scripts/reference_decode.py imports both.
if [ -z "$ort_lib" ] || ! .venv/bin/python -c "import numpy, onnxruntime, jsonschema" 2>/dev/null; then
  echo "setup: ONNX Runtime $ORT_VERSION, numpy and jsonschema from PyPI into .venv" >&2
  if ! python3 -m venv .venv 2>/dev/null; then
    # Debian's own python3 keeps venv in a separate package.
    sudo=""
    [ "$(id -u)" -ne 0 ] && sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends python3-venv >/dev/null
    rm -rf .venv
    python3 -m venv .venv
  fi
  .venv/bin/pip install -q --disable-pip-version-check "onnxruntime==$ORT_VERSION" numpy "jsonschema>=4.18,<5"
fi
# OpenCV: the reference pre-processing (cv2.resize INTER_LINEAR, what the models were trained
# on) that inference/tests/resize_reference.rs holds our resize to.
if ! .venv/bin/python -c "import cv2" 2>/dev/null; then
  echo "setup: opencv-python-headless from PyPI into .venv" >&2
  .venv/bin/pip install -q --disable-pip-version-check "opencv-python-headless==4.10.0.84"
fi

if [ $broker = 1 ]; then
  # The browser test: Debian's chromium, node and npm, playwright-core from npm (pinned in
  # web/e2e/package-lock.json).
  wanted=(chromium)
  # A node and npm already on PATH (not from apt) are used as they are.
  command -v node >/dev/null || wanted+=(nodejs)
  command -v npm >/dev/null || wanted+=(npm)
  apt_install "browser test" "${wanted[@]}"
  if [ ! -d web/e2e/node_modules/playwright-core ]; then
    echo "setup: playwright-core into web/e2e/node_modules (npm ci)" >&2
    (cd web/e2e && npm ci --no-audit --no-fund --loglevel=error)
  fi
fi

if [ $broker = 1 ] && [ ! -x "$CACHE/tansu-$TANSU_VERSION/bin/tansu" ]; then
  echo "setup: building the tansu $TANSU_VERSION broker once (about 9 minutes)" >&2
  cargo install tansu --version "$TANSU_VERSION" --locked --features dynostore,libsql \
    --root "$CACHE/tansu-$TANSU_VERSION" --quiet
fi
