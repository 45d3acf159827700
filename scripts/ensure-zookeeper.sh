#!/usr/bin/env bash
# Make sure a local ZooKeeper server can run (mr/zookeeper.py finds it), installing
# Debian's `zookeeper` package when its jars are missing.
#
#   scripts/ensure-zookeeper.sh [--config cluster.toml]
#
# With --config naming an ensemble in `[zookeeper] hosts`, nothing local is needed.
# When MR_ZOOKEEPER_HOME or MR_ZOOKEEPER_CLASSPATH is set, that choice is checked, never
# overridden by an install. Exit 1 with one clear message when nothing usable exists.
set -euo pipefail
cd "$(dirname "$0")/.."

PY=.venv/bin/python
if "$PY" -m mr.zookeeper check "$@"; then
    exit 0
fi
if [ -n "${MR_ZOOKEEPER_HOME:-}${MR_ZOOKEEPER_CLASSPATH:-}" ]; then
    echo "ensure-zookeeper: fix MR_ZOOKEEPER_HOME / MR_ZOOKEEPER_CLASSPATH (see above)" >&2
    exit 1
fi
status=0
scripts/apt-install.sh zookeeper || status=$?
if [ "$status" -eq 0 ] && "$PY" -m mr.zookeeper check "$@"; then
    exit 0
fi
cat >&2 <<MSG
ensure-zookeeper: no usable ZooKeeper server, and it could not be installed here
(the Debian package \`zookeeper\` needs apt-get and root or sudo). Either:
  - point the cluster at a running ensemble: in cluster.toml set
        [zookeeper]
        hosts = "host1:2181,host2:2181"
  - or point at a ZooKeeper installation (Java 17 runs it):
        export MR_ZOOKEEPER_HOME=/opt/zookeeper        # a directory with lib/*.jar
    or  export MR_ZOOKEEPER_CLASSPATH=/path/a.jar:/path/lib/*
    and, if java is not on PATH, export JAVA_HOME=/path/to/jdk
MSG
exit 1
