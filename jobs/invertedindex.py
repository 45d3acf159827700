"""Inverted index: for each word, the sorted list of files it occurs in.

    mr submit jobs/invertedindex.py --input /data --output /out/index
    mr run-local jobs/invertedindex.py --input data/sample --output /tmp/index

INPUT_FORMAT = "files": each map reads one whole file (key = its path). Words are runs of
letters (`[A-Za-z]+`), lower-cased. Output lines: `word<TAB>N<TAB>path1,path2,...` where N
is the number of files and the paths are sorted and comma-joined (paths as given to the job:
GFS paths in the cluster, local paths with run-local).
"""

import re

INPUT_FORMAT = "files"

_WORD = re.compile(r"[A-Za-z]+")


def mapper(path, text):
    for word in sorted({w.lower() for w in _WORD.findall(text)}):
        yield word, path


def reducer(word, paths):
    files = sorted(set(paths))
    yield word, f"{len(files)}\t{','.join(files)}"
