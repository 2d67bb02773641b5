#!/usr/bin/env python3
r"""Build a slim ROS 2 Jazzy runtime prefix for one Python version from ros-* wheels.

usage: build_bundle.py WHEEL_DIR PYVER OUT_DIR [--venv VENV] [--tf2-build DIR]

Writes OUT_DIR/ros-pyPYVER.tar.xz whose top-level dir ``ros`` is an install prefix:
  lib/                          every .so (ROS libs + auditwheel *.libs merged), deduped,
                                stripped; links.txt lists the symlinks install.sh recreates
  lib/pythonX.Y/site-packages/  Python packages (no __pycache__, no *-info, no _dummy)
  share/                        ament index + package shares (no cmake/)
  include/                      only the headers the tf2_msgs Python type support needs
  tf2_msgs_src/                 generated C sources/headers of tf2_msgs' Python pieces
  fallback/yaml                 pure-Python PyYAML, installed only if python lacks yaml

For the GPU machine (Python 3.12, no network; the device tool carries ignored folders):
  echo /.rosdev/ >> .git/info/exclude
  pip download --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
      --platform manylinux_2_28_x86_64 -d /tmp/whl312 $(pip list --format=freeze \
      | grep -i '^ros-' | cut -d= -f1 | grep -v 'cmake\|generator\|rosidl-cli\|adapter')
  python scripts/device_ros/build_bundle.py /tmp/whl312 3.12 .rosdev
  cp scripts/device_ros/install.sh .rosdev/
and on the device (carry .rosdev): bash .rosdev/install.sh /tmp/ros312 && . /tmp/ros312/env.sh
(needs the venv's tf2_msgs build tree, build/tf2_msgs, from scripts/build_tf2_msgs.sh).
"""

import argparse
import collections
import hashlib
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ap = argparse.ArgumentParser()
ap.add_argument("wheels")
ap.add_argument("pyver")
ap.add_argument("out")
REPO = Path(__file__).resolve().parents[2]
ap.add_argument("--venv", default=str(REPO / ".venv"))
ap.add_argument("--tf2-build", default=str(REPO / "build" / "tf2_msgs"))
ap.add_argument("--stage", default=None)
ap.add_argument("--no-strip", action="store_true")
a = ap.parse_args()

venv = Path(a.venv)
vsite = next((venv / "lib").glob("python3.*/site-packages"))
tf2b = Path(a.tf2_build)
stage = Path(a.stage or f"/tmp/rosdev_stage{a.pyver}")
if stage.exists():
    shutil.rmtree(stage)
P = stage / "ros"
site = P / "lib" / f"python{a.pyver}" / "site-packages"
lib = P / "lib"
site.mkdir(parents=True)
hdr_store = {}  # relpath under include/ -> bytes (from wheels)

# headers needed by the tf2_msgs Python sources (gcc -MM, see hdrs.txt)
need_hdrs = set()
HDRS = [ln.strip() for ln in (Path(__file__).parent / "hdrs.txt").read_text().splitlines()]
for line in HDRS:
    if line.startswith("include/"):
        need_hdrs.add(line.removeprefix("include/"))

vendored = {}
for whl in sorted(Path(a.wheels).glob("*.whl")):
    with zipfile.ZipFile(whl) as z:
        for info in z.infolist():
            n = info.filename
            if n.endswith("/"):
                continue
            parts = n.split("/")
            top = parts[0]
            if top.endswith(".dist-info"):
                continue
            if top.endswith(".data"):
                kind, rest = parts[1], parts[2:]
                if kind in ("purelib", "platlib"):
                    dest = site.joinpath(*rest)
                elif kind == "data":
                    dest = P.joinpath(*rest)
                else:  # scripts, headers
                    continue
            elif top.endswith(".libs"):
                name = parts[-1]
                data = z.read(info)
                if name in vendored and vendored[name] != hashlib.sha256(data).hexdigest():
                    sys.exit(f"conflicting vendored lib {name}")
                vendored[name] = hashlib.sha256(data).hexdigest()
                (lib / name).write_bytes(data)
                continue
            else:
                dest = site.joinpath(*parts)
            rel = dest.relative_to(P).as_posix()
            # --- filter ---------------------------------------------------------------
            if rel.startswith("include/"):
                r = rel[len("include/") :]
                if r in need_hdrs:
                    pass
                else:
                    continue
            if rel.startswith(("bin/", "tools/", "lib/cmake/", "src/")):
                continue
            if re.match(r"share/[^/]+/cmake/", rel) or rel.endswith((".a", ".pyc", ".cmake")):
                continue
            if "/__pycache__/" in rel or re.search(r"\.(egg|dist)-info/", rel):
                continue
            if re.search(r"/_dummy\.cpython-[^/]*\.so$", rel):
                continue
            if re.match(r"lib/[^/]+/(cmake|pkgconfig)/", rel) or "/pkgconfig/" in rel:
                continue
            dest.parent.mkdir(parents=True, exist_ok=True)
            dest.write_bytes(z.read(info))
            if info.external_attr >> 16 & 0o111:
                dest.chmod(0o755)

# packages the generated messages import but whose wheels are not in the set (pure Python)
extra_py = {
    "rosidl_generator_py": ["__init__.py", "import_type_support_impl.py"],
    "rosidl_parser": ["__init__.py", "definition.py"],
}
for pkg, files in extra_py.items():
    if not (site / pkg).exists():
        (site / pkg).mkdir()
        for f in files:
            shutil.copy2(vsite / pkg / f, site / pkg / f)
# fallback PyYAML (pure Python; C accel is optional in PyYAML)
fb = P / "fallback" / "yaml"
fb.mkdir(parents=True)
for f in (vsite / "yaml").glob("*.py"):
    shutil.copy2(f, fb / f.name)

# --- tf2_msgs ------------------------------------------------------------------------------
for f in (venv / "lib").glob("libtf2_msgs__rosidl_*.so"):
    if "generator_py" not in f.name:
        shutil.copy2(f, lib / f.name)
shutil.copytree(
    vsite / "tf2_msgs",
    site / "tf2_msgs",
    ignore=shutil.ignore_patterns("__pycache__", "*.so", "*.c"),
)
shutil.copytree(
    venv / "share" / "tf2_msgs", P / "share" / "tf2_msgs", ignore=shutil.ignore_patterns("cmake")
)
for idx in (venv / "share" / "ament_index" / "resource_index").glob("*/tf2_msgs"):
    d = P / idx.relative_to(venv)
    d.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(idx, d)
src = P / "tf2_msgs_src"
gp = tf2b / "rosidl_generator_py" / "tf2_msgs"
for f in list(gp.glob("*/_*_s.c")) + list(gp.glob("_tf2_msgs_s.ep.*.c")):
    d = src / "py" / f.relative_to(gp)
    d.parent.mkdir(parents=True, exist_ok=True)
    shutil.copy2(f, d)
for line in HDRS:
    if line.startswith("tf2_build/"):
        rel = line.removeprefix("tf2_build/")
        d = src / rel
        d.parent.mkdir(parents=True, exist_ok=True)
        shutil.copy2(tf2b / rel, d)
missing = [h for h in need_hdrs if not (P / "include" / h).exists()]
if missing:
    sys.exit(f"headers missing from wheels: {missing}")

# --- dedupe identical libs in lib/ ----------------------------------------------------------
groups = collections.defaultdict(list)
for f in lib.iterdir():
    if f.is_file():
        groups[hashlib.sha256(f.read_bytes()).hexdigest()].append(f.name)
links = []
for names in groups.values():
    if len(names) < 2:
        continue
    stems = {re.sub(r"\.so(\.[0-9.]+)?$", "", n) for n in names}
    if len(stems) != 1:
        print("identical but unrelated, kept:", names)
        continue
    keep = max(names, key=len)
    for n in names:
        if n != keep:
            (lib / n).unlink()
            links.append(f"{n} {keep}")
(lib / "links.txt").write_text("\n".join(sorted(links)) + "\n")

# --- strip ---------------------------------------------------------------------------------
if not a.no_strip and shutil.which("strip"):
    sos = [str(f) for f in P.rglob("*.so*") if f.is_file() and not f.name.endswith(".txt")]
    subprocess.run(["strip", "--strip-unneeded", *sos], check=True)

# --- archive -------------------------------------------------------------------------------
out = Path(a.out)
out.mkdir(parents=True, exist_ok=True)
arc = out / f"ros-py{a.pyver}.tar.xz"
subprocess.run(
    [
        "tar",
        "-C",
        str(stage),
        "--owner=0",
        "--group=0",
        "-cf",
        str(arc),
        "-I",
        "xz -9e -T0",
        "ros",
    ],
    check=True,
)
tot = sum(f.stat().st_size for f in P.rglob("*") if f.is_file())
print(
    f"{arc}: {arc.stat().st_size / 1e6:.2f} MB (unpacked {tot / 1e6:.1f} MB), {len(links)} links"
)
