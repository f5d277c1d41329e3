#!/usr/bin/env python3
"""Medians and same-run ratios from criterion's output (target/criterion), for docs/PERFORMANCE.md.

    python3 bench/summarize.py [target/criterion]
"""
import json
import sys
from pathlib import Path

root = Path(sys.argv[1] if len(sys.argv) > 1 else "target/criterion")


def median(*parts):
    p = root.joinpath(*parts, "new", "estimates.json")
    if not p.exists():
        return None
    return json.loads(p.read_text())["median"]["point_estimate"]  # ns


def fmt(ns):
    if ns is None:
        return "-"
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("µs", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def ratio(a, b):
    return "-" if a is None or b is None else f"{a / b:.2f}"


def params(group, function):
    d = root / group / function
    return sorted(p.name for p in d.iterdir() if (p / "new").exists()) if d.exists() else []


print("## save (target 3: store_save >= 0.9x bare_lz4 throughput)")
print("| heap | bare_lz4 | lz4 FrameEncoder | store_save | throughput ratio save/bare |")
print("|---|---|---|---|---|")
for heap in params("save", "store_save"):
    bare, enc, ours = (median("save", f, heap) for f in ("bare_lz4", "lz4_frame_encoder", "store_save"))
    print(f"| {heap} | {fmt(bare)} | {fmt(enc)} | {fmt(ours)} | {ratio(bare, ours)} |")

print("\n## load (target 4: store_load_into >= 0.9x bare_sha256 throughput)")
print("| heap | bare_sha256 | bare_lz4_decompress | store_load_into | store_blob_reader | ratio load_into/sha256 | ratio reader/sha256 |")
print("|---|---|---|---|---|---|---|")
for heap in params("load", "store_load_into"):
    sha, dec, into, reader = (median("load", f, heap) for f in
                              ("bare_sha256", "bare_lz4_decompress", "store_load_into", "store_blob_reader"))
    print(f"| {heap} | {fmt(sha)} | {fmt(dec)} | {fmt(into)} | {fmt(reader)} | {ratio(sha, into)} | {ratio(sha, reader)} |")

print("\n## gc (targets 1 and 2)")
print("| store | skip | mark | full pass | floor: dense scan | floor: scan + parse | mark / floor scan |")
print("|---|---|---|---|---|---|---|")
labels = params("gc", "mark")
for label in sorted(labels, key=lambda s: (int(s.split("vats")[0]), s)):
    skip, mark, full, scan, parse = (median("gc", f, label) for f in
                                     ("skip", "mark", "full", "floor_scan", "floor_scan_parse"))
    print(f"| {label} | {fmt(skip)} | {fmt(mark)} | {fmt(full)} | {fmt(scan)} | {fmt(parse)} | {ratio(mark, scan)} |")
for vats in sorted({l.split("vats")[0] for l in labels}, key=int):
    m0, m40 = median("gc", "mark", f"{vats}vats_0keys"), median("gc", "mark", f"{vats}vats_40keys")
    f0, f40 = median("gc", "full", f"{vats}vats_0keys"), median("gc", "full", f"{vats}vats_40keys")
    print(f"\n{vats} vats: mark with 40 keys/vat = {ratio(m40, m0)}x mark without (target <= 1.2); "
          f"full pass {ratio(f40, f0)}x")

print("\n## commit (target 7: store <= 1.5x bare sled)")
bare, ours = median("commit_1000", "bare_sled_batch_flush"), median("commit_1000", "store_set_commit")
print(f"bare sled apply_batch+flush {fmt(bare)}, store set x1000 + commit {fmt(ours)}: ratio {ratio(ours, bare)}")
