"""Time loading a PBX configuration of 10,000 DIDs from YAML.

Usage: ``python bench/bench_config.py [--quick] [--check]``

The example PBX plus 10,000 DIDs, each a line ``"+1646xxxxxxx": {destination: ..., name:
...}`` cycling through the example's destinations, written to a temporary YAML file. Timed:
``load_pbx(path)`` (read, parse, check every field and reference, freeze), with PyYAML's C
loader when libyaml is installed (the default) and with the pure-Python one for comparison,
and the checking alone (``load_pbx`` of the parsed mapping). In one process, interleaved (best
repeat; see ``_timing.py``). Target: the file loads in under 0.5 s.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path
from typing import Any

import yaml
from _timing import REPEAT, interleaved

from flows.routing import EXAMPLE_PBX, load_pbx

DIDS = 10_000
TARGET = 0.5  # seconds to load the file
DESTINATIONS = (
    "business_hours/main", "ivr_menu/main", "ring_group/sales", "extension/1001",
    "ai_assistant/receptionist", "ai_load_balancer/agents", "hangup",
)  # fmt: skip


def _config_text() -> str:
    """The example PBX's YAML with ``DIDS`` more numbers under ``dids``."""
    lines = [
        f'  "+1646{i:07d}": {{destination: {DESTINATIONS[i % len(DESTINATIONS)]}, '
        f'name: "Line {i}"}}'
        for i in range(DIDS)
    ]
    text = EXAMPLE_PBX.read_text(encoding="utf-8")
    head, marker, tail = text.partition("dids:\n")
    assert marker, "the example PBX has a dids section"
    return head + marker + "\n".join(lines) + "\n" + tail


def _pure_python(path: Path) -> Any:
    """What `load_pbx` does without libyaml: the same, parsed by the pure-Python loader."""
    return load_pbx(yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="fewer repeats, rough figures")
    parser.add_argument("--check", action="store_true", help="exit 1 if the target is missed")
    args = parser.parse_args(argv)
    repeat = 3 if args.quick else REPEAT

    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "pbx.yaml"
        path.write_text(_config_text(), encoding="utf-8")
        data = yaml.load(path.read_text(encoding="utf-8"), Loader=yaml.SafeLoader)
        pbx = load_pbx(path)
        assert len(pbx.dids) == DIDS + len(load_pbx(EXAMPLE_PBX).dids)
        assert load_pbx(data) == pbx
        size = path.stat().st_size
        loaded, pure, checked = interleaved(
            [lambda: load_pbx(path), lambda: _pure_python(path), lambda: load_pbx(data)],
            loops=1,
            repeat=repeat,
        )

    c_loader = hasattr(yaml, "CSafeLoader")
    print(f"{DIDS:,} DIDs, {size / 1e6:.1f} MB of YAML; libyaml: {'yes' if c_loader else 'no'}")
    print(f"timeit: {repeat} repeats (round-robin) x 1 loop; best (median)\n")
    print("| step | s |\n|---|---:|")
    print(f"| load_pbx(path) | {loaded.best:.3f} ({loaded.median:.3f}) |")
    print(f"| the same with the pure-Python YAML loader | {pure.best:.3f} ({pure.median:.3f}) |")
    print(f"| checking only: load_pbx(mapping) | {checked.best:.3f} ({checked.median:.3f}) |")
    met = loaded.best < TARGET
    print(f"\ntarget: load_pbx(path) < {TARGET} s: {'met' if met else 'MISSED'}")
    return 1 if args.check and not met else 0


if __name__ == "__main__":
    sys.exit(main())
