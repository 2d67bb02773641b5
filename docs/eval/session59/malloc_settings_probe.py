"""Probe: glibc malloc settings against the CPU fast preset, each setting in its own process.

Session 59, 2-core EPYC. ``MODE``: none (glibc's defaults), nommap (M_MMAP_MAX 0 and a
1 GiB trim threshold: what ``model/cpu_memory.py`` ships), thr32 (a fixed 32 MB mmap
threshold and the trim threshold), pad512 (M_TOP_PAD 512 MB), trim (the trim threshold
alone). Three windows after one warm-up; prints wall, user and system seconds, minor
page faults and the peak resident memory. ``--long`` instead runs three rounds of mixed
windows (1 / 2 / 4 views, 4,096 / 16,384 points) and prints the resident memory after each.

Usage: PYTHONPATH=.:bench python docs/eval/session59/malloc_settings_probe.py MODE
           [--long] [VIEWS POINTS STEPS]
Output: ``malloc_settings_epyc.txt``, ``malloc_long_epyc.txt``.
"""

from __future__ import annotations

import ctypes
import resource
import sys
import time

M_TRIM_THRESHOLD, M_TOP_PAD, M_MMAP_THRESHOLD, M_MMAP_MAX = -1, -2, -3, -4
SETTINGS = {
    "none": [],
    "nommap": [(M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, 1 << 30)],
    "thr32": [(M_MMAP_THRESHOLD, 32 << 20), (M_TRIM_THRESHOLD, 1 << 30)],
    "pad512": [(M_TOP_PAD, 512 << 20)],
    "trim": [(M_TRIM_THRESHOLD, 1 << 30)],
}


def main() -> None:
    """Apply the setting first, then import torch and time the windows."""
    mode, args = sys.argv[1], [a for a in sys.argv[2:] if a != "--long"]
    libc = ctypes.CDLL("libc.so.6")
    ok = [libc.mallopt(k, ctypes.c_int(v)) for k, v in SETTINGS[mode]]
    import torch
    from model import make_window

    from nova3r_ros.model.checkpoint import load_checkpoint
    from nova3r_ros.model.inference import InferenceConfig, infer

    model = load_checkpoint("nova3r_ros/model/checkpoints/base").eval()
    cpu = torch.device("cpu")
    if "--long" in sys.argv:
        windows = {v: make_window(v, cpu, v) for v in (1, 2, 4)}
        cases = [(1, 4096, 2), (2, 16384, 1), (4, 4096, 2), (2, 4096, 2), (4, 16384, 1)]
        cases.append((1, 16384, 1))
        total = 0.0
        for rnd in range(3):
            for v, n, s in cases:
                t = time.perf_counter()
                infer(model, windows[v], InferenceConfig(n, s, "euler"))
                total += time.perf_counter() - t
            with open("/proc/self/statm") as f:
                rss = int(f.read().split()[1]) * 4096 >> 20
            r = resource.getrusage(resource.RUSAGE_SELF)
            print(f"{mode} round {rnd}: rss {rss} MB maxrss {r.ru_maxrss >> 10} MB minflt "
                  f"{r.ru_minflt} sys {r.ru_stime:.1f} infer total {total:.1f} s")  # fmt: skip
        return
    v, n, s = (int(a) for a in (args or ["2", "4096", "6"]))
    window, cfg = make_window(v, cpu, 0), InferenceConfig(n, s, "euler")
    infer(model, window, cfg)
    for _ in range(3):
        r0, t0 = resource.getrusage(resource.RUSAGE_SELF), time.perf_counter()
        infer(model, window, cfg)
        t1, r1 = time.perf_counter(), resource.getrusage(resource.RUSAGE_SELF)
        print(f"{mode} {ok} {v}v: wall {(t1 - t0) * 1e3:.0f} ms user "
              f"{r1.ru_utime - r0.ru_utime:.2f} sys {r1.ru_stime - r0.ru_stime:.2f} minflt "
              f"{r1.ru_minflt - r0.ru_minflt} maxrss {r1.ru_maxrss >> 10} MB")  # fmt: skip


if __name__ == "__main__":
    main()
