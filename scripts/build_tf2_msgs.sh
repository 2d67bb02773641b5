#!/usr/bin/env bash
# Build the ROS 2 Jazzy message package tf2_msgs (not on PyPI) from its interface definition
# in interfaces/tf2_msgs with the rosidl PyPI wheels and plain cmake, and install it INTO the
# venv: the venv itself is the ament prefix of the ros-jazzy-* wheels, so
#   VENV/lib/python3.X/site-packages/tf2_msgs   Python package (importable, no PYTHONPATH)
#   VENV/lib/libtf2_msgs__rosidl_*.so          libraries; ros_wheels_bootstrapper (a .pth
#                                               hook) re-execs the venv python with VENV/lib
#                                               on LD_LIBRARY_PATH, so rclpy finds them
#   VENV/include/tf2_msgs, VENV/share/tf2_msgs  headers, CMake config, type descriptions
# Idempotent: returns at once if tf2_msgs already imports and serializes in the venv.
# Usage: scripts/build_tf2_msgs.sh VENV_DIR
set -euo pipefail

if [ $# -ne 1 ]; then
  echo "usage: $0 VENV_DIR" >&2
  exit 2
fi
REPO="$(cd "$(dirname "$0")/.." && pwd)"
VENV="$(cd "$1" 2>/dev/null && pwd)" || { echo "[tf2_msgs] ERROR: no venv at $1" >&2; exit 1; }
PY="$VENV/bin/python"
SRC="$REPO/interfaces/tf2_msgs"
BUILD="$REPO/build/tf2_msgs"
[ -x "$PY" ] || { echo "[tf2_msgs] ERROR: $PY not found (create the venv first)" >&2; exit 1; }

# Let the target venv's python set up its own LD_LIBRARY_PATH (the bootstrapper skips that
# when it finds this guard inherited from another venv python), and keep a sourced ROS
# install out of the build.
unset _ROS_WHEELS_BOOTSTRAP_COMPLETE PYTHONPATH
export AMENT_PREFIX_PATH="$VENV" CMAKE_PREFIX_PATH="$VENV"

# Loads the C type support too (serialization), not just the pure-Python module.
if "$PY" -c 'import rclpy.serialization as s; from tf2_msgs.msg import TFMessage as T
s.deserialize_message(s.serialize_message(T()), T)' >/dev/null 2>&1; then
  echo "[tf2_msgs] tf2_msgs already built"
  exit 0
fi

# --- build tools ------------------------------------------------------------------------
missing=()
command -v cmake >/dev/null || missing+=(cmake)
command -v cc >/dev/null || command -v gcc >/dev/null || missing+=(gcc)
command -v c++ >/dev/null || command -v g++ >/dev/null || missing+=(g++)
command -v make >/dev/null || command -v ninja >/dev/null || missing+=(make)
if [ ${#missing[@]} -gt 0 ]; then
  echo "[tf2_msgs] ERROR: missing build tools: ${missing[*]}" >&2
  echo "[tf2_msgs] install them (as root):  apt-get update && apt-get install -y" \
    "${missing[*]}" >&2
  exit 1
fi
cmake_version="$(cmake --version | head -1 | awk '{print $3}')"
if [ "$(printf '%s\n' 3.14 "$cmake_version" | sort -V | head -1)" != 3.14 ]; then
  echo "[tf2_msgs] ERROR: cmake >= 3.14 needed, found $cmake_version" >&2
  exit 1
fi

# --- extra wheels -----------------------------------------------------------------------
# What rosidl_default_generators/ament_cmake need at build time beyond the base set but do
# not declare as dependencies (found by configuring in a fresh venv until cmake passed).
EXTRA_WHEELS=(
  ros-jazzy-ament-package                   # ament_cmake_core runs ament_package templates
  ros-jazzy-python-cmake-module             # find_package(PythonExtra) in rosidl_generator_py
  ros-jazzy-ament-cmake-include-directories # needed by ament_cmake_target_dependencies
  ros-jazzy-rosidl-core-generators          # needed by rosidl_default_generators
  ros-jazzy-ament-cmake-ros                 # needed by rosidl_default_generators
  ros-jazzy-ament-cmake-gtest               # needed by ament_cmake_ros (even without tests)
  ros-jazzy-ament-cmake-gmock               # needed by ament_cmake_ros (even without tests)
  ros-jazzy-ament-cmake-pytest              # needed by ament_cmake_ros (even without tests)
)
# shellcheck disable=SC2207
need=($("$PY" - "${EXTRA_WHEELS[@]}" <<'EOF'
import sys
from importlib import metadata

for name in sys.argv[1:]:
    try:
        metadata.version(name)
    except metadata.PackageNotFoundError:
        print(name)
EOF
))
if [ ${#need[@]} -gt 0 ]; then
  echo "[tf2_msgs] pip install ${need[*]}"
  log="$(mktemp)"
  if ! "$VENV/bin/pip" install -q --disable-pip-version-check "${need[@]}" >"$log" 2>&1; then
    grep -v "is ignored: it is neither a file nor a directory" "$log" >&2 || true
    rm -f "$log"
    echo "[tf2_msgs] ERROR: pip install failed" >&2
    exit 1
  fi
  rm -f "$log"
fi

# --- include dirs hard-coded by the wheels' build machine ---------------------------------
PYINC="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
NPINC="$("$PY" -c 'import numpy; print(numpy.get_include())')"
if [ ! -f "$PYINC/Python.h" ]; then
  echo "[tf2_msgs] ERROR: Python headers missing ($PYINC/Python.h)" >&2
  echo "[tf2_msgs] for Debian's python3 (as root):  apt-get install -y python3-dev" >&2
  exit 1
fi
mapfile -t stale < <(grep -rlE '/opt/python/cp[0-9]+-cp[0-9]+' "$VENV"/share/*/cmake \
  --include='*.cmake' 2>/dev/null || true)
if [ ${#stale[@]} -gt 0 ]; then
  echo "[tf2_msgs] rewriting Python include dirs in ${#stale[@]} CMake files -> $PYINC"
  sed -i -E \
    -e "s#/opt/python/cp[0-9]+-cp[0-9]+/lib/python[0-9.]+/site-packages/numpy/_core/include#$NPINC#g" \
    -e "s#/opt/python/cp[0-9]+-cp[0-9]+/include/python[0-9.]+#$PYINC#g" \
    "${stale[@]}"
fi

# --- configure, build, install into the venv ----------------------------------------------
gen=()
command -v ninja >/dev/null && gen=(-G Ninja)
rm -rf "$BUILD"
mkdir -p "$BUILD"
log="$BUILD/build.log"
run() {
  if ! "$@" >>"$log" 2>&1; then
    tail -n 40 "$log" >&2
    echo "[tf2_msgs] ERROR: '$*' failed; full log: $log" >&2
    exit 1
  fi
}
start=$SECONDS
echo "[tf2_msgs] configuring (cmake, log: ${log#"$REPO/"})"
run cmake -S "$SRC" -B "$BUILD" "${gen[@]}" \
  -DCMAKE_INSTALL_PREFIX="$VENV" \
  -DCMAKE_PREFIX_PATH="$VENV" \
  -DPython3_EXECUTABLE="$PY" \
  -DPython3_FIND_VIRTUALENV=ONLY \
  -DBUILD_TESTING=OFF
echo "[tf2_msgs] building"
run cmake --build "$BUILD" --parallel "$(nproc 2>/dev/null || echo 2)"
echo "[tf2_msgs] installing into $VENV"
run cmake --install "$BUILD"

if ! "$PY" -c 'import rclpy.serialization as s; from tf2_msgs.msg import TFMessage as T
s.deserialize_message(s.serialize_message(T()), T)'; then
  echo "[tf2_msgs] ERROR: built and installed, but tf2_msgs does not load in $PY" >&2
  exit 1
fi
echo "[tf2_msgs] done in $((SECONDS - start)) s"
