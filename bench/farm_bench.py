"""Farm benchmarks: link-sync against the physical limit and against link-sync 0.2.5.

Every scenario starts an emulated farm in separate processes (bench/farm_server.py,
the `link-sync emulate` farm plus a request count), builds a master folder, runs
`link-sync sync --json` as a child process with its own LINK_SYNC_STATE_DIR, and
records wall time, the child's CPU time and peak RSS (from wait4's rusage), and the
requests each printer answered by kind. Results go to bench/results/<scenario>.json;
`report` turns them into bench/results/RESULTS.md and bench/results/sweep.png.

    python bench/farm_bench.py transfer      # target 1: 40 printers x 20 MB at 1 MB/s
    python bench/farm_bench.py sweep         # the plot: N printers x 5 MB, both tools
    python bench/farm_bench.py many          # target 2: 500 printers x 200 KB
    python bench/farm_bench.py insync        # target 3: 50 printers x 1,000 files in sync
    python bench/farm_bench.py bigfile       # target 4: 2 GB to 8 printers, peak RSS
    python bench/farm_bench.py plan          # target 5: scan + plan of 100,000 files
    python bench/farm_bench.py report        # RESULTS.md and the plot from the JSON files
    python bench/farm_bench.py all           # all of the above, in turn (~20 minutes)

The original link-sync 0.2.5 is installed from PyPI into
~/.cache/link-sync-bench/original-0.2.5 on first use.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
RESULTS = BENCH / "results"
CACHE = Path.home() / ".cache" / "link-sync-bench"
ORIGINAL_VENV = CACHE / "original-0.2.5"
TOOLS_VENV = CACHE / "tools"  # matplotlib, py-spy, pyinstrument
VENV_BIN = ROOT / ".venv" / "bin"
PASSWORD = "maker-pass"
MB = 1_000_000  # rates are decimal (1M = 1,000,000 B/s), so sizes are too


# ----------------------------------------------------------------------------- processes


@dataclass
class ChildRun:
    """One finished child process, measured."""

    wall: float
    cpu_user: float
    cpu_sys: float
    max_rss_mb: float
    returncode: int
    stdout: str
    stderr: str

    @property
    def cpu(self) -> float:
        return self.cpu_user + self.cpu_sys


def run_child(
    cmd: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    cwd: Path | None = None,
    timeout: float,
) -> ChildRun:
    """Run `cmd`, wait for it with wait4 (its own rusage), kill it after `timeout` s."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, env=env, cwd=cwd)
        timer = threading.Timer(timeout, proc.kill)
        timer.start()
        try:
            _, status, usage = os.wait4(proc.pid, 0)
        finally:
            timer.cancel()
        wall = time.perf_counter() - started
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        return ChildRun(
            wall=wall,
            cpu_user=usage.ru_utime,
            cpu_sys=usage.ru_stime,
            max_rss_mb=usage.ru_maxrss / 1024,  # KiB on Linux
            returncode=proc.returncode,
            stdout=out.read().decode(errors="replace"),
            stderr=err.read().decode(errors="replace"),
        )


class Farm:
    """N emulated printers served by `shards` bench/farm_server.py processes."""

    def __init__(
        self,
        printers: int,
        *,
        rate: int,
        latency_ms: float,
        workdir: Path,
        shards: int = 1,
        preload: dict[str, int] | None = None,
        on_disk: bool = False,
    ) -> None:
        self.printers = printers
        self.workdir = workdir
        self.procs: list[subprocess.Popen[str]] = []
        self.stats_files: list[Path] = []
        self.urls: dict[str, str] = {}
        self._snapshots = 0
        preload_file: Path | None = None
        if preload:
            preload_file = workdir / "preload.json"
            preload_file.write_text(json.dumps(preload))
        per_shard = [printers // shards + (i < printers % shards) for i in range(shards)]
        for shard, count in enumerate(per_shard):
            if not count:
                continue
            stats = workdir / f"farm-stats-{shard}.json"
            cmd = [
                str(VENV_BIN / "python"), str(BENCH / "farm_server.py"),
                "--printers", str(count), "--prefix", f"mk4-{shard}-",
                "--rate", str(rate), "--latency", str(latency_ms),
                "--password", PASSWORD, "--stats-out", str(stats),
            ]  # fmt: skip
            if preload_file is not None:
                cmd += ["--preload", str(preload_file)]
            if on_disk:
                cmd += ["--storage-dir", str(workdir / f"storage-{shard}")]
            self.procs.append(subprocess.Popen(cmd, stdout=subprocess.PIPE, text=True))
            self.stats_files.append(stats)
        try:
            for proc, count in zip(self.procs, [c for c in per_shard if c], strict=True):
                for line in _read_lines(proc, count, timeout=120):
                    name, url, _profile = line.split()
                    self.urls[name] = url
        except BaseException:
            self.stop()
            raise

    def link_sync_config(self, path: Path) -> Path:
        lines = ["printers:"]
        for name, url in self.urls.items():
            lines += [f"  {name}:", f"    host: {url}", "    username: maker"]
            lines += [f"    password: {PASSWORD}"]
        path.write_text("\n".join(lines) + "\n")
        return path

    def original_config(self, path: Path) -> Path:
        """The original's printers.yml (all four keys required, host with the scheme)."""
        lines = []
        for name, url in self.urls.items():
            lines += [f"{name}:", "  printer_type: MK4", f"  host: {url}", "  username: maker"]
            lines += [f"  password: {PASSWORD}"]
        path.write_text("\n".join(lines) + "\n")
        return path

    def snapshot(self) -> dict[str, Any]:
        """Request counts so far (SIGUSR1 to every shard, then read what they wrote)."""
        self._snapshots += 1
        for proc in self.procs:
            proc.send_signal(signal.SIGUSR1)
        deadline = time.monotonic() + 30
        reports = []
        for stats in self.stats_files:
            while True:
                with contextlib.suppress(OSError, ValueError):
                    report = json.loads(stats.read_text())
                    if report.get("snapshot") == self._snapshots:
                        reports.append(report)
                        break
                if time.monotonic() > deadline:
                    raise TimeoutError(f"no request counts from the farm in {stats}")
                time.sleep(0.02)
        return _merge(reports)

    def stop(self) -> dict[str, Any]:
        """Stop every shard (by PID) and return the merged request counts."""
        for proc in self.procs:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
        reports = []
        for proc, stats in zip(self.procs, self.stats_files, strict=True):
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(timeout=10)
            if proc.stdout is not None:
                proc.stdout.close()
            with contextlib.suppress(OSError, ValueError):
                reports.append(json.loads(stats.read_text()))
        self.procs = []
        return _merge(reports)

    def __enter__(self) -> Farm:
        return self

    def __exit__(self, *exc: object) -> None:
        if self.procs:
            self.stop()


def _read_lines(proc: subprocess.Popen[str], count: int, timeout: float) -> list[str]:
    """`count` ready lines from the farm, or TimeoutError / RuntimeError."""
    lines: list[str] = []

    def read() -> None:
        assert proc.stdout is not None
        while len(lines) < count:
            line = proc.stdout.readline()
            if not line:
                return
            lines.append(line)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    reader.join(timeout)
    if len(lines) < count:
        raise RuntimeError(f"farm: {len(lines)} of {count} printers ready after {timeout} s")
    return lines


def _merge(reports: list[dict[str, Any]]) -> dict[str, Any]:
    printers: dict[str, dict[str, int]] = {}
    for report in reports:
        printers.update(report.get("printers", {}))
    return {
        "cpu_seconds": sum(r.get("cpu_seconds", 0.0) for r in reports),
        "max_rss_mb": max((r.get("max_rss_kb", 0) / 1024 for r in reports), default=0.0),
        "printers": printers,
    }


def requests_delta(before: dict[str, Any], after: dict[str, Any]) -> dict[str, dict[str, int]]:
    out: dict[str, dict[str, int]] = {}
    for name, kinds in after["printers"].items():
        old = before["printers"].get(name, {})
        diff = {k: v - old.get(k, 0) for k, v in kinds.items() if v - old.get(k, 0)}
        out[name] = diff
    return out


def per_printer(requests: dict[str, dict[str, int]]) -> dict[str, dict[str, float]]:
    """For each request kind: min, median and max over printers of its count."""
    kinds = sorted({k for counts in requests.values() for k in counts})
    out: dict[str, dict[str, float]] = {}
    for kind in kinds:
        values = [counts.get(kind, 0) for counts in requests.values()]
        out[kind] = {
            "min": min(values),
            "median": statistics.median(values),
            "max": max(values),
        }
    out["total"] = {
        "min": min((sum(c.values()) for c in requests.values()), default=0),
        "median": statistics.median([sum(c.values()) for c in requests.values()] or [0]),
        "max": max((sum(c.values()) for c in requests.values()), default=0),
    }
    return out


# ----------------------------------------------------------------------------- tools


def link_sync_exe() -> str:
    # The bytecode an installed link-sync has (see startup_bench.compile_package).
    from startup_bench import compile_package

    compile_package()
    return str(VENV_BIN / "link-sync")


def original_exe() -> str:
    """link-sync 0.2.5 from PyPI, installed once into a cached throwaway venv."""
    exe = ORIGINAL_VENV / "bin" / "link-sync"
    if not exe.exists():
        print(f"installing link-sync 0.2.5 into {ORIGINAL_VENV} ...", file=sys.stderr)
        ORIGINAL_VENV.parent.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-m", "venv", str(ORIGINAL_VENV)], check=True, timeout=300)
        pip = str(ORIGINAL_VENV / "bin" / "pip")
        subprocess.run([pip, "install", "-q", "link-sync==0.2.5"], check=True, timeout=900)
    return str(exe)


def tools_python() -> str:
    """A venv with matplotlib (the `bench` extra), py-spy and pyinstrument."""
    python = TOOLS_VENV / "bin" / "python"
    if not (TOOLS_VENV / "bin" / "py-spy").exists():
        print(f"installing matplotlib, py-spy, pyinstrument into {TOOLS_VENV} ...", file=sys.stderr)
        subprocess.run([sys.executable, "-m", "venv", str(TOOLS_VENV)], check=True, timeout=300)
        pip = str(TOOLS_VENV / "bin" / "pip")
        packages = ["matplotlib>=3.8", "py-spy", "pyinstrument"]
        subprocess.run([pip, "install", "-q", *packages], check=True, timeout=900)
    return str(python)


# ----------------------------------------------------------------------------- master folders

_BLOCK = (b"G1 X10.000 Y10.000 E0.4 F3000\nG1 X20.000 Y20.000 E0.8\n" * 20000)[: 1 << 20]


def write_file(path: Path, size: int, tag: str) -> None:
    """`size` bytes of G-code-like text, distinct per `tag`, written 1 MiB at a time."""
    path.parent.mkdir(parents=True, exist_ok=True)
    head = f"; link-sync bench {tag}\n".encode()
    with path.open("wb") as out:
        out.write(head[:size])
        left = size - min(len(head), size)
        while left > 0:
            out.write(_BLOCK[: min(left, len(_BLOCK))])
            left -= min(left, len(_BLOCK))


def build_master(root: Path, files: dict[str, int]) -> Path:
    for rel, size in files.items():
        write_file(root / rel, size, rel)
    # older than any printer's copy, so an identical file is never "newer in master"
    old = time.time() - 3600
    for rel in files:
        os.utime(root / rel, (old, old))
    return root


# ----------------------------------------------------------------------------- one sync


@dataclass
class SyncRun:
    tool: str  # "link-sync" or "original-0.2.5"
    printers: int
    wall: float
    cpu: float
    max_rss_mb: float
    ok: bool
    limit: float
    emulator_cpu: float = 0.0
    requests: dict[str, dict[str, float]] = field(default_factory=dict)
    note: str = ""
    #: 1-minute load average when the run began (other work on the machine)
    load: float = field(default_factory=lambda: os.getloadavg()[0])

    @property
    def efficiency(self) -> float:
        return self.limit / self.wall if self.wall else 0.0


def run_link_sync(
    farm: Farm,
    master: Path,
    workdir: Path,
    *,
    state: Path,
    expect_uploads: int | None,
    timeout: float,
    profile: str | None = None,
) -> tuple[ChildRun, bool, str]:
    config = farm.link_sync_config(workdir / "link-sync.yml")
    env = {**os.environ, "LINK_SYNC_STATE_DIR": str(state)}
    cmd = [link_sync_exe(), "sync", "-c", str(config), "-s", str(master), "--json"]
    if profile:
        spy = str(Path(tools_python()).parent / "py-spy")
        cmd = [spy, "record", "-r", "250", "-f", "raw", "-o", profile, "--", *cmd]
    run = run_child(cmd, env=env, cwd=workdir, timeout=timeout)
    ok, note = run.returncode == 0, ""
    try:
        doc = json.loads(run.stdout)
        uploaded = doc["totals"]["uploaded"] + doc["totals"]["replaced"]
        ok = ok and doc["ok"] and (expect_uploads is None or uploaded == expect_uploads)
        note = f"uploaded {uploaded}"
        bad = [p for p in doc["printers"] if p["status"] != "synced"]
        if bad:
            note += f"; {len(bad)} printer(s) not synced, e.g. {bad[0]['name']}: {bad[0]['error']}"
    except (ValueError, KeyError, TypeError):
        ok, note = False, f"exit {run.returncode}: {run.stderr[-400:]}"
    return run, ok, note


def run_original(farm: Farm, master: Path, workdir: Path, *, timeout: float) -> ChildRun:
    config = farm.original_config(workdir / "printers.yml")
    cmd = [original_exe(), "-c", str(config), "-s", str(master), "-d", "/usb/", "-g"]
    return run_child(cmd, cwd=workdir, timeout=timeout)


def work_root() -> Path:
    """Where a run's master and state folder live: under the home folder, as a user's
    do. (This sandbox's /tmp is ~20x slower at creating files, which a run's journal
    and its 500 printer locks would pay as system CPU.)"""
    root = Path.home() / ".cache" / "link-sync-bench" / "work"
    root.mkdir(parents=True, exist_ok=True)
    return root


def upload_limit(bytes_per_printer: int, rate: int, requests: int, latency_ms: float) -> float:
    """The physical floor of one printer: its bytes at its rate, plus one latency per
    request that cannot be avoided (one status read, one listing per existing folder,
    one PUT per file); printers run in parallel, so the farm's floor is the slowest's."""
    return (bytes_per_printer / rate if rate else 0.0) + requests * latency_ms / 1000


def measure_transfer(
    *,
    tool: str,
    printers: int,
    files: dict[str, int],
    rate: int,
    latency_ms: float,
    shards: int,
    timeout: float,
    profile: str | None = None,
) -> SyncRun:
    """One fresh farm, one fresh state folder, one sync of `files` to every printer."""
    with tempfile.TemporaryDirectory(prefix="ls-bench-", dir=work_root()) as tmp:
        work = Path(tmp)
        master = build_master(work / "master", files)
        total = sum(files.values())
        limit = upload_limit(total, rate, 2 + len(files), latency_ms)
        with Farm(printers, rate=rate, latency_ms=latency_ms, workdir=work, shards=shards) as farm:
            if tool == "link-sync":
                run, ok, note = run_link_sync(
                    farm,
                    master,
                    work,
                    state=work / "state",
                    expect_uploads=printers * len(files),
                    timeout=timeout,
                    profile=profile,
                )
            else:
                run = run_original(farm, master, work, timeout=timeout)
                ok, note = run.returncode == 0, ""
            stats = farm.stop()
        reqs = stats["printers"]
        if tool != "link-sync":
            uploads = sum(c.get("upload", 0) for c in reqs.values())
            ok = ok and uploads == printers * len(files)
            note = f"uploaded {uploads}"
        result = SyncRun(
            tool=tool,
            printers=printers,
            wall=run.wall,
            cpu=run.cpu,
            max_rss_mb=run.max_rss_mb,
            ok=ok,
            limit=limit,
            emulator_cpu=stats["cpu_seconds"],
            requests=per_printer(reqs),
            note=note,
        )
    _show(result)
    return result


def _show(run: SyncRun) -> None:
    reqs = run.requests.get("total", {}).get("median", 0)
    print(
        f"  {run.tool:<15} {run.printers:>4} printers  wall {run.wall:7.2f} s  "
        f"limit {run.limit:6.2f} s  eff {run.efficiency:5.1%}  cpu {run.cpu:6.2f} s  "
        f"rss {run.max_rss_mb:6.1f} MB  emu cpu {run.emulator_cpu:6.2f} s  "
        f"req/printer {reqs}  load {run.load:.1f}  {'ok' if run.ok else 'FAILED'} {run.note}",
        file=sys.stderr,
        flush=True,
    )


def median_of(runs: Sequence[SyncRun], attr: str) -> float:
    return statistics.median(float(getattr(r, attr)) for r in runs)


def summary(runs: Sequence[SyncRun]) -> dict[str, Any]:
    return {
        "runs": len(runs),
        "all_ok": all(r.ok for r in runs),
        "wall": median_of(runs, "wall"),
        "wall_all": [round(r.wall, 3) for r in runs],
        "limit": median_of(runs, "limit"),
        "efficiency": median_of(runs, "efficiency"),
        "cpu": median_of(runs, "cpu"),
        "max_rss_mb": median_of(runs, "max_rss_mb"),
        "emulator_cpu": median_of(runs, "emulator_cpu"),
        "requests_per_printer": runs[len(runs) // 2].requests if runs else {},
    }


def save(name: str, doc: dict[str, Any]) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    doc = {
        "scenario": name,
        "when": time.strftime("%Y-%m-%d %H:%M:%S"),
        "machine": {"cpus": os.cpu_count(), "python": sys.version.split()[0]},
        **doc,
    }
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(doc, indent=2, default=_jsonable) + "\n")
    print(f"wrote {path.relative_to(ROOT)}", file=sys.stderr)
    return path


def _jsonable(value: object) -> object:
    if isinstance(value, SyncRun):
        return {**asdict(value), "efficiency": value.efficiency}
    raise TypeError(type(value).__name__)


def files_spec(count: int, size: int, folders: int = 0) -> dict[str, int]:
    """`count` files of `size` bytes, spread over `folders` folders (0: at the top)."""
    out: dict[str, int] = {}
    for i in range(count):
        folder = f"folder-{i % folders:02d}/" if folders else ""
        out[f"{folder}part-{i:04d}.gcode"] = size
    return out


# ----------------------------------------------------------------------------- scenarios


def cmd_transfer(args: argparse.Namespace) -> None:
    """Target 1: N printers x new files at R, latency L; link-sync vs 0.2.5 side by side."""
    files = files_spec(args.files, args.size * MB // args.files)
    common = {"files": files, "rate": args.rate, "latency_ms": args.latency, "shards": args.shards}
    mine = [
        measure_transfer(tool="link-sync", printers=args.printers, timeout=600, **common)
        for _ in range(args.repeat)
    ]
    # The original works on 2 printers at a time (cpu_count() here) after crawling every
    # printer serially: same per-printer work on fewer printers, then the model
    # wall(N) = a + b * ceil(N / workers), fitted on the measured points.
    theirs: list[SyncRun] = []
    for n in args.original_printers:
        for _ in range(args.original_repeat):
            theirs.append(
                measure_transfer(tool="original-0.2.5", printers=n, timeout=3600, **common)
            )
    # `--original-printers ""` measures link-sync alone (no comparison).
    model = fit_original(theirs, os.cpu_count() or 1) if theirs else None
    measured_full = [r for r in theirs if r.printers == args.printers]
    original_wall: float | None = None
    if measured_full:
        original_wall = median_of(measured_full, "wall")
    elif model is not None:
        original_wall = model["a"] + model["b"] * -(-args.printers // model["workers"])
    ours = summary(mine)
    save(
        "transfer",
        {
            "params": {
                "printers": args.printers,
                "files": len(files),
                "bytes_per_printer": sum(files.values()),
                "rate": args.rate,
                "latency_ms": args.latency,
                "shards": args.shards,
            },
            "link_sync": ours,
            "original": {
                "runs": theirs,
                "model": model,
                "wall_at_n": original_wall,
                "measured_at_n": bool(measured_full),
            },
            "speedup": original_wall / ours["wall"] if original_wall else None,
            "runs": mine,
        },
    )


def fit_original(runs: Sequence[SyncRun], workers: int) -> dict[str, Any]:
    """Least squares of wall = a + b * waves, waves = ceil(printers / workers)."""
    points: dict[int, list[float]] = {}
    for r in runs:
        points.setdefault(r.printers, []).append(r.wall)
    xs = [-(-n // workers) for n in sorted(points)]
    ys = [statistics.median(points[n]) for n in sorted(points)]
    if len(xs) == 1:
        return {"a": 0.0, "b": ys[0] / xs[0], "workers": workers, "points": points}
    mean_x, mean_y = statistics.fmean(xs), statistics.fmean(ys)
    sxx = sum((x - mean_x) ** 2 for x in xs)
    b = sum((x - mean_x) * (y - mean_y) for x, y in zip(xs, ys, strict=True)) / sxx
    return {"a": mean_y - b * mean_x, "b": b, "workers": workers, "points": points}


def cmd_sweep(args: argparse.Namespace) -> None:
    """The plot: wall time against the number of printers, both tools and the limit."""
    files = files_spec(args.files, args.size * MB // args.files)
    common = {"files": files, "rate": args.rate, "latency_ms": args.latency, "shards": 1}
    points = []
    for n in args.printers:
        mine = [
            measure_transfer(tool="link-sync", printers=n, timeout=600, **common)
            for _ in range(args.repeat)
        ]
        theirs = []
        if n <= args.original_max:
            theirs = [
                measure_transfer(tool="original-0.2.5", printers=n, timeout=3600, **common)
                for _ in range(args.original_repeat)
            ]
        points.append(
            {
                "printers": n,
                "link_sync": summary(mine),
                "original": summary(theirs) if theirs else None,
            }
        )
    params = {
        "files": len(files),
        "bytes_per_printer": sum(files.values()),
        "rate": args.rate,
        "latency_ms": args.latency,
    }
    save("sweep", {"params": params, "points": points})


def cmd_many(args: argparse.Namespace) -> None:
    """Target 2: many printers, one small file each; CPU is the limit on 2 cores."""
    files = files_spec(1, args.size * 1000)
    common: dict[str, Any] = {
        "tool": "link-sync",
        "printers": args.printers,
        "files": files,
        "rate": args.rate,
        "latency_ms": args.latency,
        "shards": args.shards,
        "timeout": 600,
    }
    if args.profile:  # one extra run under py-spy, not counted
        measure_transfer(**common, profile=str(RESULTS / "profile-many.folded"))
    runs = [measure_transfer(**common) for _ in range(args.repeat)]
    if not runs:
        return
    ours = summary(runs)
    ours["cpu_per_printer_ms"] = ours["cpu"] / args.printers * 1000
    params = {
        "printers": args.printers,
        "bytes_per_printer": args.size * 1000,
        "rate": args.rate,
        "latency_ms": args.latency,
        "shards": args.shards,
    }
    save("many", {"params": params, "link_sync": ours, "runs": runs})


def cmd_insync(args: argparse.Namespace) -> None:
    """Target 3: a farm already in sync; only listings, no per-file requests."""
    files = files_spec(args.files, args.size, folders=args.folders)
    runs: list[SyncRun] = []
    with tempfile.TemporaryDirectory(prefix="ls-bench-", dir=work_root()) as tmp:
        work = Path(tmp)
        master = build_master(work / "master", files)
        state = work / "state"
        # status + the destination's listing + one listing per folder
        limit = upload_limit(0, 0, 2 + args.folders, args.latency)
        with Farm(
            args.printers,
            rate=0,
            latency_ms=args.latency,
            workdir=work,
            shards=args.shards,
            preload=files,
        ) as farm:
            # First run: the printers hold the files already, the journal is empty, so
            # link-sync confirms them (one size query each) and records them.
            before = farm.snapshot()
            first, ok, note = run_link_sync(
                farm, master, work, state=state, expect_uploads=0, timeout=1800
            )
            after = farm.snapshot()
            setup = SyncRun(
                "link-sync (first run, empty journal)",
                args.printers,
                first.wall,
                first.cpu,
                first.max_rss_mb,
                ok,
                limit,
                after["cpu_seconds"] - before["cpu_seconds"],
                per_printer(requests_delta(before, after)),
                note,
            )
            _show(setup)
            for i in range(args.repeat):
                before = after
                profile = None
                if args.profile and i == 0:
                    profile = str(RESULTS / "profile-insync.folded")
                run, ok, note = run_link_sync(
                    farm,
                    master,
                    work,
                    state=state,
                    expect_uploads=0,
                    timeout=600,
                    profile=profile,
                )
                after = farm.snapshot()
                result = SyncRun(
                    "link-sync",
                    args.printers,
                    run.wall,
                    run.cpu,
                    run.max_rss_mb,
                    ok,
                    limit,
                    after["cpu_seconds"] - before["cpu_seconds"],
                    per_printer(requests_delta(before, after)),
                    note,
                )
                _show(result)
                if profile is None:
                    runs.append(result)
    params = {
        "printers": args.printers,
        "files": args.files,
        "folders": args.folders,
        "latency_ms": args.latency,
    }
    save("insync", {"params": params, "first_run": setup, "link_sync": summary(runs), "runs": runs})


def cmd_bigfile(args: argparse.Namespace) -> None:
    """Target 4: a big file to several printers; the client must stream it."""
    size = args.size * MB
    runs: list[SyncRun] = []
    with tempfile.TemporaryDirectory(prefix="ls-bench-", dir=args.tmp) as tmp:
        work = Path(tmp)
        master = build_master(work / "master", {"big.gcode": size})
        for _ in range(args.repeat):
            with Farm(
                args.printers, rate=args.rate, latency_ms=0, workdir=work, on_disk=True
            ) as farm:
                state = Path(tempfile.mkdtemp(dir=work))
                run, ok, note = run_link_sync(
                    farm, master, work, state=state, expect_uploads=args.printers, timeout=3600
                )
                stats = farm.stop()
            for storage in work.glob("storage-*"):
                shutil.rmtree(storage, ignore_errors=True)
            result = SyncRun(
                "link-sync",
                args.printers,
                run.wall,
                run.cpu,
                run.max_rss_mb,
                ok,
                upload_limit(size, args.rate, 3, 0),
                stats["cpu_seconds"],
                per_printer(stats["printers"]),
                note,
            )
            _show(result)
            runs.append(result)
    params = {"printers": args.printers, "bytes": size, "rate": args.rate}
    save("bigfile", {"params": params, "link_sync": summary(runs), "runs": runs})


def cmd_plan(args: argparse.Namespace) -> None:
    """Target 5: scan a 100,000-file master and plan it against 100,000 remote entries."""
    # Imported here: the other scenarios never load link_sync into the harness.
    sys.path.insert(0, str(ROOT / "src"))
    from plan_bench import measure_plan

    tmp = Path(args.tmp or tempfile.gettempdir())
    doc = measure_plan(args.files, args.folders, args.repeat, tmp)
    save("plan", doc)


# ----------------------------------------------------------------------------- report


def cmd_report(args: argparse.Namespace) -> None:
    from report import write_report

    write_report(RESULTS, ROOT)
    plot = RESULTS / "sweep.png"
    if (RESULTS / "sweep.json").exists():
        subprocess.run(
            [tools_python(), str(BENCH / "plot.py"), str(RESULTS / "sweep.json"), str(plot)],
            check=True,
            timeout=300,
        )


def main() -> None:
    sys.path.insert(0, str(BENCH))
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = ap.add_subparsers(dest="scenario", required=True)

    def rate(text: str) -> int:
        units = {"k": 1000, "M": MB}
        return int(float(text[:-1]) * units[text[-1]]) if text[-1] in units else int(text)

    p = sub.add_parser("transfer", help="target 1: N printers x new files, both tools")
    p.add_argument("--printers", type=int, default=40)
    p.add_argument("--files", type=int, default=4, help="files per printer")
    p.add_argument("--size", type=int, default=20, help="MB per printer (all files)")
    p.add_argument("--rate", type=rate, default=MB)
    p.add_argument("--latency", type=float, default=20.0)
    p.add_argument("--shards", type=int, default=1, help="emulator processes")
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--original-printers", type=lambda s: [int(x) for x in s.split(",") if x],
                   default=[2, 4], help="farm sizes the original runs on (comma list)")  # fmt: skip
    p.add_argument("--original-repeat", type=int, default=1)
    p.set_defaults(func=cmd_transfer)

    p = sub.add_parser("sweep", help="the plot: wall time against N, both tools")
    p.add_argument("--printers", type=lambda s: [int(x) for x in s.split(",")],
                   default=[2, 5, 10, 20, 40])  # fmt: skip
    p.add_argument("--files", type=int, default=1)
    p.add_argument("--size", type=int, default=5, help="MB per printer")
    p.add_argument("--rate", type=rate, default=MB)
    p.add_argument("--latency", type=float, default=20.0)
    p.add_argument("--repeat", type=int, default=3)
    p.add_argument("--original-repeat", type=int, default=1)
    p.add_argument("--original-max", type=int, default=40)
    p.set_defaults(func=cmd_sweep)

    p = sub.add_parser("many", help="target 2: 500 printers x one 200 KB file")
    p.add_argument("--printers", type=int, default=500)
    p.add_argument("--size", type=int, default=200, help="KB per printer")
    p.add_argument("--rate", type=rate, default=MB)
    p.add_argument("--latency", type=float, default=0.0)
    p.add_argument("--shards", type=int, default=1)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--profile", action="store_true", help="py-spy profile of one extra run")
    p.set_defaults(func=cmd_many)

    p = sub.add_parser("insync", help="target 3: 50 printers x 1,000 files, in sync")
    p.add_argument("--printers", type=int, default=50)
    p.add_argument("--files", type=int, default=1000)
    p.add_argument("--folders", type=int, default=20)
    p.add_argument("--size", type=int, default=2000, help="bytes per file")
    p.add_argument("--latency", type=float, default=20.0)
    p.add_argument("--shards", type=int, default=1)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--profile", action="store_true", help="py-spy profile of the first rerun")
    p.set_defaults(func=cmd_insync)

    p = sub.add_parser("bigfile", help="target 4: 2 GB to 8 printers, peak RSS")
    p.add_argument("--printers", type=int, default=8)
    p.add_argument("--size", type=int, default=2000, help="MB")
    p.add_argument("--rate", type=rate, default=0, help="0: unthrottled")
    p.add_argument("--repeat", type=int, default=1)
    p.add_argument("--tmp", default=None, help="where the master and printer files go")
    p.set_defaults(func=cmd_bigfile)

    p = sub.add_parser("plan", help="target 5: scan + plan of 100,000 files")
    p.add_argument("--files", type=int, default=100_000)
    p.add_argument("--folders", type=int, default=100)
    p.add_argument("--repeat", type=int, default=5)
    p.add_argument("--tmp", default=None)
    p.set_defaults(func=cmd_plan)

    p = sub.add_parser("report", help="RESULTS.md and sweep.png from bench/results/*.json")
    p.set_defaults(func=cmd_report)

    sub.add_parser("all", help="every scenario with its defaults, then report (~20 min)")

    args = ap.parse_args()
    if args.scenario == "all":
        for name in ("plan", "many", "insync", "transfer", "sweep", "bigfile", "report"):
            print(f"== {name}", file=sys.stderr, flush=True)
            scenario = ap.parse_args([name])
            scenario.func(scenario)
        return
    args.func(args)


if __name__ == "__main__":
    main()
