#!/usr/bin/env bash
# Create or reuse the project venv and install everything nova3r_ros needs, on a machine
# with no ROS 2 installed: PyPI wheels (torch pinned, ros-jazzy-*, numpy, ...), Debian's
# libusb for Open3D, and tf2_msgs built from its interface definition into the venv.
# Idempotent: a second run checks a stamp and installs nothing.
# Usage: scripts/setup_env.sh [VENV_DIR]   (default .venv)
set -euo pipefail
cd "$(dirname "$0")/.."
VENV="${1:-.venv}"
PYTHON="${PYTHON:-python3}"
STAMP="$VENV/.nova3r-setup"
digest=$(cat requirements.txt setup.py scripts/setup_env.sh scripts/build_tf2_msgs.sh \
  $(find interfaces -type f | sort) | sha256sum | cut -d' ' -f1)

if [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$digest" ] && [ -x "$VENV/bin/python" ]; then
  echo "[setup] $VENV is up to date (nothing to install)"
  exit 0
fi

need_root() {
  echo "[setup] ERROR: missing system packages: $*" >&2
  echo "[setup] run as root:  apt-get update && apt-get install -y $*" >&2
  exit 1
}

# --- system libraries (Debian/Ubuntu) ---------------------------------------------------
missing=()
ldconfig -p 2>/dev/null | grep -q 'libusb-1.0.so.0' || missing+=(libusb-1.0-0)
command -v cmake >/dev/null || missing+=(cmake)
command -v g++ >/dev/null || missing+=(g++)
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "[setup] apt-get install ${missing[*]}"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
  else
    need_root "${missing[@]}"
  fi
fi

# --- venv + wheels ----------------------------------------------------------------------
"$PYTHON" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || { echo "[setup] ERROR: Python >= 3.10 needed, got $("$PYTHON" -V)" >&2; exit 1; }
if [ ! -x "$VENV/bin/python" ]; then
  echo "[setup] creating $VENV"
  "$PYTHON" -m venv "$VENV"
fi
echo "[setup] pip install -r requirements.txt"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check -r requirements.txt 2>&1 \
  | grep -v "is ignored: it is neither a file nor a directory" || true
echo "[setup] pip install -e . (nova3r_ros itself, editable)"
"$VENV/bin/python" -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . 2>&1 \
  | grep -v "is ignored: it is neither a file nor a directory" || true
"$VENV/bin/python" -c 'import torch, numpy, rclpy, open3d, cv2, pycolmap, rosbags' \
  || { echo "[setup] ERROR: installed packages fail to import" >&2; exit 1; }

# --- tf2_msgs from its interface definition ---------------------------------------------
bash scripts/build_tf2_msgs.sh "$VENV"

echo "$digest" > "$STAMP"
echo "[setup] done: $VENV"
