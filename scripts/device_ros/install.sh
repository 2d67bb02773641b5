#!/usr/bin/env bash
# Unpack the slim ROS 2 Jazzy runtime (rclpy + Fast DDS + message packages, from the PyPI
# ros-* wheels) for the interpreter $PY into PREFIX, build tf2_msgs' Python type support
# for that interpreter, write PREFIX/env.sh and run a self-check.
#   usage: [PY=python3] bash .rosdev/install.sh PREFIX      then: . PREFIX/env.sh
# Needs: PY with numpy and its C headers (Python.h), gcc, tar with xz. No network.
# Idempotent: a second run with the same archive only re-runs the self-check.
set -euo pipefail

if [ $# -ne 1 ]; then echo "usage: [PY=python3] $0 PREFIX" >&2; exit 2; fi
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
PY="${PY:-python3}"
PYVER="$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"
ARC="$HERE/ros-py$PYVER.tar.xz"
[ -f "$ARC" ] || { echo "[rosdev] ERROR: no bundle for Python $PYVER ($ARC)" >&2; exit 1; }
mkdir -p "$1"
PREFIX="$(cd "$1" && pwd)"
SITE="$PREFIX/lib/python$PYVER/site-packages"
CC="${CC:-$(command -v gcc || command -v cc || true)}"
stamp="$(cksum <"$ARC" | cut -d' ' -f1) $PYVER $(command -v "$PY")"

if [ ! -f "$PREFIX/.installed" ] || [ "$(cat "$PREFIX/.installed")" != "$stamp" ]; then
  start=$SECONDS
  echo "[rosdev] unpacking $(basename "$ARC") into $PREFIX"
  find "$PREFIX" -mindepth 1 -maxdepth 1 -exec rm -rf {} +
  if command -v xz >/dev/null; then
    tar -xJf "$ARC" -C "$PREFIX" --strip-components=1
  else  # no xz binary: Python's lzma
    "$PY" -c 'import sys, tarfile
with tarfile.open(sys.argv[1], "r:xz") as t:
    for m in t.getmembers():
        m.name = m.name.partition("/")[2]
        if m.name:
            t.extract(m, sys.argv[2])' "$ARC" "$PREFIX"
  fi
  while read -r link target; do
    [ -n "$link" ] && ln -sf "$target" "$PREFIX/lib/$link"
  done <"$PREFIX/lib/links.txt"

  # PyYAML (rclpy.parameter imports it): pure-Python copy only where python lacks one
  if ! "$PY" -c 'import yaml' >/dev/null 2>&1; then
    echo "[rosdev] $PY has no yaml: installing the bundled pure-Python PyYAML"
    cp -r "$PREFIX/fallback/yaml" "$SITE/yaml"
  fi

  # --- tf2_msgs: the Python-version-dependent pieces -------------------------------------
  PYINC="$("$PY" -c 'import sysconfig; print(sysconfig.get_paths()["include"])')"
  if [ ! -f "$PYINC/Python.h" ]; then
    echo "[rosdev] ERROR: Python headers missing ($PYINC/Python.h): need python$PYVER-dev" >&2
    exit 1
  fi
  NPINC="$("$PY" -c 'import numpy; print(numpy.get_include())')" \
    || { echo "[rosdev] ERROR: $PY has no numpy" >&2; exit 1; }
  [ -n "$CC" ] || { echo "[rosdev] ERROR: no C compiler (gcc/cc)" >&2; exit 1; }
  S="$PREFIX/tf2_msgs_src"
  INC=(-I"$S/rosidl_generator_c" -isystem "$PYINC" -isystem "$NPINC")
  for d in "$PREFIX"/include/*/; do INC+=(-isystem "$d"); done
  CFLAGS=(-O2 -fPIC -shared -w -DROS_PACKAGE_NAME='"tf2_msgs"' -DFASTCDR_DYN_LINK)
  LDF=(-L"$PREFIX/lib" -Wl,--as-needed -Wl,-rpath,"$PREFIX/lib")
  lib() { local o=(); for n in "$@"; do o+=("-l:lib$n.so"); done; echo "${o[@]}"; }
  M="geometry_msgs std_msgs action_msgs unique_identifier_msgs service_msgs builtin_interfaces"
  GEN_PY_LIBS=(tf2_msgs__rosidl_typesupport_c tf2_msgs__rosidl_generator_c)
  for m in $M; do
    for k in generator_py generator_c typesupport_c typesupport_fastrtps_c \
             typesupport_introspection_c; do GEN_PY_LIBS+=("${m}__rosidl_$k"); done
  done
  GEN_PY_LIBS+=(rosidl_typesupport_fastrtps_c rosidl_typesupport_introspection_c rmw
                rosidl_dynamic_typesupport rosidl_typesupport_c rosidl_runtime_c rcutils)
  echo "[rosdev] compiling tf2_msgs Python type support for Python $PYVER ($CC)"
  # shellcheck disable=SC2046
  "$CC" "${CFLAGS[@]}" "${INC[@]}" "$S"/py/msg/_*_s.c "$S"/py/srv/_*_s.c "$S"/py/action/_*_s.c \
    -o "$PREFIX/lib/libtf2_msgs__rosidl_generator_py.so" "${LDF[@]}" \
    $(lib "${GEN_PY_LIBS[@]}") -ldl
  for ts in typesupport_c typesupport_fastrtps_c typesupport_introspection_c; do
    libs=(tf2_msgs__rosidl_generator_py tf2_msgs__rosidl_typesupport_c
          tf2_msgs__rosidl_generator_c rmw rosidl_typesupport_c rosidl_dynamic_typesupport
          rosidl_runtime_c rcutils)
    [ "$ts" = typesupport_c ] || libs+=("tf2_msgs__rosidl_$ts" "rosidl_$ts")
    for m in $M; do libs+=("${m}__rosidl_typesupport_c" "${m}__rosidl_generator_c"); done
    [ "$ts" = typesupport_c ] || for m in $M; do libs+=("${m}__rosidl_$ts"); done
    # shellcheck disable=SC2046
    "$CC" "${CFLAGS[@]}" "${INC[@]}" "$S/py/_tf2_msgs_s.ep.rosidl_$ts.c" \
      -o "$SITE/tf2_msgs/tf2_msgs_s__rosidl_$ts.so" "${LDF[@]}" $(lib "${libs[@]}") -ldl
  done

  cat >"$PREFIX/env.sh" <<EOF
# ROS 2 Jazzy runtime for Python $PYVER ($PY) from $HERE; source me.
export AMENT_PREFIX_PATH="$PREFIX"
export PYTHONPATH="$SITE\${PYTHONPATH:+:\$PYTHONPATH}"
export LD_LIBRARY_PATH="$PREFIX/lib\${LD_LIBRARY_PATH:+:\$LD_LIBRARY_PATH}"
export RMW_IMPLEMENTATION=rmw_fastrtps_cpp
export ROS_DISTRO=jazzy ROS_VERSION=2 ROS_PYTHON_VERSION=3
# the ros_wheels_bootstrapper re-exec hook is not used: LD_LIBRARY_PATH is set here
export _ROS_WHEELS_BOOTSTRAP_COMPLETE=1
EOF
  echo "$stamp" >"$PREFIX/.installed"
  echo "[rosdev] installed in $((SECONDS - start)) s"
fi

# --- self-check (own env, so it does not depend on the caller's) ----------------------------
# shellcheck disable=SC1091
(
  . "$PREFIX/env.sh"
  ROS_LOG_DIR="${ROS_LOG_DIR:-$(mktemp -d)}" "$PY" - <<'EOF'
import numpy as np
import rclpy
from rclpy.serialization import deserialize_message, serialize_message
from tf2_msgs.msg import TFMessage
from geometry_msgs.msg import TransformStamped
from sensor_msgs.msg import PointCloud2, PointField
from nav_msgs.msg import OccupancyGrid  # noqa: F401
from visualization_msgs.msg import MarkerArray  # noqa: F401
from diagnostic_msgs.msg import DiagnosticArray  # noqa: F401
from std_srvs.srv import Trigger  # noqa: F401
from lifecycle_msgs.msg import State  # noqa: F401
from rosgraph_msgs.msg import Clock  # noqa: F401
from rcl_interfaces.msg import ParameterDescriptor  # noqa: F401
from ament_index_python.packages import get_package_share_directory

rclpy.init()
n = rclpy.create_node("rosdev_check")
t = TransformStamped()
t.header.frame_id, t.child_frame_id = "map", "cam0"
t.transform.translation.x = 1.5
m = TFMessage(transforms=[t])
r = deserialize_message(serialize_message(m), TFMessage)
assert r.transforms[0].transform.translation.x == 1.5 and r.transforms[0].child_frame_id == "cam0"
p = n.create_publisher(TFMessage, "/tf", 10)
p.publish(m)
pts = np.random.rand(1000, 3).astype(np.float32)
c = PointCloud2(height=1, width=1000, point_step=12, row_step=12000, is_dense=True,
                fields=[PointField(name=k, offset=4 * i, datatype=PointField.FLOAT32, count=1)
                        for i, k in enumerate("xyz")], data=pts.tobytes())
c2 = deserialize_message(serialize_message(c), PointCloud2)
assert bytes(c2.data) == pts.tobytes() and c2.fields[2].name == "z"
assert get_package_share_directory("tf2_msgs")
n.destroy_node()
rclpy.shutdown()
print("ros ok (rclpy, tf2_msgs, PointCloud2 round trip, rmw %s)"
      % __import__("rclpy.utilities").utilities.get_rmw_implementation_identifier())
EOF
)
echo "[rosdev] ready: . $PREFIX/env.sh"
