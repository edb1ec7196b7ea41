"""Run every benchmark in bench/ (each in its own process) and print their figures.

    .venv/bin/python bench/run_all.py                 # everything, default sizes
    .venv/bin/python bench/run_all.py --quick         # smaller sizes (a few minutes in all)
    .venv/bin/python bench/run_all.py --only reader_throughput first_frame
    .venv/bin/python bench/run_all.py --skip tiny_learning --out /tmp/bench.txt

Scripts are found by name (every bench/*.py but this one), so a new benchmark is picked up
without editing this file. Each runs with a fresh temporary GRPO_TUI_HOME (never the user's runs),
the repository on sys.path, and a time limit; its output is printed as it comes, then a table of
wall time and exit status. Exit status: 1 when any benchmark failed or timed out.
"""

from __future__ import annotations

import argparse
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# Smaller sizes for --quick (same figures, less precision). Scripts not named here run as they are.
QUICK_ARGS = {
    "app_attach": ["--steps", "20000", "--seconds", "5", "--fps", "2", "8"],
    "callback_overhead": ["--steps", "30", "--rounds", "2"],
    "compare_runs": ["--steps", "20000"],
    "first_frame": ["--runs", "3"],
    "html_report": ["--repeat", "1"],
    "reader_throughput": ["--steps", "10000", "100000", "--repeat", "1"],
    "rewards_alerts_report": ["--steps", "1000"],
    "rewards_cost": ["--n", "200"],
    "watch_overhead": ["--steps", "25", "--rounds", "2"],
    "open_trl_folder": ["--runs", "1"],
    "zero_variance": ["--groups", "100"],
}
# Minutes of training each (a 300-step tiny run; SmolLM2's load, generation and backward); opt in with --only.
SLOW = {"tiny_learning", "smollm2_cpu", "smollm2_learning", "mutation", "vllm_cpu"}  # mutation: ~30 min of mutmut (docs/testing.md)


def scripts() -> list[str]:
    return sorted(p.stem for p in HERE.glob("*.py") if p.stem != "run_all" and not p.stem.startswith("_"))


def run_one(name: str, extra: list[str], timeout: float, log) -> tuple[int | None, float]:
    cmd = [sys.executable, str(HERE / f"{name}.py"), *extra]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]).rstrip(os.pathsep),
           "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    head = f"\n=== {name} {' '.join(extra)}".rstrip()
    print(head, flush=True)
    log.write(head + "\n")
    t0 = time.monotonic()
    with tempfile.TemporaryDirectory(prefix=f"grpo-bench-{name}-") as home:
        env["GRPO_TUI_HOME"] = home
        proc = subprocess.Popen(cmd, cwd=str(REPO), env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                                text=True, errors="replace", start_new_session=True)
        fired = threading.Event()

        def expire() -> None:  # a benchmark that hangs (even silently) is ended with its children
            fired.set()
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass

        timer = threading.Timer(timeout, expire)
        timer.start()
        try:
            assert proc.stdout is not None
            for line in proc.stdout:
                print(line, end="", flush=True)
                log.write(line)
            rc = proc.wait()
        finally:
            timer.cancel()
        if fired.is_set():
            rc = None
    return rc, time.monotonic() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="smaller sizes (see QUICK_ARGS)")
    ap.add_argument("--only", nargs="+", metavar="NAME", help="run just these (names without .py)")
    ap.add_argument("--skip", nargs="+", default=[], metavar="NAME", help="leave these out")
    ap.add_argument("--timeout", type=float, default=900.0, help="seconds per benchmark (default 900)")
    ap.add_argument("--out", metavar="PATH", help="also write everything printed to PATH")
    args = ap.parse_args()
    names = scripts()
    if args.only:
        unknown = sorted(set(args.only) - set(names))
        if unknown:
            print(f"run_all: no benchmark named {', '.join(unknown)}; have {', '.join(names)}", file=sys.stderr)
            return 2
        names = [n for n in names if n in args.only]
    else:
        names = [n for n in names if n not in SLOW]
    names = [n for n in names if n not in args.skip]
    results = []
    with open(args.out, "w") if args.out else open(os.devnull, "w") as log:
        log.write(f"# bench/run_all.py {' '.join(sys.argv[1:])} -- {time.strftime('%Y-%m-%d %H:%M:%S %Z')}, "
                  f"{os.cpu_count()} CPUs, Python {sys.version.split()[0]}\n")
        for name in names:
            extra = QUICK_ARGS.get(name, []) if args.quick else []
            rc, took = run_one(name, extra, args.timeout, log)
            results.append((name, rc, took))
        summary = ["", "=== summary", f"{'benchmark':24} {'status':>10} {'seconds':>8}"]
        for name, rc, took in results:
            status = "timeout" if rc is None else ("ok" if rc == 0 else f"exit {rc}")
            summary.append(f"{name:24} {status:>10} {took:8.1f}")
        print("\n".join(summary))
        log.write("\n".join(summary) + "\n")
    return 0 if all(rc == 0 for _, rc, _ in results) else 1


if __name__ == "__main__":
    sys.exit(main())
