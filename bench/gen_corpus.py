#!/usr/bin/env python3
"""Deterministic English-like corpus generator for word-count benchmarks.

    python gen_corpus.py --mb 256 --out corpus.txt

Properties (all fixed by --seed, default 12345):
  * vocabulary of --vocab (default 50,000) distinct lowercase ASCII words:
    ~120 real English function words at the top ranks, then pseudo-words
    built from syllables (shorter words get the more frequent ranks);
  * word ranks drawn from a bounded Zipf distribution, p(k) ~ 1/k**s
    (s = --zipf, default 1.0);
  * each line holds 5..20 words (uniform), separated by a single space,
    terminated by '\n'; no punctuation, no upper case;
  * output is truncated at the last complete line so the file is
    <= mb * 2**20 bytes; the same arguments give a byte-identical file.

Needs numpy.  Generates 256 MiB in a few seconds.
"""

import argparse
import sys
import time

import numpy as np

FUNCTION_WORDS = (
    "the of and to a in is that it was for on are as with his they i at be "
    "this have from or one had by but not what all were we when your can said "
    "there use an each which she do how their if will up other about out many "
    "then them these so some her would make like him into time has look two "
    "more write go see number no way could people my than first water been "
    "call who oil its now find long down day did get come made may part over "
    "new sound take only little work know place year live me back give most "
    "very after thing our just name good sentence man think say great where "
    "help through much before line right too mean old any same tell boy "
    "follow came want show also around form three small set put end does "
    "another well large must big even such because turn here why ask went"
).split()

ONSETS = [
    "",
    "b",
    "c",
    "d",
    "f",
    "g",
    "h",
    "j",
    "k",
    "l",
    "m",
    "n",
    "p",
    "r",
    "s",
    "t",
    "v",
    "w",
    "y",
    "z",
    "bl",
    "br",
    "ch",
    "cl",
    "cr",
    "dr",
    "fl",
    "fr",
    "gl",
    "gr",
    "pl",
    "pr",
    "sh",
    "sl",
    "sm",
    "sn",
    "sp",
    "st",
    "str",
    "th",
    "tr",
    "wh",
    "qu",
    "sc",
    "sk",
    "sw",
]
VOWELS = ["a", "e", "i", "o", "u", "ea", "ou", "ai", "oo", "io", "ee", "y"]
CODAS = [
    "",
    "",
    "",
    "n",
    "r",
    "s",
    "t",
    "l",
    "m",
    "d",
    "ng",
    "st",
    "nd",
    "ck",
    "th",
    "sh",
    "rt",
    "nt",
    "x",
    "ll",
    "ss",
]


def build_vocab(n, rng):
    words = list(dict.fromkeys(FUNCTION_WORDS))
    seen = set(words)
    pseudo = []
    # syllable counts 1..4, weighted toward 2-3 like English content words
    while len(words) + len(pseudo) < n:
        m = 4 * (n - len(words) - len(pseudo)) + 1000
        nsyl = rng.choice([1, 2, 3, 4], size=m, p=[0.15, 0.40, 0.33, 0.12])
        on = rng.integers(0, len(ONSETS), size=(m, 4))
        vo = rng.integers(0, len(VOWELS), size=(m, 4))
        co = rng.integers(0, len(CODAS), size=(m, 4))
        for r in range(m):
            w = "".join(
                ONSETS[on[r, j]] + VOWELS[vo[r, j]] + CODAS[co[r, j]] for j in range(nsyl[r])
            )
            if w not in seen:
                seen.add(w)
                pseudo.append(w)
                if len(words) + len(pseudo) >= n:
                    break
    pseudo.sort(key=len)  # stable: shorter pseudo-words get the higher ranks
    return words + pseudo


def generate(mb, out, seed=12345, vocab_size=50_000, zipf_s=1.0, lines_per_chunk=400_000):
    rng = np.random.default_rng(seed)
    vocab = build_vocab(vocab_size, rng)
    enc = [w.encode("ascii") + b" " for w in vocab]
    lens = np.fromiter((len(e) for e in enc), dtype=np.int64, count=len(enc))
    starts = np.concatenate(([0], np.cumsum(lens)[:-1]))
    flat = np.frombuffer(b"".join(enc), dtype=np.uint8)

    ranks = np.arange(1, vocab_size + 1, dtype=np.float64)
    cdf = np.cumsum(1.0 / ranks**zipf_s)
    cdf /= cdf[-1]

    target = int(mb * 2**20)
    written = 0
    nl = ord("\n")
    with open(out, "wb") as f:
        while written < target:
            line_lens = rng.integers(5, 21, size=lines_per_chunk)
            ntok = int(line_lens.sum())
            idx = np.searchsorted(cdf, rng.random(ntok), side="right")
            np.minimum(idx, vocab_size - 1, out=idx)
            tl = lens[idx]
            ends = np.cumsum(tl)
            offs = ends - tl
            total = int(ends[-1])
            pos = np.repeat(starts[idx] - offs, tl)
            pos += np.arange(total, dtype=np.int64)
            buf = flat[pos]
            line_end_tok = np.cumsum(line_lens) - 1
            buf[ends[line_end_tok] - 1] = nl  # trailing space -> newline
            if written + total > target:
                cut = target - written
                last_nl = buf[:cut].tobytes().rfind(b"\n")
                buf = buf[: last_nl + 1]
                f.write(buf.tobytes())
                written += len(buf)
                break
            f.write(buf.tobytes())
            written += total
    return written


def main():
    ap = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    ap.add_argument("--mb", type=float, default=256, help="size in MiB (2**20 bytes)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--seed", type=int, default=12345)
    ap.add_argument("--vocab", type=int, default=50_000)
    ap.add_argument("--zipf", type=float, default=1.0)
    a = ap.parse_args()
    t0 = time.perf_counter()
    n = generate(a.mb, a.out, a.seed, a.vocab, a.zipf)
    dt = time.perf_counter() - t0
    print(f"wrote {n} bytes to {a.out} in {dt:.2f}s ({n / 2**20 / dt:.1f} MiB/s)", file=sys.stderr)


if __name__ == "__main__":
    main()
