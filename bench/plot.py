"""Wall time against the number of printers: link-sync, link-sync 0.2.5, the limit.

    python bench/plot.py bench/results/sweep.json bench/results/sweep.png

Needs matplotlib (the `bench` extra); `farm_bench.py report` runs it in a venv that has it.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt


def main() -> None:
    source, target = Path(sys.argv[1]), Path(sys.argv[2])
    doc = json.loads(source.read_text())
    points = doc["points"]
    params = doc["params"]
    n = [p["printers"] for p in points]
    mine = [p["link_sync"]["wall"] for p in points]
    limit = [p["link_sync"]["limit"] for p in points]
    orig = [(p["printers"], p["original"]["wall"]) for p in points if p.get("original")]
    fig, ax = plt.subplots(figsize=(6.4, 4.0), dpi=100)
    if orig:
        ax.plot(*zip(*orig, strict=True), "s-", color="tab:red", label="link-sync 0.2.5")
    ax.plot(n, mine, "o-", color="tab:blue", label="link-sync (this repo)")
    ax.plot(n, limit, "--", color="gray", label="physical limit")
    ax.set_xlabel("printers")
    ax.set_ylabel("wall time (s)")
    mb = params["bytes_per_printer"] / 1e6
    ax.set_title(
        f"{mb:g} MB of new files per printer at {params['rate'] / 1e6:g} MB/s, "
        f"{params['latency_ms']:g} ms latency",
        fontsize=10,
    )
    ax.set_ylim(bottom=0)
    ax.set_xlim(left=0)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    fig.savefig(target)
    print(f"wrote {target}")


if __name__ == "__main__":
    main()
