"""Summarize py-spy raw (collapsed) stack files: where the CPU time went.

    .venv/bin/python bench/pyspy_summary.py [--rate 200] [--top 25] FILE...

A raw file holds one line per distinct stack: `frame;frame;...;frame COUNT`, root first;
with --subprocesses (or always, in recent py-spy) the first frame names the process as
`process PID:"command line"`. py-spy leaves idle threads out by default, so the counts are
samples of busy threads. Reported: samples and seconds per process, then the functions
with the most samples on top of the stack (self) and anywhere in it (inclusive), by
function and by source line.
"""

from __future__ import annotations

import argparse
import re
from collections import Counter
from pathlib import Path

_PROCESS = re.compile(r'^process (\d+):"(.*)"$')
_NAME = re.compile(r"--name (\S+)")


def process_label(frame: str) -> str | None:
    m = _PROCESS.match(frame)
    if not m:
        return None
    pid, cmd = m.groups()
    name = _NAME.search(cmd)
    if name:
        return name.group(1)
    if "multiprocessing.forkserver" in cmd:
        return f"forkserver {pid}"
    if "gfs put" in cmd or " put " in cmd:
        return "gfs put client"
    return f"pid {pid}: {cmd[:60]}"


def function_of(frame: str) -> str:
    """`func (file.py:123)` -> `func (file.py)`."""
    return re.sub(r":\d+\)$", ")", frame)


def split_frames(stack: str) -> list[str]:
    """The frames of a collapsed stack; a process frame's command line may hold ';'."""
    frames: list[str] = []
    for piece in stack.split(";"):
        last = frames[-1] if frames else ""
        if last.startswith("process ") and ':"' in last and not last.endswith('"'):
            frames[-1] = f"{last};{piece}"
        else:
            frames.append(piece)
    return frames


def load(paths: list[Path]) -> list[tuple[str, list[str], int]]:
    """(process label, code frames, count) per stack. Processes nest (a child under its
    parent); the innermost names the stack, and a forkserver's child is an attempt."""
    stacks = []
    for path in paths:
        if not path.exists():
            continue
        for line in path.read_text(errors="replace").splitlines():
            stack, _, count = line.rpartition(" ")
            if not stack or not count.isdigit():
                continue
            frames = split_frames(stack)
            labels = [process_label(f) for f in frames]
            named = [i for i, lab in enumerate(labels) if lab is not None]
            label = path.stem
            if named:
                inner = named[-1]
                label = labels[inner] or label
                if label.startswith("forkserver") and len(named) > 1:
                    outer = labels[named[-2]] or ""
                    if outer.startswith("forkserver"):
                        label = "attempt (forkserver child)"
                frames = [f for f, lab in zip(frames, labels, strict=True) if lab is None]
            stacks.append((label, frames, int(count)))
    return stacks


def summarize(paths: list[Path], title: str = "", rate: int = 200, top: int = 25) -> str:
    stacks = load(paths)
    total = sum(n for _, _, n in stacks)
    out = [f"== {title or ', '.join(p.name for p in paths)}"]
    if not total:
        return "\n".join([*out, "(no samples)", ""])
    out.append(
        f"{total} samples of non-idle threads at {rate} Hz = {total / rate:.1f} thread-seconds "
        "(a thread runnable but waiting for a core counts too, and py-spy takes some blocked "
        "waits for work: compare shares, not seconds)"
    )
    per_process: Counter[str] = Counter()
    self_fn: Counter[str] = Counter()
    self_line: Counter[str] = Counter()
    incl_fn: Counter[str] = Counter()
    for label, frames, n in stacks:
        per_process[label] += n
        if frames:
            self_fn[function_of(frames[-1])] += n
            self_line[frames[-1]] += n
        for fn in {function_of(f) for f in frames}:
            incl_fn[fn] += n

    def block(name: str, counts: Counter[str]) -> None:
        out.append(f"-- {name}")
        for key, n in counts.most_common(top):
            out.append(f"{n / total:6.1%} {n / rate:7.2f}s  {key[:150]}")

    block("per process", per_process)
    block("self, by function", self_fn)
    block("self, by line", self_line)
    block("inclusive, by function", incl_fn)
    return "\n".join(out) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("files", nargs="+", type=Path)
    ap.add_argument("--rate", type=int, default=200, help="py-spy --rate used (default 200)")
    ap.add_argument("--top", type=int, default=25)
    a = ap.parse_args()
    print(summarize(a.files, rate=a.rate, top=a.top))


if __name__ == "__main__":
    main()
