"""Start-up benchmark (issue 15, target 1).

Measures, as child processes of this script, in the venv this script runs in:

- `python -c pass` (the floor),
- `link-sync --version` and `link-sync --help`,
- `link-sync plan` on a 1-printer farm until its FIRST request reaches the printer
  (a loopback listener that notes the moment a request's first bytes arrive, then
  answers nothing and the child is stopped), with the state folder (journal) of an
  earlier run, as every run but a user's first has it, and with a new one.

For each: wall time and the child's CPU time (user + sys from wait4's rusage; for
`plan`, from /proc/<pid>/stat at the moment of the first request). CPU time is what
other load on the machine distorts least; the load average is printed next to the
wall figures.

    python bench/startup_bench.py            # 15 runs of each, medians
    python bench/startup_bench.py --runs 30
    python bench/startup_bench.py --instructions   # one run of each under valgrind

`--instructions` counts the instructions each case executes (valgrind's callgrind;
`plan` stops at its first connect()): slow, but the same count however busy the
machine is, so a change of a few milliseconds shows where medians of CPU time cannot.
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

VENV_BIN = Path(sys.executable).parent
TICK = os.sysconf("SC_CLK_TCK")


def compile_package() -> None:
    """Write link_sync's bytecode, as `pip install` does for an installed package.

    An editable checkout run with PYTHONDONTWRITEBYTECODE set (as on the shared
    machine) would otherwise compile every link_sync module at every start: about
    0.06 s of CPU that no installed link-sync pays.
    """
    import compileall

    import link_sync

    compileall.compile_dir(str(Path(link_sync.__file__).parent), quiet=1)


def link_sync() -> list[str]:
    exe = VENV_BIN / "link-sync"
    if exe.exists():
        return [str(exe)]
    return [sys.executable, "-c", "from link_sync.cli import main; main()"]


def timed(cmd: list[str]) -> tuple[float, float]:
    """(wall, cpu) of one child run to completion."""
    start = time.perf_counter()
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, _, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    return wall, usage.ru_utime + usage.ru_stime


def proc_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def one_printer_farm(workdir: Path, port: int, state: Path) -> tuple[Path, dict[str, str]]:
    """A master folder with one file, a config for one printer on `port`, and the
    environment to run `link-sync plan` on it with `state` as XDG_STATE_HOME."""
    master = workdir / "master"
    master.mkdir(exist_ok=True)
    (master / "a.gcode").write_text("G28\n")
    config = workdir / "link-sync.yml"
    config.write_text(
        f"source: {master}\nprinters:\n  p1:\n    host: 127.0.0.1:{port}\n"
        "    password: maker-pass\n"
    )
    # The default state folder, as most users have it (platformdirs finds it), but
    # under the bench's own XDG_STATE_HOME: nothing is written to ~.
    env = {k: v for k, v in os.environ.items() if k != "LINK_SYNC_STATE_DIR"}
    env["XDG_STATE_HOME"] = str(state)
    return config, env


def state_home(workdir: Path, fresh: bool) -> Path:
    """The state folder's parent: one kept across runs (its journal exists after the
    first, as for every run of a user but the first), or a new one (a first run ever:
    the journal is created, ~2-5 ms of CPU and 10-20 ms of disk waits here)."""
    if fresh:
        return Path(tempfile.mkdtemp(dir=workdir))
    kept = workdir / "state"
    kept.mkdir(exist_ok=True)
    return kept


def first_request(workdir: Path, fresh_state: bool = False) -> tuple[float, float]:
    """(wall, cpu) from starting `link-sync plan` to the first request bytes arriving."""
    listener = socket.create_server(("127.0.0.1", 0))
    state = state_home(workdir, fresh_state)
    config, env = one_printer_farm(workdir, listener.getsockname()[1], state)
    arrived: list[float] = []

    def accept() -> None:
        conn, _ = listener.accept()
        conn.recv(1)
        arrived.append(time.perf_counter())
        conn.close()

    waiter = threading.Thread(target=accept, daemon=True)
    waiter.start()
    start = time.perf_counter()
    proc = subprocess.Popen(
        [*link_sync(), "plan", "-c", str(config), "--json"],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env=env,
    )
    waiter.join(timeout=30)
    cpu = proc_cpu(proc.pid)
    proc.kill()
    proc.wait()
    listener.close()
    if not arrived:
        raise RuntimeError("link-sync plan sent no request within 30 s")
    return arrived[0] - start, cpu


#: `link-sync` (the console script's `run`) that ends the process at its first connect().
STOP_AT_FIRST_CONNECT = (
    "import os, socket, sys\n"
    "socket.socket.connect = lambda sock, address: os._exit(0)\n"
    "sys.argv = ['link-sync', *sys.argv[1:]]\n"
    "from link_sync.cli import run\n"
    "run()\n"
)


def instructions(argv: list[str], env: dict[str, str] | None = None) -> int:
    """Instructions `argv` executes, counted by valgrind's callgrind."""
    done = subprocess.run(
        ["valgrind", "--tool=callgrind", "--callgrind-out-file=/dev/null", *argv],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    found = re.search(r"Collected : (\d+)", done.stderr)
    if found is None:
        raise RuntimeError(f"no instruction count from valgrind:\n{done.stderr[-2000:]}")
    return int(found.group(1))


def count_instructions() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        plan = [sys.executable, "-c", STOP_AT_FIRST_CONNECT, "plan", "--json", "-c"]
        workdir = Path(tmp)
        # connect() never happens, so port 9 is as good as any
        config, env = one_printer_farm(workdir, 9, state_home(workdir, fresh=False))
        subprocess.run([*plan, str(config)], env=env, check=True)  # makes the journal
        fresh_config, fresh_env = one_printer_farm(workdir, 9, state_home(workdir, fresh=True))
        counts = {
            "python -c pass": instructions([sys.executable, "-c", "pass"]),
            "link-sync --version": instructions([*link_sync(), "--version"]),
            "link-sync --help": instructions([*link_sync(), "--help"]),
            "plan: first request": instructions([*plan, str(config)], env),
            "  ... new state folder": instructions([*plan, str(fresh_config)], fresh_env),
        }
    bare = counts["python -c pass"]
    print(f"{'':24} {'instructions':>14} {'- bare':>14}")
    for name, count in counts.items():
        print(f"{name:24} {count:14,} {count - bare:+14,}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument(
        "--instructions", action="store_true", help="count instructions (valgrind) instead"
    )
    args = parser.parse_args()
    compile_package()
    if args.instructions:
        count_instructions()
        return
    results: dict[str, list[tuple[float, float]]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for _ in range(args.runs):  # interleaved, so load changes hit every case alike
            results.setdefault("python -c pass", []).append(timed([sys.executable, "-c", "pass"]))
            results.setdefault("link-sync --version", []).append(timed([*link_sync(), "--version"]))
            results.setdefault("link-sync --help", []).append(timed([*link_sync(), "--help"]))
            results.setdefault("plan: first request", []).append(first_request(Path(tmp)))
            results.setdefault("  ... new state folder", []).append(
                first_request(Path(tmp), fresh_state=True)
            )
    load = os.getloadavg()[0]
    base_wall = statistics.median(w for w, _ in results["python -c pass"])
    base_cpu = statistics.median(c for _, c in results["python -c pass"])
    print(f"medians of {args.runs} runs, load average {load:.1f} (2 cores)")
    print(f"{'':24} {'wall':>8} {'cpu':>8} {'wall - bare':>12} {'cpu - bare':>11}")
    for name, runs in results.items():
        wall = statistics.median(w for w, _ in runs)
        cpu = statistics.median(c for _, c in runs)
        extra = f"{wall - base_wall:+11.3f}s {cpu - base_cpu:+10.3f}s"
        print(f"{name:24} {wall:7.3f}s {cpu:7.3f}s {extra}")


if __name__ == "__main__":
    main()
