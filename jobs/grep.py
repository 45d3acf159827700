"""Grep: the lines that match a regular expression.

    mr submit jobs/grep.py --input /data --output /out/grep -D pattern='whale|ship'
    mr run-local jobs/grep.py --input data/sample --output /tmp/grep -D pattern=Holmes

-D pattern=REGEX is required (Python `re` syntax, matched with re.search anywhere in the
line); -D ignore_case=1 makes it case-insensitive.

Output lines: `PATH:OFFSET<TAB>LINE`, where OFFSET is the byte offset of the line in its
file, zero-padded to 12 digits so that the keys sort as strings in (file, position) order:
each part lists its matches grouped by file, in file order. A user counter
"user.matching_lines" counts the matches.
"""

import re

from mr.api import identity_reducer as reducer  # noqa: F401 (the job's reducer)
from mr.api import increment_counter

_pattern = None


def setup(params):
    global _pattern
    if "pattern" not in params:
        raise ValueError("grep needs -D pattern=REGEX")
    flags = re.IGNORECASE if params.get("ignore_case", "") not in ("", "0", "false") else 0
    _pattern = re.compile(params["pattern"], flags)


def mapper(key, line):
    if _pattern.search(line):
        path, offset = key
        increment_counter("matching_lines")
        yield f"{path}:{offset:012d}", line
