#!/usr/bin/env bash
# Create .venv with Python >= 3.11 unless a working one exists (PYTHON picks the interpreter).
# On Debian the venv module lives in the python3-venv package: install it when missing.
set -euo pipefail
cd "$(dirname "$0")/.."

PY="${PYTHON:-python3}"
if [ -x .venv/bin/python ] && .venv/bin/python -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
    exit 0
fi
if ! command -v "$PY" >/dev/null 2>&1; then
    echo "ensure-venv: $PY not found; install Python 3.11+ (apt-get install python3) or set PYTHON=" >&2
    exit 1
fi
if ! "$PY" -c 'import sys; assert sys.version_info >= (3, 11)' 2>/dev/null; then
    echo "ensure-venv: $PY is $("$PY" -V 2>&1); this project needs Python 3.11+ (set PYTHON=python3.11)" >&2
    exit 1
fi
if ! "$PY" -c 'import ensurepip, venv' 2>/dev/null; then
    version="$("$PY" -c 'import sys; print(f"{sys.version_info[0]}.{sys.version_info[1]}")')"
    scripts/apt-install.sh "python${version}-venv" || {
        echo "ensure-venv: $PY has no venv/ensurepip module; install python${version}-venv" >&2
        exit 1
    }
fi
rm -rf .venv
echo "ensure-venv: creating .venv with $("$PY" -V 2>&1)"
"$PY" -m venv .venv
