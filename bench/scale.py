#!/usr/bin/env python3
"""The scale study of issue #18: how runbook's commands grow with the playbook, the history
and the output, each figure beside a baseline measured in the same run.

    cargo build --release && python3 bench/scale.py [--quick] [--bin PATH] [--only SECTION,...]

Sections (all by default):

- model:   `validate` and `plan --format json` of generated playbooks of 1k/10k/100k steps
           (`--quick`: 1k/10k) in four shapes; wall time (median), peak RSS and bytes per
           step; growth exponents from a log-log fit over the sizes.
- run:     `run` of a chain of `true` steps (1k/10k; 100k with `--big-runs`), then `report`
           (md, json) of that run and `resume` of a run of the same playbook interrupted at
           its last step; peak RSS of the run.
- history: `run` of a 20-step playbook and `runs` with 0/10/100/1,000 past runs in the runs
           root (copies of one real run with their own ids and times), peak RSS.
- output:  one step printing 1 GiB (`--output-mib`), in 100-byte lines, with no newline at
           all, and in lines with a secret declared, against `sh -c 'CMD > file'`.
- engine:  start-up + one `true` step against `sh -c 'sh -c true'`, and a chain of 200
           `true` against a shell loop of 200 `sh -c true`.
- check:   a `verify` check polling every 100 ms whose probe passes from 1 s on: the median
           spacing of attempt starts and how late the passing attempt starts.

Each timing is the median of `--reps` runs after one warm-up (fewer for the long ones). Peak
RSS comes from /usr/bin/time. Nothing is asserted: a slow figure is a finding, not a failure. The
script needs only Python 3 and the release binary, so the same script measures any two builds
(`--bin`) one after the other; `--save FILE` writes the figures as JSON.
"""

import argparse
import json
import math
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

SHAPES = ["chain", "fan-out", "chain-to-root", "lattice"]


def head(name, secrets=False):
    extra = 'secrets = ["BENCH_TOKEN"]\n' if secrets else ""
    return f"""[playbook]
name = "{name}"
version = "1.0.0"
title = "Generated benchmark playbook"
rto = "1000h"
{extra}
[vars]
dir = "/var/backups/bench"
database = "bench"
greeting = "hello"

[env]
PGDATABASE = "{{{{vars.database}}}}"
"""


def model_playbook(shape, steps):
    """The validate/plan shapes: every step has a budget and an output, and quotes one."""
    out = [head(f"bench-{shape}")]
    out.append(
        """
[[steps]]
id = "s0"
title = "Root"
run = "echo {{vars.greeting}}"
outputs = { out = "stdout" }
budget = "1s"
"""
    )
    for i in range(1, steps):
        if shape == "chain":
            needs, reads = [i - 1], i - 1
        elif shape == "fan-out":
            needs, reads = [0], 0
        elif shape == "chain-to-root":
            needs, reads = [i - 1], 0
        else:  # lattice: three earlier steps (as many as there are)
            needs = sorted({max(i - 1, 0), max(i - 2, 0), max(i - 3, 0)})
            reads = i - 1
        need_list = ", ".join(f'"s{n}"' for n in needs)
        out.append(
            f"""
[[steps]]
id = "s{i}"
needs = [{need_list}]
run = "echo {{{{quote steps.s{reads}.outputs.out}}}}"
outputs = {{ out = "stdout" }}
budget = "1s"
"""
        )
    return "".join(out)


def chain_of_true(name, steps, last=None):
    """A chain of `true`; `last` replaces the last step's command."""
    out = [head(name)]
    for i in range(steps):
        run = last if (last is not None and i == steps - 1) else "true"
        needs = f'needs = ["s{i - 1}"]\n' if i else ""
        out.append(f'\n[[steps]]\nid = "s{i}"\n{needs}run = {json.dumps(run)}\n')
    return "".join(out)


class Bench:
    def __init__(self, args):
        self.bin = os.path.abspath(args.bin)
        self.reps = args.reps
        self.dir = tempfile.mkdtemp(prefix="runbook-scale-")
        self.results = {}
        self.env = {
            k: v for k, v in os.environ.items() if k not in ("RUNBOOK_RUNS", "RUNBOOK_PATH")
        }
        self.env["NO_COLOR"] = "1"

    def once(self, argv, env=None, cwd=None, ok=(0,), rss=False):
        """Wall time (s) of one command and, with `rss`, its peak RSS (KiB).

        The peak comes from /usr/bin/time (a small C program), not from this process's own
        wait4: Linux keeps a child's maximum RSS across execve, so a child forked from Python
        would report Python's size when runbook's is smaller.
        """
        out = os.path.join(self.dir, ".rss")
        if rss:
            argv = ["/usr/bin/time", "-f", "%M", "-o", out, *argv]
        t = time.perf_counter()
        code = subprocess.call(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            stdin=subprocess.DEVNULL,
            env=env or self.env,
            cwd=cwd or self.dir,
        )
        wall = time.perf_counter() - t
        if code not in ok:
            sys.exit(f"scale: {argv} exited {code}")
        if not rss:
            return wall, 0
        with open(out) as f:
            # /usr/bin/time writes "Command exited with non-zero status N" first when it did.
            return wall, int(f.read().split()[-1])

    def median(self, argv, reps=None, before=None, **kw):
        """Median wall time over `reps` runs after a warm-up, and the peak RSS of the warm-up
        (measured through /usr/bin/time, so its start is left out of the timed runs)."""
        reps = reps or self.reps
        if before:
            before()
        _, peak = self.once(argv, rss=True, **kw)
        walls = []
        for _ in range(reps):
            if before:
                before()
            walls.append(self.once(argv, **kw)[0])
        return statistics.median(walls), peak

    def rb(self, *args):
        return [self.bin, *args]

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as f:
            f.write(text)
        return path

    def save(self, key, value):
        self.results[key] = value


def exponent(points):
    """Least-squares slope of log(y) over log(x)."""
    xs = [math.log(x) for x, _ in points]
    ys = [math.log(max(y, 1e-9)) for _, y in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    den = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / den if den else float("nan")


def ms(s):
    return f"{s * 1e3:.1f} ms"


def mib(kib):
    return f"{kib / 1024:.1f} MiB"


def section_model(b, sizes):
    start, _ = b.median(b.rb("--version"), reps=21)
    print(f"\n## model: validate and plan (baseline `runbook --version`: {ms(start)})\n")
    print("| shape | steps | TOML | validate | plan | validate RSS | plan RSS | RSS per step |")
    print("|---|---:|---:|---:|---:|---:|---:|---:|")
    fits = {}
    for shape in SHAPES:
        for steps in sizes:
            text = model_playbook(shape, steps)
            path = b.write(f"{shape}-{steps}.toml", text)
            reps = b.reps if steps <= 10_000 else max(1, b.reps // 2)
            v, v_rss = b.median(b.rb("validate", path), reps=reps)
            p, p_rss = b.median(b.rb("plan", path, "--format", "json"), reps=reps)
            _, base_rss = b.once(b.rb("--version"), rss=True)
            per_step = (max(v_rss, p_rss) - base_rss) * 1024 / steps
            print(
                f"| {shape} | {steps:,} | {len(text) / 1024:.0f} KiB | {ms(v)} | {ms(p)} "
                f"| {mib(v_rss)} | {mib(p_rss)} | {per_step / 1024:.2f} KiB |"
            )
            fits.setdefault(shape, {"validate": [], "plan": []})
            fits[shape]["validate"].append((steps, v))
            fits[shape]["plan"].append((steps, p))
            b.save(
                f"model/{shape}/{steps}",
                {"validate": v, "plan": p, "validate_rss": v_rss, "plan_rss": p_rss,
                 "per_step_bytes": per_step},
            )
            os.remove(path)
    print("\n| shape | validate exponent | plan exponent |\n|---|---:|---:|")
    for shape, f in fits.items():
        print(f"| {shape} | {exponent(f['validate']):.2f} | {exponent(f['plan']):.2f} |")
        b.save(f"model/{shape}/exponents", {k: exponent(v) for k, v in f.items()})
    b.save("model/startup", start)


def run_folder(root):
    folders = [os.path.join(root, d) for d in os.listdir(root) if not d.startswith(".")]
    return max(folders, key=os.path.getmtime)


def section_run(b, sizes):
    true_base, _ = b.median(["sh", "-c", "true"], reps=21)
    print(f"\n## run, report, resume of a chain of `true` (baseline `sh -c true`: {ms(true_base)})\n")
    print("| steps | run | per step | run RSS | report md | report json | resume | resume RSS |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    fits = {"run": [], "report md": [], "report json": [], "resume": []}
    for steps in sizes:
        root = os.path.join(b.dir, f"runs-{steps}")
        env = dict(b.env, RUNBOOK_RUNS=root)
        path = b.write(f"chain-{steps}.toml", chain_of_true(f"chain-{steps}", steps))
        reps = 3 if steps <= 1000 else 1
        run, run_rss = b.median(b.rb("run", path, "--json", "--no-notify"), reps=reps, env=env)
        folder = run_folder(root)
        md, _ = b.median(b.rb("report", folder), env=env)
        js, _ = b.median(b.rb("report", folder, "--format", "json"), env=env)
        # Resume: the same chain, whose last step interrupts runbook the first time.
        mark = os.path.join(b.dir, f"mark-{steps}")
        last = f'test -e {mark} || {{ touch {mark}; kill -INT $PPID; sleep 5; }}'
        rpath = b.write(f"resume-{steps}.toml", chain_of_true(f"resume-{steps}", steps, last))
        rroot = os.path.join(b.dir, f"rruns-{steps}")
        renv = dict(b.env, RUNBOOK_RUNS=rroot)
        resumes, resume_rss = [], 0
        for _ in range(1 if steps > 1000 else 3):
            if os.path.exists(mark):
                os.remove(mark)
            b.once(b.rb("run", rpath, "--json", "--no-notify"), env=renv, ok=(130, 1))
            t, rss = b.once(b.rb("resume", run_folder(rroot), "--yes", "--json", "--no-notify"),
                            env=renv, rss=True)
            resumes.append(t)
            resume_rss = max(resume_rss, rss)
        resume = statistics.median(resumes)
        print(
            f"| {steps:,} | {ms(run)} | {run / steps * 1e3:.2f} ms | {mib(run_rss)} | {ms(md)} "
            f"| {ms(js)} | {ms(resume)} | {mib(resume_rss)} |"
        )
        for k, v in (("run", run), ("report md", md), ("report json", js), ("resume", resume)):
            fits[k].append((steps, v))
        b.save(f"run/{steps}", {"run": run, "run_rss": run_rss, "report_md": md,
                                "report_json": js, "resume": resume, "resume_rss": resume_rss})
        shutil.rmtree(root)
        shutil.rmtree(rroot)
    b.save("run/sh_true", true_base)
    print("\n| figure | exponent |\n|---|---:|")
    for k, v in fits.items():
        print(f"| {k} | {exponent(v):.2f} |")
        b.save(f"run/exponent/{k}", exponent(v))


def fill_history(root, template, n):
    """`n` copies of the run in `template`, the i-th started i+1 hours before it."""
    import datetime as dt

    with open(os.path.join(template, "journal.jsonl")) as f:
        events = [json.loads(line) for line in f if line.strip()]
    for i in range(n):
        run_id = None
        lines = []
        for e in events:
            e = dict(e)
            ts = dt.datetime.fromisoformat(e["ts"].replace("Z", "+00:00"))
            ts -= dt.timedelta(hours=i + 1)
            if run_id is None:
                run_id = f"{ts:%Y%m%dT%H%M%SZ}-hist-{i:04x}"
            e["ts"] = ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"
            e["run_id"] = run_id
            lines.append(json.dumps(e, separators=(",", ":")))
        folder = os.path.join(root, run_id)
        os.makedirs(folder)
        with open(os.path.join(folder, "journal.jsonl"), "w") as f:
            f.write("\n".join(lines) + "\n")
        for name in os.listdir(template):
            if name not in ("journal.jsonl", "logs"):
                src = os.path.join(template, name)
                if os.path.isfile(src):
                    shutil.copy(src, os.path.join(folder, name))


def section_history(b, counts):
    print("\n## history: `run` of 20 steps and `runs`, as past runs accumulate\n")
    path = b.write("hist.toml", chain_of_true("hist", 20))
    seed_root = os.path.join(b.dir, "hist-seed")
    b.once(b.rb("run", path, "--json", "--no-notify"), env=dict(b.env, RUNBOOK_RUNS=seed_root))
    template = run_folder(seed_root)
    print("| past runs | run | × none | run RSS | first run's RSS | runs | runs RSS | runs, no index |")
    print("|---:|---:|---:|---:|---:|---:|---:|---:|")
    base = None
    for n in [0, *counts]:
        root = os.path.join(b.dir, f"hist-{n}")
        os.makedirs(root)
        fill_history(root, template, n)
        env = dict(b.env, RUNBOOK_RUNS=root)
        # Each timed run adds a run to the history; 1 in 1,000 is noise.
        run, cold_rss = b.median(b.rb("run", path, "--json", "--no-notify"), env=env)
        # The warm-up is the first run over this history (it reads every past journal once to
        # start the caches); what a run costs from then on is a run after it.
        _, run_rss = b.once(b.rb("run", path, "--json", "--no-notify"), env=env, rss=True)
        runs, runs_rss = b.median(b.rb("runs"), env=env, ok=(0,))
        index = os.path.join(root, ".history-index.json")
        cold, _ = b.median(b.rb("runs"), env=env,
                           before=lambda: os.path.exists(index) and os.remove(index))
        base = base or run
        print(f"| {n:,} | {ms(run)} | {run / base:.2f} | {mib(run_rss)} | {mib(cold_rss)} "
              f"| {ms(runs)} | {mib(runs_rss)} | {ms(cold)} |")
        b.save(f"history/{n}", {"run": run, "ratio": run / base, "run_rss": run_rss,
                                "first_run_rss": cold_rss,
                                "runs": runs, "runs_rss": runs_rss, "runs_cold": cold})
        shutil.rmtree(root)


def section_output(b, size_mib):
    size = size_mib * 1024 * 1024
    line = "x" * 99
    cases = [
        ("100-byte lines", f"yes {line} | head -c {size}", False),
        ("no newline", f"head -c {size} /dev/zero", False),
        ("100-byte lines, a secret declared", f"yes {line} | head -c {size}", True),
    ]
    print(f"\n## output: one step printing {size_mib} MiB, against `sh -c 'CMD > file'`\n")
    print("| output | `sh -c 'CMD > file'` | runbook | ratio | runbook RSS |")
    print("|---|---:|---:|---:|---:|")
    target = os.path.join(b.dir, "out.bin")
    root = os.path.join(b.dir, "out-runs")
    env = dict(b.env, RUNBOOK_RUNS=root, BENCH_TOKEN="s3cr3t-t0ken-value")
    reps = max(1, b.reps // 2)
    for name, cmd, secret in cases:
        pb = head("out", secrets=secret) + f'\n[[steps]]\nid = "print"\nrun = {json.dumps(cmd)}\n'
        path = b.write("out.toml", pb)
        clean = lambda: shutil.rmtree(root, ignore_errors=True)
        # Both write a new file each time (truncating a 1 GiB file costs more than writing it).
        gone = lambda: os.path.exists(target) and os.remove(target)
        base, _ = b.median(["sh", "-c", f"{cmd} > {target}"], reps=reps, before=gone)
        t, rss = b.median(b.rb("run", path, "--json", "--no-notify"), reps=reps, env=env,
                          before=clean)
        print(f"| {name} | {ms(base)} | {ms(t)} | {t / base:.2f} | {mib(rss)} |")
        b.save(f"output/{name}", {"baseline": base, "runbook": t, "ratio": t / base, "rss": rss})
        gone()
    clean()


def section_engine(b):
    """W4 (start-up and one step) and W1 (per-step overhead), against shell loops."""
    print("\n## engine: start-up + one step, and a chain of 200 `true`\n")
    one = b.write("one.toml", chain_of_true("one", 1))
    chain = b.write("c200.toml", chain_of_true("c200", 200))
    root = os.path.join(b.dir, "engine-runs")
    env = dict(b.env, RUNBOOK_RUNS=root)
    clean = lambda: shutil.rmtree(root, ignore_errors=True)
    spawn, _ = b.median(["sh", "-c", "sh -c true"], reps=21)
    loop, _ = b.median(["sh", "-c", "i=0; while [ $i -lt 200 ]; do sh -c true; i=$((i+1)); done"],
                       reps=b.reps)
    t1, rss1 = b.median(b.rb("run", one, "--json", "--no-notify"), reps=21, env=env, before=clean)
    t200, _ = b.median(b.rb("run", chain, "--json", "--no-notify"), reps=b.reps, env=env,
                       before=clean)
    print("| what | runbook | baseline | ratio |\n|---|---:|---:|---:|")
    print(f"| start-up + one `true` step | {ms(t1)} | {ms(spawn)} (`sh -c 'sh -c true'`) "
          f"| {t1 / spawn:.2f} |")
    # `just` (a task runner that keeps no record) and the same run with its syncs made no-ops
    # by libeatmydata, when they are installed: what the durable journal costs.
    extra = {}
    just = shutil.which("just")
    if just:
        justfile = b.write("justfile", "one:\n    true\n")
        t_just, _ = b.median([just, "--justfile", justfile, "one"], reps=21)
        print(f"| start-up + one `true` step | {ms(t1)} | {ms(t_just)} (`just`, a recipe of "
              f"`true`) | {t1 / t_just:.2f} |")
        extra["just"] = t_just
    eat = next((p for p in ("/usr/lib/x86_64-linux-gnu/libeatmydata.so", "/usr/lib/libeatmydata.so")
                if os.path.exists(p)), None)
    if eat:
        nosync, _ = b.median(b.rb("run", one, "--json", "--no-notify"), reps=21,
                             env=dict(env, LD_PRELOAD=eat), before=clean)
        print(f"| start-up + one step, fsync a no-op (libeatmydata) | {ms(nosync)} | "
              f"{ms(spawn)} | {nosync / spawn:.2f} |")
        extra["one_nosync"] = nosync
    print(f"| 200 `true` in a chain | {ms(t200)} | {ms(loop)} (200 × `sh -c true` in sh) "
          f"| {t200 / loop:.2f} |")
    print(f"| per step over the loop | {(t200 - loop) / 200 * 1e3:.2f} ms | | |")
    b.save("engine", {"one": t1, "one_rss": rss1, "spawn": spawn, "chain200": t200, "loop200": loop,
                      **extra})
    clean()


def section_check(b):
    """A health check with interval 100 ms whose probe starts passing 1 s into the run: the
    attempts' spacing and how late the passing attempt starts."""
    print("\n## check: interval 100 ms, the probe passes from 1 s on\n")
    ready = os.path.join(b.dir, "ready")
    pb = head("chk") + f"""
[[steps]]
id = "up"
run = "true"
verify = [{{ command = "test -e {ready}", interval = "100ms", timeout = "30s" }}]
"""
    path = b.write("chk.toml", pb)
    root = os.path.join(b.dir, "chk-runs")
    env = dict(b.env, RUNBOOK_RUNS=root)
    import datetime as dt
    lateness, spacing = [], []
    for _ in range(b.reps):
        shutil.rmtree(root, ignore_errors=True)
        if os.path.exists(ready):
            os.remove(ready)
        p = subprocess.Popen(b.rb("run", path, "--json", "--no-notify"), env=env,
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=b.dir)
        time.sleep(1.0)
        open(ready, "w").close()
        made = dt.datetime.now(dt.timezone.utc)
        p.wait()
        with open(os.path.join(run_folder(root), "journal.jsonl")) as f:
            events = [json.loads(line) for line in f if line.strip()]
        starts = []
        for e in events:
            if e.get("event") == "check_attempt":
                ts = dt.datetime.fromisoformat(e["ts"].replace("Z", "+00:00"))
                starts.append((ts - dt.timedelta(milliseconds=e["duration_ms"]), e["passed"]))
        gaps = [(b2 - a2).total_seconds() for (a2, _), (b2, _) in zip(starts, starts[1:])]
        spacing.extend(gaps)
        passed = next(t for t, ok in starts if ok)
        lateness.append((passed - made).total_seconds())
    late, gap = statistics.median(lateness), statistics.median(spacing)
    print("| figure | median |\n|---|---:|")
    print(f"| attempt start to next attempt start | {ms(gap)} |")
    print(f"| probe passing to the attempt that saw it | {ms(late)} |")
    b.save("check", {"spacing": gap, "late": late})


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--bin", default=os.path.join(
        os.environ.get("CARGO_TARGET_DIR", "target"), "release", "runbook"))
    ap.add_argument("--quick", action="store_true", help="sizes 1k/10k only")
    ap.add_argument("--big-runs", action="store_true", help="also run a 100k-step chain")
    ap.add_argument("--only", default="model,run,history,output,engine,check")
    ap.add_argument("--reps", type=int, default=5)
    ap.add_argument("--output-mib", type=int, default=1024)
    ap.add_argument("--save", help="write the figures as JSON to this file")
    args = ap.parse_args()
    if not os.access(args.bin, os.X_OK):
        sys.exit(f"scale: no binary at {args.bin}: run `cargo build --release` first")
    b = Bench(args)
    sizes = [1000, 10_000] if args.quick else [1000, 10_000, 100_000]
    run_sizes = [1000, 10_000, 100_000] if args.big_runs else [1000, 10_000]
    print(f"# runbook scale study: {args.bin}")
    print(f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.2f}, "
          f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}")
    started = time.time()
    try:
        for section in args.only.split(","):
            if section == "model":
                section_model(b, sizes)
            elif section == "run":
                section_run(b, run_sizes)
            elif section == "history":
                section_history(b, [10, 100, 1000])
            elif section == "output":
                section_output(b, args.output_mib)
            elif section == "engine":
                section_engine(b)
            elif section == "check":
                section_check(b)
            else:
                sys.exit(f"scale: unknown section `{section}` "
                         "(model, run, history, output, engine, check)")
    finally:
        shutil.rmtree(b.dir, ignore_errors=True)
    print(f"\nfinished in {time.time() - started:.0f} s, load average {os.getloadavg()[0]:.2f}")
    if args.save:
        with open(args.save, "w") as f:
            json.dump(b.results, f, indent=1)


if __name__ == "__main__":
    main()
