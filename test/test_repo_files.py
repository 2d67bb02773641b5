"""Repository hygiene: LICENSE matches package.xml; checkpoints hold no machine paths.

The checkpoint's config.json records how it was trained; paths of the training machine
(its output folder, its mesh folder) must not be in it.
"""

import json
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _strings(node):
    if isinstance(node, dict):
        for v in node.values():
            yield from _strings(v)
    elif isinstance(node, list):
        for v in node:
            yield from _strings(v)
    elif isinstance(node, str):
        yield node


def test_license_is_apache_2_as_package_xml_says():
    assert "<license>Apache-2.0</license>" in (ROOT / "package.xml").read_text()
    text = (ROOT / "LICENSE").read_text()
    assert "Apache License" in text and "Version 2.0, January 2004" in text
    assert "END OF TERMS AND CONDITIONS" in text


def test_checkpoint_configs_hold_no_machine_paths():
    configs = sorted((ROOT / "nova3r_ros" / "model" / "checkpoints").glob("*/config.json"))
    assert configs
    for path in configs:
        for s in _strings(json.loads(path.read_text())):
            assert not re.match(r"^(/|~|[A-Za-z]:\\)", s), f"{path}: {s!r}"
            assert ".device_data" not in s and "/root/" not in s and "/home/" not in s, s
