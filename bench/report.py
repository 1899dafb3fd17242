"""bench/results/*.json -> bench/results/RESULTS.md (the tables docs/performance.md shows)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any


def _load(results: Path, name: str) -> dict[str, Any] | None:
    path = results / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def _verdict(ok: bool) -> str:
    return "met" if ok else "**missed**"


def _requests(reqs: dict[str, dict[str, float]]) -> str:
    """'list 21, stat 0, ...': median per printer of each kind."""
    kinds = [k for k in reqs if k != "total"]
    shown = ", ".join(f"{k} {reqs[k]['median']:g}" for k in kinds)
    total = reqs.get("total", {}).get("median", 0)
    return f"{total:g} ({shown})"


def targets_table(results: Path) -> list[str]:
    rows = ["| # | scenario | measured (median) | target | |", "|---|---|---|---|---|"]
    t = _load(results, "transfer")
    if t:
        ls, p = t["link_sync"], t["params"]
        ratio = ls["wall"] / ls["limit"]
        orig = t["original"]
        how = "measured" if orig["measured_at_n"] else "fitted on fewer printers"
        rows.append(
            f"| 1 | {p['printers']} printers × {p['bytes_per_printer'] / 1e6:g} MB new, "
            f"{p['rate'] / 1e6:g} MB/s, {p['latency_ms']:g} ms | wall {ls['wall']:.2f} s = "
            f"{ratio:.3f} × limit ({ls['limit']:.2f} s) | ≤ 1.10 × limit "
            f"| {_verdict(ratio <= 1.10)} |"
        )
        rows.append(
            f"| 1 | same, against link-sync 0.2.5 | {t['speedup']:.1f}× faster "
            f"(0.2.5: {orig['wall_at_n']:.0f} s, {how}) | ≥ 15× | {_verdict(t['speedup'] >= 15)} |"
        )
    m = _load(results, "many")
    if m:
        ls, p = m["link_sync"], m["params"]
        rows.append(
            f"| 2 | {p['printers']} printers × {p['bytes_per_printer'] / 1e3:g} KB, "
            f"{p['rate'] / 1e6:g} MB/s | wall {ls['wall']:.2f} s | ≤ 6 s "
            f"| {_verdict(ls['wall'] <= 6)} |"
        )
        per = ls["cpu_per_printer_ms"]
        rows.append(
            f"| 2 | same, client CPU | {ls['cpu']:.2f} s = {per:.1f} ms per printer "
            f"| ≤ 10 ms | {_verdict(per <= 10)} |"
        )
    s = _load(results, "insync")
    if s:
        ls, p = s["link_sync"], s["params"]
        reqs = ls["requests_per_printer"]
        lists = reqs.get("list", {}).get("median", 0)
        per_file = sum(reqs.get(k, {}).get("median", 0) for k in ("stat", "upload", "delete"))
        rows.append(
            f"| 3 | {p['printers']} printers × {p['files']:,} files in {p['folders']} folders, "
            f"in sync, {p['latency_ms']:g} ms | wall {ls['wall']:.2f} s | ≤ 3 s "
            f"| {_verdict(ls['wall'] <= 3)} |"
        )
        rows.append(
            f"| 3 | same, requests per printer | {lists:g} listings, {per_file:g} per-file "
            f"| ~{p['folders'] + 1} listings, 0 per-file "
            f"| {_verdict(per_file == 0 and lists <= p['folders'] + 1)} |"
        )
    b = _load(results, "bigfile")
    if b:
        ls, p = b["link_sync"], b["params"]
        rows.append(
            f"| 4 | {p['bytes'] / 1e9:g} GB file to {p['printers']} printers | client peak RSS "
            f"{ls['max_rss_mb']:.0f} MB | ≤ 150 MB | {_verdict(ls['max_rss_mb'] <= 150)} |"
        )
    pl = _load(results, "plan")
    if pl:
        total = pl["total_rerun_cpu"]
        rows.append(
            f"| 5 | scan + plan {pl['params']['files']:,} files vs "
            f"{pl['params']['remote_entries']:,} entries | {total:.2f} s CPU (worst case "
            f"{pl['total_worst_cpu']:.2f} s) | ≤ 2 s | {_verdict(total <= 2)} |"
        )
    return rows


def details(results: Path) -> list[str]:
    out: list[str] = []
    rows = [
        "| scenario | wall | limit | efficiency | client CPU | client RSS | emulator CPU "
        "| requests per printer (median) |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name in ("transfer", "many", "insync", "bigfile"):
        doc = _load(results, name)
        if not doc:
            continue
        ls = doc["link_sync"]
        limit = f"{ls['limit']:.2f} s" if ls["limit"] else "– (unthrottled)"
        efficiency = f"{ls['efficiency']:.1%}" if ls["limit"] else "–"
        rows.append(
            f"| {name} | {ls['wall']:.2f} s | {limit} | {efficiency} "
            f"| {ls['cpu']:.2f} s | {ls['max_rss_mb']:.0f} MB | {ls['emulator_cpu']:.2f} s "
            f"| {_requests(ls['requests_per_printer'])} |"
        )
    out += rows
    sweep = _load(results, "sweep")
    if sweep:
        out += [
            "",
            f"Sweep ({sweep['params']['bytes_per_printer'] / 1e6:g} MB per printer at "
            f"{sweep['params']['rate'] / 1e6:g} MB/s, {sweep['params']['latency_ms']:g} ms):",
            "",
            "| printers | limit | link-sync | 0.2.5 | speed-up |",
            "|---|---|---|---|---|",
        ]
        for point in sweep["points"]:
            ls, orig = point["link_sync"], point.get("original")
            theirs = f"{orig['wall']:.1f} s" if orig else "–"
            ratio = f"{orig['wall'] / ls['wall']:.1f}×" if orig else "–"
            out.append(
                f"| {point['printers']} | {ls['limit']:.2f} s | {ls['wall']:.2f} s | {theirs} "
                f"| {ratio} |"
            )
    return out


def write_report(results: Path, root: Path) -> Path:
    lines = ["# Benchmark results", "", *targets_table(results), "", *details(results), ""]
    target = results / "RESULTS.md"
    target.write_text("\n".join(lines))
    print(f"wrote {target.relative_to(root)}")
    return target
