#!/usr/bin/env python3
"""Compare two run folders' record (journal, logs, report.md, report.json) after redacting
what differs between any two runs: times, durations, offsets, run ids, process groups and the
folders' own paths. Exit 0 when the records are the same, 1 with the first differences.

    python3 bench/same_record.py RUN_FOLDER_A RUN_FOLDER_B
"""
import json
import os
import re
import sys

TS = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)?")
RUN_ID = re.compile(r"\d{8}T\d{6}Z-[A-Za-z0-9_.-]+-[0-9a-f]{4}\b")
# Durations as the report writes them: 3ms, 32.8s, 1m 05s, 2h 3m, +17ms.
DURATION = re.compile(r"\+?\b\d+(\.\d+)?(ms|s|m|h|d)\b( \d+(\.\d+)?(ms|s|m|h))*")
TIME_KEYS = re.compile(r"(^|_)(ms|at|ts|pgid|pid)$|^(ts|pgid|pid|started|ended|gap_ms)$")


def redact_text(text, folder):
    text = text.replace(os.path.abspath(folder), "<FOLDER>")
    text = RUN_ID.sub("<RUN>", text)
    text = TS.sub("<TS>", text)
    return DURATION.sub("<D>", text)


def redact_json(value, folder):
    if isinstance(value, dict):
        return {k: "<T>" if TIME_KEYS.search(k) and v is not None else redact_json(v, folder)
                for k, v in value.items()}
    if isinstance(value, list):
        return [redact_json(v, folder) for v in value]
    if isinstance(value, str):
        return redact_text(value, folder)
    return value


def record(folder):
    out = {}
    with open(os.path.join(folder, "journal.jsonl")) as f:
        out["journal.jsonl"] = [json.dumps(redact_json(json.loads(l), folder), sort_keys=True)
                                for l in f if l.strip()]
    with open(os.path.join(folder, "report.json")) as f:
        out["report.json"] = json.dumps(redact_json(json.load(f), folder), indent=1).splitlines()
    for name in ["report.md"] + sorted("logs/" + n for n in os.listdir(os.path.join(folder, "logs"))):
        with open(os.path.join(folder, name), errors="surrogateescape") as f:
            out[name] = redact_text(f.read(), folder).splitlines()
    return out


def main():
    a, b = sys.argv[1:3]
    ra, rb = record(a), record(b)
    bad = 0
    for name in sorted(set(ra) | set(rb)):
        la, lb = ra.get(name), rb.get(name)
        if la == lb:
            continue
        bad += 1
        if la is None or lb is None:
            print(f"{name}: only in {'b' if la is None else 'a'}")
            continue
        for i, (x, y) in enumerate(zip(la + [None] * len(lb), lb + [None] * len(la))):
            if x != y:
                print(f"{name}:{i + 1}:\n  a: {x}\n  b: {y}")
                break
        if bad > 10:
            break
    files = len(ra)
    print(f"{'same' if not bad else 'DIFFERENT'}: {files} files compared, {bad} differ")
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
