"""Top 20 words of a word count: the second job of a two-job pipeline.

    mr submit jobs/wordcount.py --input /data --output /out/wc
    mr submit jobs/topk.py --input /out/wc --output /out/top
    (locally: mr run-local jobs/topk.py --input /tmp/wc --output /tmp/top)

Input: word count output, lines `word<TAB>count` (the _SUCCESS marker is skipped like every
name starting with "_"). -D k=N changes how many (default 20).

Output (one reducer): lines `RANK<TAB>word<TAB>count`, RANK zero-padded (01, 02, ...) so the
keys ascend; by count descending, ties by word ascending. The combiner keeps each map's own
top K, so only K records per map reach the reducer.
"""

import heapq

from mr.api import increment_counter

NUM_REDUCERS = 1
_k = 20


def setup(params):
    global _k
    _k = int(params.get("k", "20"))


def mapper(key, line):
    word, sep, count = line.rpartition("\t")
    if not sep or not count.strip().isdigit():
        increment_counter("malformed_lines")
        return
    yield "top", (int(count), word)


def _top(values):
    # Largest count first; for equal counts the smaller word first.
    return heapq.nsmallest(_k, values, key=lambda cw: (-cw[0], cw[1]))


def combiner(key, values):
    for value in _top(values):
        yield key, value


def reducer(key, values):
    top = _top(values)
    width = len(str(len(top))) if top else 1
    width = max(width, 2)
    for rank, (count, word) in enumerate(top, 1):
        yield f"{rank:0{width}d}", f"{word}\t{count}"
