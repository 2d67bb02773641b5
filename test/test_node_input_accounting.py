"""Input accounting under load: 4 RGB-D cameras at 30 Hz into the node in another process.

Runs ``bench/node_inputs.py`` (the publisher numbers its messages through the DDS
sequence numbers; a plain BEST_EFFORT subscriber process listens beside the node):
the node must take at least 98 % of what the plain subscriber takes in the same run,
and received + lost + bad must account for every message sent.
"""

import os
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_node_takes_what_a_plain_subscriber_takes_and_accounts_for_every_message():
    out = subprocess.run(
        [sys.executable, str(ROOT / "bench" / "node_inputs.py"), "--seconds", "4"],
        cwd=ROOT, env=dict(os.environ), capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert out.returncode == 0, out.stderr[-3000:]
    text = out.stdout
    n = {k: int(v) for k, v in re.findall(r"(\w+)=(-?\d+)\b", text)}
    assert n["sent"] == 4 * 30 * 4 * 2, text
    assert n["node_received"] >= 0.98 * n["plain_subscriber"], text
    assert n["sent"] - n["node_received"] - n["node_lost"] - n["node_bad"] == 0, text
    assert n["windows"] >= 1, text
