#!/usr/bin/env python3
"""Lists the public items of the app-metrics facade, one `kind path` per line, from the
rustdoc `all.html` index: `python3 .ci/public_items.py` (builds the docs first).

Rerun it to see what a change adds to or removes from the public API."""

import os
import re
import subprocess
import sys

target = os.environ.get("CARGO_TARGET_DIR", "target")
subprocess.run(
    ["cargo", "doc", "-p", "app-metrics", "--all-features", "--no-deps", "-q"],
    check=True,
)
index = open(os.path.join(target, "doc", "app_metrics", "all.html"), encoding="utf-8").read()
items = set()
for href, name in re.findall(r'<li><a href="([^"]+)">([^<]+)</a></li>', index):
    kind = href.rsplit("/", 1)[-1].split(".", 1)[0]
    items.add((f"app_metrics::{name}", kind))
for path, kind in sorted(items):
    print(f"{kind:10} {path}")
print(f"{len(items)} items", file=sys.stderr)
