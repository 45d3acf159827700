#!/usr/bin/env bash
# `make demo`: start a local cluster from cluster.toml, store the sample texts in GFS, read
# them back, run jobs/wordcount.py, print the top 10 words and the counters, kill a worker
# during a second run and watch the job recover, then stop the cluster (also on failure).
set -euo pipefail
cd "$(dirname "$0")/.."

CONFIG="${CONFIG:-cluster.toml}"
MR=.venv/bin/mr
GFS=.venv/bin/gfs
export MR_CLUSTER="${MR_CLUSTER:-$(.venv/bin/python -c 'import sys; from gfs.config import load_config; print(load_config(sys.argv[1]).cluster.dir)' "$CONFIG")}"

step() { printf '\n== %s\n' "$*"; }

step "mr cluster start --config $CONFIG   (cluster dir: $MR_CLUSTER)"
"$MR" cluster start --config "$CONFIG"
trap 'step "mr cluster stop"; "$MR" cluster stop' EXIT
"$MR" cluster status

step "gfs put data/sample/*.txt /demo/input/"
"$GFS" mkdir -p /demo/input
"$GFS" put -f data/sample/*.txt /demo/input/
"$GFS" ls /demo/input

step "gfs stat /demo/input/pg-grimm.txt   (chunks and their replicas)"
"$GFS" stat /demo/input/pg-grimm.txt

step "gfs cat /demo/input/pg-metamorphosis.txt | head -n 12"
(set +o pipefail; "$GFS" cat /demo/input/pg-metamorphosis.txt | head -n 12)

step "gfs get: every file reads back byte-exact"
tmp="$(mktemp -d)"
for local in data/sample/*.txt; do
    "$GFS" get "/demo/input/$(basename "$local")" "$tmp/$(basename "$local")"
    cmp "$local" "$tmp/$(basename "$local")"
done
rm -rf "$tmp"
echo "all $(ls data/sample/*.txt | wc -l) files identical"

step "gfs fsck"
"$GFS" fsck /

out="/demo/wordcount-$(date +%s)"
step "mr submit jobs/wordcount.py --input /demo/input --output $out --reducers 3"
"$MR" submit jobs/wordcount.py --input /demo/input --output "$out" --reducers 3

step "top 10 words"
parts=("$out"/part-0000{0,1,2})  # GFS paths: the local shell cannot glob them
(set +o pipefail; "$GFS" cat "${parts[@]}" | sort -t "$(printf '\t')" -k2,2nr -k1,1 | head -n 10)

step "kill a worker in the middle of a job: the job still succeeds"
"$MR" submit jobs/wordcount.py --input /demo/input --output "$out-again" --reducers 3 --no-wait > /tmp/demo-job.$$
job="$(cat /tmp/demo-job.$$)"; rm -f /tmp/demo-job.$$
sleep 0.5
"$MR" cluster kill worker-1
for _ in $(seq 240); do  # at most 2 minutes
    state="$("$MR" status "$job" --json | .venv/bin/python -c 'import json,sys; print(json.load(sys.stdin)["state"])')"
    case "$state" in SUCCEEDED|FAILED|KILLED) break ;; esac
    sleep 0.5
done
(set +o pipefail; "$MR" status "$job" | head -n 12)
cmp <("$GFS" cat "${parts[@]}") <("$GFS" cat "$out-again"/part-0000{0,1,2}) && echo "output identical to the fault-free run"
"$MR" cluster restart worker-1
