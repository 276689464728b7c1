#!/usr/bin/env bash
# bench/capture.sh: `netdoctor capture -w` against `tcpdump -w` on the same traffic, in the same run,
# on a pair of network namespaces this script creates and removes. A UDP flood of small packets
# (iperf3 -u -b 0 -l 64: the machine's ceiling) or a TCP stream (MODE=tcp) runs from ns A to ns B
# while one tool captures on B's veth; rounds alternate which tool goes first. Per run it records
# packets captured, received by filter, dropped by kernel, the capturing process's CPU time (on-CPU
# ns summed over its threads from /proc/PID/task/*/schedstat) and CPU µs per captured packet, plus
# "sent" (iperf3's packet count for UDP, bytes for TCP). FILTER adds a selective filter run: by
# default 'ip[5] & 127 = 0' matches ~1 packet in 128 (the low byte of the IP ID, which counts up).
# Run as root. Usage: bench/capture.sh [ROUNDS] (default 3). Env: SECS (traffic seconds, default 8),
# MODE (udp|tcp), SNAP (snapshot length for both tools, default 262144; a TCP stream at full
# snaplen is bound by the disk, use SNAP=96), NETDOCTOR=/path/to/netdoctor uses that binary instead
# of building one.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
secs=${SECS:-8}
mode=${MODE:-udp}
snap=${SNAP:-262144}
filter=${FILTER-ip[5] & 127 = 0}
tag=ndbc$$
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
ip -n "$a" addr add 10.78.0.1/24 dev va; ip -n "$b" addr add 10.78.0.2/24 dev vb
ip -n "$a" link set va up; ip -n "$b" link set vb up
ip netns exec "$a" ping -c 1 -W 2 10.78.0.2 >/dev/null

# wait_line FILE PATTERN: readiness, the capturing tool printed its "listening on" line.
wait_line() {
  for _ in $(seq 400); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.025; done
  echo "no '$2' in $1:" >&2; cat "$1" >&2; return 1
}

# cpu_ns PID: CPU time of a process in ns, summed over its threads (/proc/PID/task/*/schedstat:
# on-CPU ns, finer than the 10 ms ticks of utime+stime in /proc/PID/stat).
cpu_ns() { cat /proc/"$1"/task/*/schedstat | awk '{ s += $1 } END { printf "%d\n", s }'; }

# one TOOL LABEL [FILTER]: one capture during one traffic run; prints a result row.
one() {
  local tool=$1 label=$2 f=${3:-} out=$tmp/$1.pcap err=$tmp/$1.err pid
  rm -f "$out"; : >"$err"
  ip netns exec "$b" iperf3 -s -1 >/dev/null 2>&1 &
  local srv=$!
  pids+=("$srv")
  if [ "$tool" = tcpdump ]; then
    # shellcheck disable=SC2086
    ip netns exec "$b" tcpdump -i vb -nn -Z root -s "$snap" -w "$out" $f 2>"$err" &
  else
    # shellcheck disable=SC2086
    "$bin" capture --netns "$b" -i vb -s "$snap" -w "$out" --max-bytes 0 --duration 10m $f 2>"$err" &
  fi
  pid=$!
  pids+=("$pid")
  wait_line "$err" "listening on"
  local t0; t0=$(cpu_ns "$pid")
  if [ "$mode" = tcp ]; then
    ip netns exec "$a" iperf3 -c 10.78.0.2 -t "$secs" -J >"$tmp/iperf.json" 2>&1 || true
  else
    ip netns exec "$a" iperf3 -c 10.78.0.2 -u -b 0 -l 64 -t "$secs" -J >"$tmp/iperf.json" 2>&1 || true
  fi
  sleep 1   # benchmarks.md: stop at least 1 s after the traffic ends
  local t1; t1=$(cpu_ns "$pid")
  kill -INT "$pid"; wait "$pid" || true
  wait "$srv" 2>/dev/null || true
  local cap recv drop sent
  if [ "$tool" = tcpdump ]; then
    cap=$(awk '/packets captured/ {print $1}' "$err")
    recv=$(awk '/received by filter/ {print $1}' "$err")
    drop=$(awk '/dropped by kernel/ {print $1}' "$err")
  else
    read -r cap recv drop < <(sed -nE 's/^([0-9]+) packets captured, ([0-9]+) received by filter, ([0-9]+) dropped by kernel$/\1 \2 \3/p' "$err")
  fi
  sent=$(jq -r 'if .end.sum.packets then .end.sum.packets else .end.sum_sent.bytes end' "$tmp/iperf.json" 2>/dev/null || echo "?")
  local cpu_us=$(( (t1 - t0) / 1000 ))
  local per="n/a"
  [ "${cap:-0}" -gt 0 ] && per=$(awk -v c="$cpu_us" -v n="$cap" 'BEGIN { printf "%.3f", c / n }')
  printf "%-9s %-10s %10s %10s %8s %10s %9s %10s\n" "$label" "$tool" "$cap" "$recv" "$drop" "$sent" "$cpu_us" "$per"
}

echo "# mode=$mode snaplen=$snap secs=$secs rounds=$rounds filter='$filter' kernel=$(uname -r) cpus=$(nproc)"
printf "%-9s %-10s %10s %10s %8s %10s %9s %10s\n" "# run" tool captured received dropped sent "cpu_us" "us/pkt"
for r in $(seq "$rounds"); do
  order="tcpdump netdoctor"; [ $((r % 2)) = 0 ] && order="netdoctor tcpdump"
  for tool in $order; do one "$tool" "all-$r"; done
  if [ -n "$filter" ]; then
    for tool in $order; do one "$tool" "filt-$r" "$filter"; done
  fi
done
