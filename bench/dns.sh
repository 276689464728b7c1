#!/usr/bin/env bash
# bench/dns.sh: wall time per single DNS query, `netdoctor dns` against `dig`, in the same run, on a
# client — server pair of network namespaces this script creates and removes (dnsmasq serves the name).
# It also compares the latency netdoctor reports with the query→answer time on the wire (tcpdump in
# the client namespace). Run as root. Usage: bench/dns.sh [ROUNDS]   (default 30)
# NETDOCTOR=/path/to/netdoctor uses that binary instead of building one.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-30}
tag=ndb$$
cli=${tag}c srv=${tag}s
tmp=$(mktemp -d /tmp/${tag}.XXXXXX)
dnsmasq_pid="" tcpdump_pid=""
cleanup() {
  [ -n "$tcpdump_pid" ] && kill "$tcpdump_pid" 2>/dev/null && wait "$tcpdump_pid" 2>/dev/null || true
  [ -n "$dnsmasq_pid" ] && kill "$dnsmasq_pid" 2>/dev/null && wait "$dnsmasq_pid" 2>/dev/null || true
  ip netns del "$cli" 2>/dev/null || true
  ip netns del "$srv" 2>/dev/null || true
  rm -rf "/etc/netns/$cli" "$tmp"
  rmdir /etc/netns 2>/dev/null || true
}
trap cleanup EXIT INT TERM

bin=${NETDOCTOR:-}
if [ -z "$bin" ]; then
  bin=$tmp/netdoctor
  CGO_ENABLED=0 go build -o "$bin" .
fi

ip netns add "$cli"; ip netns add "$srv"
ip -n "$cli" link set lo up; ip -n "$srv" link set lo up
ip -n "$cli" link add c0 type veth peer name s0 netns "$srv"
ip -n "$cli" link set c0 up; ip -n "$srv" link set s0 up
ip -n "$cli" addr add 10.53.0.1/24 dev c0; ip -n "$srv" addr add 10.53.0.2/24 dev s0
mkdir -p "/etc/netns/$cli"
printf 'search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.53.0.2\noptions ndots:5\n' \
  >"/etc/netns/$cli/resolv.conf"
ip netns exec "$srv" dnsmasq --no-resolv --no-hosts --host-record=web.default.svc.cluster.local,10.96.0.20 \
  --listen-address=10.53.0.2 \
  --bind-interfaces --keep-in-foreground --pid-file= --port=53 2>"$tmp/dnsmasq.log" &
dnsmasq_pid=$!
ready=""
for _ in $(seq 100); do   # readiness: the server answers a query
  if ip netns exec "$cli" dig +short +tries=1 +time=1 @10.53.0.2 web.default.svc.cluster.local | grep -q 10.96.0.20; then
    ready=1; break
  fi
  sleep 0.05
done
[ -n "$ready" ] || { echo "dnsmasq did not answer:" >&2; cat "$tmp/dnsmasq.log" >&2; exit 1; }

name=web.default.svc.cluster.local.
ip netns exec "$cli" tcpdump -i c0 -n -tt -l udp port 53 >"$tmp/wire.txt" 2>/dev/null &
tcpdump_pid=$!
sleep 1   # tcpdump has no readiness signal on stdout; give it time to attach

ms() { echo $(( ($2 - $1) / 1000 )); }   # ns → µs
: >"$tmp/nd.txt"; : >"$tmp/dig.txt"; : >"$tmp/ndlat.txt"
for i in $(seq "$rounds"); do
  # Alternate which tool goes first.
  for tool in $([ $((i % 2)) = 0 ] && echo "nd dig" || echo "dig nd"); do
    if [ "$tool" = nd ]; then
      t0=$(date +%s%N); "$bin" dns "$name" --netns "$cli" -o json >"$tmp/nd.json" || { echo "netdoctor dns failed:" >&2; cat "$tmp/nd.json" >&2; exit 1; }; t1=$(date +%s%N)
      ms "$t0" "$t1" >>"$tmp/nd.txt"
      python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["queries"][0]["latencyMs"])' "$tmp/nd.json" >>"$tmp/ndlat.txt"
    else
      t0=$(date +%s%N); ip netns exec "$cli" dig +short @10.53.0.2 "$name" >/dev/null; t1=$(date +%s%N)
      ms "$t0" "$t1" >>"$tmp/dig.txt"
    fi
  done
done
sleep 1.2   # let tcpdump read the last packets
kill "$tcpdump_pid"; wait "$tcpdump_pid" 2>/dev/null || true; tcpdump_pid=""

python3 - "$tmp" "$rounds" <<'PY'
import re, statistics, sys
tmp, rounds = sys.argv[1], int(sys.argv[2])
def load(f): return [float(l) for l in open(f"{tmp}/{f}") if l.strip()]
def pct(xs, p): xs = sorted(xs); return xs[min(len(xs)-1, int(round(p*(len(xs)-1))))]
nd, dig, ndlat = [x/1000 for x in load("nd.txt")], [x/1000 for x in load("dig.txt")], load("ndlat.txt")
# Wire: query → answer per (client port, id), from tcpdump in the client namespace.
# dig sends EDNS ("[1au]" in tcpdump's line), netdoctor does not: that tells their queries apart.
sent, wire, wiredig = {}, [], []
for l in open(f"{tmp}/wire.txt"):
    m = re.match(r"(\d+\.\d+) IP 10\.53\.0\.1\.(\d+) > 10\.53\.0\.2\.53: (\d+)", l)
    if m: sent[(m[2], m[3])] = (float(m[1]), "[1au]" in l); continue
    m = re.match(r"(\d+\.\d+) IP 10\.53\.0\.2\.53 > 10\.53\.0\.1\.(\d+): (\d+)", l)
    if m and (m[2], m[3]) in sent:
        t0, isdig = sent.pop((m[2], m[3]))
        (wiredig if isdig else wire).append((float(m[1]) - t0) * 1000)
print(f"rounds: {rounds} (alternating order), name {'web.default.svc.cluster.local.'} A, dnsmasq in a netns")
print(f"wall per query  netdoctor dns --netns: median {statistics.median(nd):.1f} ms  p90 {pct(nd,.9):.1f} ms  max {max(nd):.1f} ms")
print(f"wall per query  ip netns exec dig:     median {statistics.median(dig):.1f} ms  p90 {pct(dig,.9):.1f} ms  max {max(dig):.1f} ms")
print(f"reported latency netdoctor:            median {statistics.median(ndlat):.3f} ms  p90 {pct(ndlat,.9):.3f} ms")
if wire:
    print(f"wire query→answer of netdoctor's queries (tcpdump, {len(wire)} pairs): median {statistics.median(wire):.3f} ms  p90 {pct(wire,.9):.3f} ms")
if wiredig:
    print(f"wire query→answer of dig's queries (tcpdump, {len(wiredig)} pairs): median {statistics.median(wiredig):.3f} ms")
if wire:
    print(f"ratio reported/wire (medians): {statistics.median(ndlat)/statistics.median(wire):.2f}")
PY
