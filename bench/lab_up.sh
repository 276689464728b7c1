#!/usr/bin/env bash
# bench/lab_up.sh: wall time of `netdoctor lab up` (and `lab down`) for the default 3-node lab and for
# 20 nodes x 10 extra pods. Goals (issue 5): 3 nodes <= 3 s, 20x10 <= 30 s. Each lab lives in its own
# namespaces named after a per-run lab name, its state in a temporary directory removed at exit.
# Run as root. Usage: bench/lab_up.sh [ROUNDS]   (default 5)
# NETDOCTOR=/path/to/netdoctor uses that binary instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5}
name=ndb$$
tmp=$(mktemp -d /tmp/ndb$$.XXXXXX)
bin=${NETDOCTOR:-}
export NETDOCTOR_LAB_DIR=$tmp/labs
cleanup() {
  [ -x "${bin:-}" ] && "$bin" lab down --name "$name" >/dev/null 2>&1 || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
if [ -z "$bin" ]; then
  bin=$tmp/netdoctor
  CGO_ENABLED=0 go build -o "$bin" .
fi
now() { date +%s.%N; }
run() { # label, args...
  local label=$1; shift
  local ups=() downs=()
  for ((i = 0; i < rounds; i++)); do
    local t0 t1 t2
    t0=$(now); "$bin" lab up --name "$name" "$@" >/dev/null
    t1=$(now); "$bin" lab down --name "$name" >/dev/null
    t2=$(now)
    ups+=("$(echo "$t1 - $t0" | bc)"); downs+=("$(echo "$t2 - $t1" | bc)")
  done
  printf '%-10s up   min %s  median %s  max %s s\n' "$label" $(printf '%s\n' "${ups[@]}" | sort -n | awk '{a[NR]=$1} END {print a[1], a[int((NR+1)/2)], a[NR]}')
  printf '%-10s down min %s  median %s  max %s s\n' "$label" $(printf '%s\n' "${downs[@]}" | sort -n | awk '{a[NR]=$1} END {print a[1], a[int((NR+1)/2)], a[NR]}')
}
echo "rounds=$rounds load: $(cut -d' ' -f1-3 /proc/loadavg)"
run "3 nodes"
run "20x10" --nodes 20 --pods 10
