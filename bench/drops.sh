#!/usr/bin/env bash
# bench/drops.sh: CPU of `netdoctor drops` while the kernel drops a steady UDP flood, on a pair of
# network namespaces this script creates and removes. iperf3 sends 64-byte UDP datagrams from ns A
# to ns B at RATE packets/s (default 100000; RATE=0: the machine's ceiling) for SECS seconds; an
# iptables DROP rule in B drops every one (NETFILTER_DROP). The tracer watches B only (--netns) and
# keeps only the aggregate (--summary -o json). Per run: datagrams sent (iperf3), drops reported,
# drops lost (ring buffer full), the tracer process's CPU time (on-CPU ns over its threads from
# /proc/PID/task/*/schedstat), CPU µs per drop and the share of one core. A second row per round
# runs with a filter that matches no datagram ('udp port 9'): the cost of events filtered in user
# space. A "none" row per round runs the flood without a tracer: with RATE=0 (the ceiling) the
# difference in datagrams sent is the kernel-side cost of the program. Run as root. Usage: bench/drops.sh [ROUNDS] (default 3). Env: SECS (default 8), RATE,
# NETDOCTOR=/path/to/netdoctor uses that binary instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
secs=${SECS:-8}
rate=${RATE:-100000}
tag=ndbd$$
a=${tag}a b=${tag}b
tmp=$(mktemp -d /tmp/${tag}.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null || true; done
  ip netns del "$a" 2>/dev/null || true
  ip netns del "$b" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT INT TERM
bin=${NETDOCTOR:-}
if [ -z "$bin" ]; then
  bin=$tmp/netdoctor
  CGO_ENABLED=0 go build -o "$bin" .
fi

ip netns add "$a"; ip netns add "$b"
for n in "$a" "$b"; do
  ip -n "$n" link set lo up
  ip netns exec "$n" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1
done
ip -n "$a" link add va type veth peer name vb netns "$b"
ip -n "$a" addr add 10.79.0.1/24 dev va; ip -n "$b" addr add 10.79.0.2/24 dev vb
ip -n "$a" link set va up; ip -n "$b" link set vb up
ip netns exec "$a" ping -c 1 -W 2 10.79.0.2 >/dev/null
# Only the 64-byte data datagrams (IP length 92): iperf3's 4-byte UDP hello must pass.
ip netns exec "$b" iptables -A INPUT -p udp --dport 5201 -m length --length 92 -j DROP

wait_line() {
  for _ in $(seq 400); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.025; done
  echo "no '$2' in $1:" >&2; cat "$1" >&2; return 1
}
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { printf "%d\n", s }'; }

bw=0
[ "$rate" -gt 0 ] && bw=$(( rate * 64 * 8 ))

# none LABEL: the same flood without a tracer (the sender's rate when nothing traces).
none() {
  ip netns exec "$b" iperf3 -s -1 >/dev/null 2>&1 &
  local srv=$!
  pids+=("$srv")
  sleep 0.3
  ip netns exec "$a" iperf3 -c 10.79.0.2 -u -b "$bw" -l 64 -t "$secs" -J >"$tmp/iperf.json" 2>&1 || true
  wait "$srv" 2>/dev/null || true
  printf "%-8s %10s %10s %8s %10s %10s %8s\n" "$1" "$(jq -r '.end.sum.packets' "$tmp/iperf.json")" - - - - -
}

# one LABEL [FILTER]: one tracer run during one flood; prints a result row.
one() {
  local label=$1 f=${2:-} err=$tmp/err out=$tmp/out.json pid
  : >"$err"
  ip netns exec "$b" iperf3 -s -1 >/dev/null 2>&1 &
  local srv=$!
  pids+=("$srv")
  # shellcheck disable=SC2086
  "$bin" drops --netns "$b" --summary -o json -c 0 --duration 10m $f >"$out" 2>"$err" &
  pid=$!
  pids+=("$pid")
  wait_line "$err" "tracing kernel drops"
  local t0; t0=$(cpu_ns "$pid")
  ip netns exec "$a" iperf3 -c 10.79.0.2 -u -b "$bw" -l 64 -t "$secs" -J >"$tmp/iperf.json" 2>&1 || true
  sleep 1
  local t1; t1=$(cpu_ns "$pid")
  kill -INT "$pid"; wait "$pid" || true
  wait "$srv" 2>/dev/null || true
  local sent count lost
  sent=$(jq -r '.end.sum.packets' "$tmp/iperf.json" 2>/dev/null || echo "?")
  count=$(jq -r '.count' "$out"); lost=$(jq -r '.lost' "$out")
  local cpu_us=$(( (t1 - t0) / 1000 ))
  local per="n/a" share
  [ "${sent:-0}" != "?" ] && [ "$sent" -gt 0 ] && per=$(awk -v c="$cpu_us" -v n="$sent" 'BEGIN { printf "%.3f", c / n }')
  share=$(awk -v c="$cpu_us" -v s="$secs" 'BEGIN { printf "%.1f%%", c / (s * 1e6) * 100 }')
  printf "%-8s %10s %10s %8s %10s %10s %8s\n" "$label" "$sent" "$count" "$lost" "$cpu_us" "$per" "$share"
}

echo "# rate=$rate/s secs=$secs rounds=$rounds kernel=$(uname -r) cpus=$(nproc)"
printf "%-8s %10s %10s %8s %10s %10s %8s\n" "# run" sent reported lost "cpu_us" "us/drop" "core"
for r in $(seq "$rounds"); do
  none "none-$r"
  one "all-$r"
  one "filt-$r" "udp port 9"
done
