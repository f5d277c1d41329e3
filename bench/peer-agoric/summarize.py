#!/usr/bin/env python3
"""Medians and ratios of bench/peer-agoric/run.sh results (peer.jsonl, snapgc.jsonl)."""
import json
import statistics
import sys
from pathlib import Path

out = Path(sys.argv[1])
rows = {name: [json.loads(l) for l in (out / f"{name}.jsonl").read_text().splitlines() if l.strip()]
        for name in ("peer", "snapgc")}
med = lambda name, f: statistics.median(f(r) for r in rows[name])
metrics = [
    ("save MB/s (raw bytes, durable)", lambda r: r["save"]["MBps"], True),
    ("load MB/s (verified)", lambda r: r["load"]["MBps"], True),
    ("save phase ms", lambda r: r["save"]["wall_ms"], False),
    ("load phase ms", lambda r: r["load"]["wall_ms"], False),
    ("whole process ms", lambda r: r["process_wall_ms"], False),
]
print(f"runs: peer {len(rows['peer'])}, snapgc {len(rows['snapgc'])}  ({out})")
print(f"| metric | peer (median) | snapgc (median) | snapgc advantage |")
print(f"|---|---|---|---|")
for label, f, higher_better in metrics:
    p, s = med("peer", f), med("snapgc", f)
    ratio = (s / p) if higher_better else (p / s)
    print(f"| {label} | {p:.1f} | {s:.1f} | {ratio:.1f}x |")
