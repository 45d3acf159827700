"""Total-order sort: the output parts, concatenated, are the input lines sorted.

    mr submit jobs/sort.py --input /records --output /out/sorted --reducers 4
    mr run-local jobs/sort.py --input records.txt --output /tmp/sorted --reducers 4

Each line is a record: the text before its first tab is the sort key, the rest the value
(a line without a tab is all key, with an empty value). Output lines are `key<TAB>value`,
so a record with a tab comes out exactly as it went in (and one without gains a trailing
tab). Keys compare as Python strings (code point order, like `LC_ALL=C sort`); records with
equal keys keep their input order (files in the order given, lines in file order).

The partitioning is by ranges of keys, so part-00000 < part-00001 < ...: SAMPLE_KEYS below
makes the framework read a deterministic sample of the input when the job starts (the first
lines after 100 evenly spaced offsets), run it through the mapper, and cut the sorted sample
keys into R equal ranges (see mr/runtime.py sample_keys). The local runner and the cluster
compute the same boundaries, so their outputs are byte-identical.

`mapper_batch` is `mapper` over a whole batch of lines, at C speed (the framework calls it
instead of `mapper` when it is defined), and the reducer is mr.api's identity_reducer, which
the framework recognises: the merged records are written out with no call per record.
"""

from itertools import repeat

from mr.api import identity_reducer as reducer  # noqa: F401 (the job's reducer)

SAMPLE_KEYS = 1000


def mapper(key, line):
    k, _, v = line.partition("\t")
    yield k, v


def mapper_batch(keys, lines):
    return [(k, v) for k, _, v in map(str.partition, lines, repeat("\t"))]
