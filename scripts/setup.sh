#!/usr/bin/env bash
# Sets up a machine to build and run Persona. Idempotent: run it again at any time.
#
#   scripts/setup.sh            system packages + the default models
#   scripts/setup.sh --system   system packages only (what CI needs before the tests)
#
# Models: with PERSONA_MODELS set to a folder that already holds them (an offline mirror such as ../shared/models),
# nothing is downloaded; otherwise `persona models fetch` downloads the defaults into your data folder.
set -euo pipefail
cd "$(dirname "$0")/.."

# Build: cmake and ALSA headers (whisper.cpp, cpal). Tests: espeak-ng (phonemes), sox, Xvfb (window tests),
# Mesa's Vulkan software driver (wgpu renders on lavapipe), ImageMagick (screenshots), ffmpeg (video outputs),
# unzip (the test Piper voice comes out of a wheel).
packages=(cmake pkg-config libasound2-dev libclang-dev espeak-ng sox xvfb xauth mesa-vulkan-drivers libvulkan1 imagemagick ffmpeg python3 unzip)

install_system() {
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "setup: not a Debian/Ubuntu system; install the equivalents of: ${packages[*]}" >&2
    return 0
  fi
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  if [ ${#missing[@]} -eq 0 ]; then
    echo "setup: system packages present"
    return 0
  fi
  local sudo=()
  [ "$(id -u)" -eq 0 ] || sudo=(sudo)
  echo "setup: installing ${missing[*]}"
  "${sudo[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

install_system
if ! command -v cargo >/dev/null 2>&1; then
  echo "setup: Rust is not installed; get it from https://rustup.rs and run this again" >&2
  exit 1
fi
[ "${1:-}" = "--system" ] && exit 0

if [ -n "${PERSONA_MODELS:-}" ] && [ -f "$PERSONA_MODELS/silero_vad.onnx" ]; then
  echo "setup: using the models in $PERSONA_MODELS"
else
  cargo run --release --quiet -- models fetch
fi
cargo run --release --quiet -- doctor --offline || true
