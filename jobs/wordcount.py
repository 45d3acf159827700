"""Word count: how often each whitespace-separated word occurs.

    mr submit jobs/wordcount.py --input /data --output /out/wc [--reducers 4]
    mr run-local jobs/wordcount.py --input data/sample --output /tmp/wc

Output lines: `word<TAB>count`. Words are `line.split()` tokens, case and punctuation kept.
The combiner (the reducer itself: sums are associative) shrinks map output to one record
per distinct word per map.

`mapper` says what the job does, one line at a time. `mapper_batch` does the same for a
whole batch of lines (up to 8 MiB) at C speed: the framework calls it instead of `mapper`
when it is defined, and it already counts the batch's words (in-mapper combining), which
the combiner then sums like any other partial counts.
"""

from collections import Counter
from itertools import chain


def mapper(key, line):
    for word in line.split():
        yield word, 1


def mapper_batch(keys, lines):
    return Counter(chain.from_iterable(map(str.split, lines))).items()


def reducer(word, counts):
    yield word, sum(counts)


combiner = reducer  # sums of sums: the reducer combines map output as well
