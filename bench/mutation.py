"""Mutation testing (mutmut) of the modules whose mistakes cost users the most; prints the
score per module. Not part of CI (minutes per module); figures and every surviving mutant's
verdict are in docs/testing.md.

    .venv/bin/python bench/mutation.py                      # every module, 2 workers, 25 min budget
    .venv/bin/python bench/mutation.py --only export alerts --budget 600
    .venv/bin/python bench/mutation.py --survivors          # also print each survivor's diff

Needs the `mutation` extra (`pip install -e ".[mutation]"`). Each module runs in its own copy of
the repository under a temporary folder (mutmut writes a `mutants/` tree beside the sources, and
the working tree stays untouched), at `nice -n 15`, with only the fast test files that exercise it
(mutmut then runs, for each mutant, only the tests that reach the mutated function). The budget is
shared out across modules by their size; a module that runs out of time reports what it finished.
Score = killed / (killed + survived); a timeout counts as killed (the mutant hung the tests), a
mutant no selected test reaches counts as survived.
"""

from __future__ import annotations

import argparse
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent

# name -> (source file(s), space-separated; mutmut name patterns to run (None: every mutant of the
#          files); fast test files; extra pytest arguments). The real-trainer tests are left out:
#          minutes per run, and the unit tests listed reach the same code.
MODULES: dict[str, tuple[str, list[str] | None, list[str], list[str]]] = {
    "events": ("grpo_tui/core/run/events.py", None,
               ["tests/core/test_events_reader.py", "tests/core/test_events_writer.py"], []),
    "samples": ("grpo_tui/core/run/samples.py", None,
                ["tests/core/test_export.py", "tests/core/test_samples_store.py", "tests/core/test_sample_filters.py",
                 "tests/core/test_samples_index.py"], []),
    "export": ("grpo_tui/core/reading/export.py", None,
               ["tests/core/test_export.py", "tests/core/test_export_atomic.py"], []),
    "alerts": ("grpo_tui/core/reading/alerts.py", None,
               ["tests/core/test_alerts.py", "tests/core/test_alerts_messages.py", "tests/core/test_alerts_reasoning.py",
                "tests/core/test_alerts_edges.py"],
               ["-k", "not real_trainer and not real_run"]),
    # pause / resume / stop / checkpoint and their acknowledgements (``ask`` is another feature's)
    "control": ("grpo_tui/trainer/control.py",
                ["grpo_tui.trainer.control.x_take_commands__mutmut_*"]
                + [f"grpo_tui.trainer.control.xǁControllerǁ{m}__mutmut_*"
                   for m in ("__init__", "sync", "_take", "_ack", "_apply_commands", "poll", "_note")],
                ["tests/trainer/test_control_unit.py"], []),
    # The verdict only: mutants of plan() from the line that sums the parts to its end (the sizing
    # arithmetic above it is checked against published figures instead; see VERDICT_FROM).
    "planner": ("grpo_tui/core/planning/planner.py", ["grpo_tui.core.planning.planner.x_plan__mutmut_*"],
                ["tests/core/test_planner.py", "tests/core/test_planner_verdict.py"], []),
    "rewards": ("grpo_tui/trainer/reward_rules.py", None,
                ["tests/trainer/test_rewards_rules.py", "tests/trainer/test_rewards_registry.py", "tests/trainer/test_rewards_hacks.py",
                 "tests/trainer/test_rewards_multiline.py", "tests/trainer/test_rewards_edges.py",
                 "tests/trainer/test_rewards_fast_paths.py"], []),
    # The reward set around the rules: which names exist, their weights and checks, the gold column.
    # (rewards/audit.py, the `rewards audit` report, is left out: its tests load torch, ~11 s a run.)
    "rewards-pkg": ("grpo_tui/trainer/rewards/builtin.py grpo_tui/trainer/rewards/golds.py "
                    "grpo_tui/trainer/rewards/registry.py grpo_tui/trainer/rewards/__init__.py", None,
                    ["tests/trainer/test_rewards_registry.py", "tests/trainer/test_rewards_hacks.py",
                     "tests/trainer/test_rewards_multiline.py", "tests/trainer/test_rewards_edges.py",
                     "tests/trainer/test_rewards_registry_edges.py"], []),
}

# planner: only mutants of this function whose change is at or below the last line holding this
# text are run (the CPU branch above it sums the parts too).
VERDICT_FROM = ("plan", "result.total = sum(parts.values())")

STATUS_RE = re.compile(r"^\s+(\S+): (.+)$")

# mutmut forks each mutant's test run from a process that has already run the tests unmutated, so
# a functools cache (reward_rules.read_number's) would answer for the mutated code beneath it: 20
# brace-matcher mutants "survived" that their tests kill when run alone. The copy gets a root
# conftest that empties grpo_tui's caches before each test (the real suite is untouched).
FRESH_CACHES = '''"""Written by bench/mutation.py into the mutated copy only: grpo_tui's functools caches are
emptied before each test, so a result cached by the unmutated run cannot hide a mutant."""

import sys


def pytest_runtest_setup(item):
    for name, module in list(sys.modules.items()):
        if module is None or not name.startswith("grpo_tui"):
            continue
        for value in list(vars(module).values()):
            clear = getattr(value, "cache_clear", None)
            if callable(clear) and getattr(value, "__module__", None) == name:
                clear()
'''


def _copy_tree(dest: Path, rev: str | None) -> None:
    if rev:  # a committed state (the shared working tree may be mid-edit)
        archive = subprocess.run(["git", "archive", rev, "grpo_tui", "tests", "presets", "docs"], cwd=REPO,
                                 capture_output=True, check=True).stdout
        subprocess.run(["tar", "xf", "-", "--exclude=tests/__snapshots__"], cwd=dest, input=archive, check=True)
        return
    ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "mutants", ".venv", "__snapshots__")
    shutil.copytree(REPO / "grpo_tui", dest / "grpo_tui", ignore=ignore)
    shutil.copytree(REPO / "tests", dest / "tests", ignore=ignore)
    for extra in ("presets", "docs"):  # some tests check the docs agree with the code
        shutil.copytree(REPO / extra, dest / extra, ignore=ignore)


def _pyproject(src: str, tests: list[str], extra: list[str]) -> str:
    text = (REPO / "pyproject.toml").read_text()  # only the [tool.mutmut] part matters to the run
    text = re.sub(r"(?ms)^\[tool\.mutmut\].*?(?=^\[|\Z)", "", text)
    return text + (
        "\n[tool.mutmut]\n"
        'source_paths = ["grpo_tui"]\n'
        "only_mutate = [" + ", ".join(f'"{f}"' for f in src.split()) + "]\n"
        + "pytest_add_cli_args_test_selection = [" + ", ".join(f'"{t}"' for t in tests) + "]\n"
        + "pytest_add_cli_args = [" + ", ".join(f'"{a}"' for a in ["-p", "no:cacheprovider", "-q", *extra]) + "]\n"
        'also_copy = ["presets", "docs", "conftest.py"]\n'
        "use_git_change_detection = false\n"
        "use_setproctitle = false\n"
    )


def _mutmut(work: Path, args: list[str], timeout: float | None, log) -> int:
    cmd = ["nice", "-n", "15", sys.executable, "-m", "mutmut", *args]
    env = dict(os.environ, PYTHONDONTWRITEBYTECODE="1")
    env.setdefault("GRPO_TUI_HOME", str(work / "home"))
    proc = subprocess.Popen(cmd, cwd=work, stdout=log, stderr=subprocess.STDOUT, env=env, start_new_session=True)
    try:
        return proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
        return -1


def _function(text: str, name: str) -> list[str]:
    lines = text.splitlines()
    start = next(i for i, ln in enumerate(lines) if ln.startswith(f"def {name}("))
    end = next((i for i in range(start + 1, len(lines)) if lines[i] and not lines[i][0].isspace()), len(lines))
    return lines[start + 1:end]


def _verdict_mutants(work: Path, src: str) -> list[str]:
    """Names of the mutants of VERDICT_FROM's function whose change lies at or below its marker line."""
    func, marker = VERDICT_FROM
    text = (work / "mutants" / src).read_text()
    orig = _function(text, f"x_{func}__mutmut_orig")
    first = max(i for i, ln in enumerate(orig) if marker in ln)  # its last occurrence: the GPU verdict
    module = src[:-3].replace("/", ".")
    names = []
    for m in re.finditer(rf"^def (x_{func}__mutmut_\d+)\(", text, re.M):
        body = _function(text, m.group(1))
        changed = next((i for i, (a, b) in enumerate(zip(orig, body)) if a != b), min(len(orig), len(body)))
        if changed >= first:
            names.append(f"{module}.{m.group(1)}")
    return names


def _results(work: Path, patterns: list[str] | None) -> dict[str, str]:
    r = subprocess.run([sys.executable, "-m", "mutmut", "results", "--all", "true"], cwd=work,
                       capture_output=True, text=True, timeout=300)
    out = {}
    for line in r.stdout.splitlines():
        m = STATUS_RE.match(line)
        if m:
            out[m.group(1)] = m.group(2).strip()
    if patterns:
        import fnmatch

        out = {k: v for k, v in out.items() if any(fnmatch.fnmatch(k, p) for p in patterns)}
    return out


def run_module(name: str, budget: float, workers: int, keep: Path | None, survivors: bool,
               rev: str | None = None) -> dict:
    src, patterns, tests, extra = MODULES[name]
    tests = [t for t in tests if (REPO / t).exists()]
    base = Path(tempfile.mkdtemp(prefix=f"grpo-mutation-{name}-")) if keep is None else keep / name
    if base.exists() and keep is not None:
        shutil.rmtree(base)
    base.mkdir(parents=True, exist_ok=True)
    _copy_tree(base, rev)
    (base / "conftest.py").write_text(FRESH_CACHES)
    (base / "pyproject.toml").write_text(_pyproject(src, tests, extra))
    t0 = time.monotonic()
    with open(base / "mutmut.log", "w") as log:
        if name == "planner":  # generate the mutants (nothing matches), then run the verdict's only
            _mutmut(base, ["run", "--max-children", str(workers), "no-such-mutant"], budget, log)
            patterns = _verdict_mutants(base, src)
        rc = _mutmut(base, ["run", "--max-children", str(workers), *(patterns or [])],
                     max(30.0, budget - (time.monotonic() - t0)), log)
    took = time.monotonic() - t0
    res = _results(base, patterns)
    counts: dict[str, int] = {}
    for status in res.values():
        counts[status] = counts.get(status, 0) + 1
    killed = counts.get("killed", 0) + counts.get("timeout", 0) + counts.get("segfault", 0)
    survived = counts.get("survived", 0) + counts.get("no tests", 0)
    done = killed + survived
    row = dict(module=name, file=src, mutants=len(res), killed=killed, survived=survived,
               not_run=len(res) - done, score=(100.0 * killed / done) if done else float("nan"),
               seconds=round(took), timed_out=rc == -1, tests=tests, work=str(base),
               survivors=sorted(k for k, v in res.items() if v in ("survived", "no tests")))
    if survivors:
        for k in row["survivors"]:
            d = subprocess.run([sys.executable, "-m", "mutmut", "show", k], cwd=base, capture_output=True, text=True)
            print(d.stdout, flush=True)
    if keep is None and not survivors:
        shutil.rmtree(base, ignore_errors=True)
    return row


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--only", nargs="*", choices=sorted(MODULES), help="modules to run (default: all)")
    ap.add_argument("--budget", type=float, default=1500, help="seconds for all modules together")
    ap.add_argument("--workers", type=int, default=2, help="mutants tested at once (2 cores: 2)")
    ap.add_argument("--keep", type=Path, help="keep each module's copy under this folder (for `mutmut show`)")
    ap.add_argument("--rev", help="test this git revision (e.g. HEAD) instead of the working tree")
    ap.add_argument("--survivors", action="store_true", help="print each surviving mutant's diff")
    a = ap.parse_args()
    names = a.only or list(MODULES)
    sizes = {n: max(1, sum(sum(1 for _ in open(REPO / f)) for f in MODULES[n][0].split())) for n in names}
    rows = []
    start = time.monotonic()
    for i, n in enumerate(names):
        left = a.budget - (time.monotonic() - start)
        share = left * sizes[n] / sum(sizes[m] for m in names[i:])
        print(f"== {n}: {MODULES[n][0]} (up to {share:.0f} s)", flush=True)
        rows.append(run_module(n, max(share, 30.0), a.workers, a.keep, a.survivors, a.rev))
        r = rows[-1]
        print(f"   {r['killed']}/{r['killed'] + r['survived']} killed ({r['score']:.1f}%), "
              f"{r['not_run']} not run, {r['seconds']} s", flush=True)
        for s in r["survivors"]:
            print(f"   survived: {s}", flush=True)
    print()
    print(f"{'module':10} {'file':36} {'mutants':>7} {'killed':>6} {'survived':>8} {'not run':>7} {'score':>6} {'s':>5}")
    for r in rows:
        print(f"{r['module']:10} {r['file']:36} {r['mutants']:7d} {r['killed']:6d} {r['survived']:8d} "
              f"{r['not_run']:7d} {r['score']:5.1f}% {r['seconds']:5d}" + ("  (budget ran out)" if r["timed_out"] else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
