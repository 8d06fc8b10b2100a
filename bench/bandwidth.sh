#!/usr/bin/env bash
# The machine's read bandwidth with 1 and 2 (or N) threads: bench/bandwidth.c, built here
# into a temporary directory. Usage: bench/bandwidth.sh [MiB=1024] [max threads=2] [passes=5]
set -euo pipefail
cd "$(dirname "$0")"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
cc -O2 -pthread bandwidth.c -o "$work/bandwidth"
"$work/bandwidth" "${1:-1024}" "${2:-2}" "${3:-5}"
