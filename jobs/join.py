"""Reduce-side inner join of users and orders on the user id.

    mr submit jobs/join.py --input /shop/users.csv,/shop/orders.csv --output /out/joined
    mr run-local jobs/join.py --input users.csv,orders.csv --output /tmp/joined

Inputs are CSV-like lines: users `id,name`, orders `id,item` (split at the first comma;
surrounding spaces stripped; empty lines skipped). Which input is which is told by the file
name: names starting with "users" hold users, names starting with "orders" hold orders;
-D users=PREFIX and -D orders=PREFIX change those prefixes. Records of any other file are
skipped and counted in "user.skipped_records"; malformed lines in "user.malformed_lines".

Output: one line per (user, order) pair with the same id: `id<TAB>name<TAB>item`, sorted by
id (as a string) then name then item. Users without orders and orders without a user are
left out (inner join).
"""

import os

from mr.api import increment_counter

_prefixes = {"users": "users", "orders": "orders"}


def setup(params):
    _prefixes["users"] = params.get("users", "users")
    _prefixes["orders"] = params.get("orders", "orders")


def _side(path):
    name = os.path.basename(path)
    if name.startswith(_prefixes["users"]):
        return "U"
    if name.startswith(_prefixes["orders"]):
        return "O"
    return None


def mapper(key, line):
    side = _side(key[0])
    if side is None:
        increment_counter("skipped_records")
        return
    if not line.strip():
        return
    ident, sep, rest = line.partition(",")
    if not sep:
        increment_counter("malformed_lines")
        return
    yield ident.strip(), (side, rest.strip())


def reducer(ident, tagged):
    names, items = [], []
    for side, value in tagged:
        (names if side == "U" else items).append(value)
    for name in sorted(names):
        for item in sorted(items):
            yield ident, f"{name}\t{item}"
