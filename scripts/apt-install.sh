#!/usr/bin/env bash
# Install Debian packages non-interactively, with sudo when not root.
# Exit 3 (after one clear line) when that is impossible here: no apt-get, or neither root
# nor sudo. Used by the Makefile for python3-venv and zookeeper.
set -euo pipefail

if [ "$#" -eq 0 ]; then
    echo "usage: $0 PACKAGE..." >&2
    exit 2
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "apt-install: no apt-get on this machine; cannot install: $*" >&2
    exit 3
fi
if [ "$(id -u)" -eq 0 ]; then
    SUDO=()
elif command -v sudo >/dev/null 2>&1; then
    SUDO=(sudo)
else
    echo "apt-install: not root and no sudo; cannot install: $*" >&2
    exit 3
fi
export DEBIAN_FRONTEND=noninteractive
echo "apt-install: installing $* (apt-get update first)"
"${SUDO[@]}" apt-get update -q
"${SUDO[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"
