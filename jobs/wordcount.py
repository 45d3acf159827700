"""Word count: how often each whitespace-separated word occurs.

    mr submit jobs/wordcount.py --input /data --output /out/wc [--reducers 4]
    mr run-local jobs/wordcount.py --input data/sample --output /tmp/wc

Output lines: `word<TAB>count`. Words are `line.split()` tokens, case and punctuation kept.
The combiner (the reducer itself: sums are associative) shrinks map output to one record
per distinct word per map.
"""


def mapper(key, line):
    for word in line.split():
        yield word, 1


def combiner(word, counts):
    yield word, sum(counts)


def reducer(word, counts):
    yield word, sum(counts)
