"""The built package carries the shipped checkpoint (a wheel, as colcon/pip would install it)."""

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CHECKPOINT = ROOT / "nova3r_ros" / "model" / "checkpoints" / "base"


def test_wheel_ships_the_checkpoint(tmp_path):
    src = tmp_path / "src"  # a copy: a stale build/ in the checkout must not hide a bad glob
    skip = shutil.ignore_patterns(".git", ".venv", "build", "install", "log", "*.egg-info",
                                  ".device_data", "out", "__pycache__", ".*_cache")  # fmt: skip
    shutil.copytree(ROOT, src, ignore=skip)
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", str(src), "--no-deps", "--no-build-isolation",
         "-q", "-w", str(tmp_path)],
        check=True, capture_output=True, timeout=300,
    )  # fmt: skip
    (wheel,) = tmp_path.glob("nova3r_ros-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    shipped = {p.name for p in CHECKPOINT.iterdir() if p.suffix in (".json", ".safetensors")}
    assert "config.json" in shipped and any(n.endswith(".safetensors") for n in shipped)
    for name in shipped:
        assert f"nova3r_ros/model/checkpoints/base/{name}" in names, name


def test_the_packaged_checkpoint_keeps_the_weight_budget():
    """Each file under 16 MiB (what a device call can bring back), 32 MiB in all."""
    files = [p for p in CHECKPOINT.iterdir() if p.is_file()]
    sizes = {p.name: p.stat().st_size for p in files}
    assert all(n < 16 * 2**20 for n in sizes.values()), sizes
    assert sum(sizes.values()) <= 32 * 2**20, sum(sizes.values())
