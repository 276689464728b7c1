#!/usr/bin/env bash
# bench/trace_mtu.sh: netdoctor trace / mtu against mtr / tracepath, side by side in one run.
#
# Builds client — r1 — r2 — server in network namespaces it creates and removes (middle link MTU
# 1400, as in the benchmark goals of docs/benchmarks.md), then measures wall time, probes on the wire (counted
# by an iptables rule in the client namespace) and the results of:
#   trace: mtr -n -r -c 10   vs  netdoctor trace -c 10
#   mtu:   tracepath -n      vs  netdoctor mtu              (frag-needed arrives)
#   mtu:   tracepath -n      vs  netdoctor mtu              (black hole: r1 drops frag-needed)
# Run as root. ND=/path/to/netdoctor uses a prebuilt binary; otherwise it is built into a temp dir.
# Nothing is changed outside the namespaces; everything is removed on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
[ "$(id -u)" = 0 ] || { echo "bench: run as root (network namespaces)" >&2; exit 2; }
for t in mtr tracepath iptables ip awk stdbuf; do command -v $t >/dev/null || { echo "bench: needs $t (bash scripts/deps.sh)" >&2; exit 2; }; done

P=ndbt$$
C=${P}c R1=${P}r1 R2=${P}r2 S=${P}s
TMP=$(mktemp -d)
cleanup() {
  for n in $C $R1 $R2 $S; do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

ND=${ND:-}
if [ -z "$ND" ]; then
  CGO_ENABLED=0 go build -o "$TMP/netdoctor" . && ND=$TMP/netdoctor
fi

# --- topology: client(10.250.0.1) r1 (10.250.0.2|10.250.1.1) r2 (10.250.1.2|10.250.2.1) server(10.250.2.2)
for n in $C $R1 $R2 $S; do ip netns add "$n"; ip -n "$n" link set lo up; done
link() { # ns1 if1 addr1 ns2 if2 addr2 mtu
  ip -n "$1" link add "$2" type veth peer name "$5" netns "$4"
  ip -n "$1" addr add "$3/24" dev "$2"; ip -n "$4" addr add "$6/24" dev "$5"
  ip -n "$1" link set "$2" mtu "$7" up; ip -n "$4" link set "$5" mtu "$7" up
}
link $C c0 10.250.0.1 $R1 r1a 10.250.0.2 1500
link $R1 r1b 10.250.1.1 $R2 r2a 10.250.1.2 1400
link $R2 r2b 10.250.2.1 $S s0 10.250.2.2 1500
for n in $R1 $R2; do ip netns exec "$n" sysctl -qw net.ipv4.ip_forward=1; done
ip -n $C route add default via 10.250.0.2
ip -n $R1 route add 10.250.2.0/24 via 10.250.1.2
ip -n $R2 route add 10.250.0.0/24 via 10.250.1.1
ip -n $S route add default via 10.250.2.1
DST=10.250.2.2
# Probe counters: every echo request and UDP datagram the client sends.
ip netns exec $C iptables -A OUTPUT -p icmp --icmp-type echo-request
ip netns exec $C iptables -A OUTPUT -p udp
ip netns exec $C iptables -A OUTPUT -p tcp --syn
probes() { ip netns exec $C iptables -L OUTPUT -v -x -n | awk 'NR>2{s+=$1} END{print s+0}'; }
zero() { ip netns exec $C iptables -Z OUTPUT; ip netns exec $C ip route flush cache 2>/dev/null || true; }
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", a / b }'; }
settle() { sleep 7; } # let every router's ICMP rate-limit bucket (6 messages, 1/s) refill

echo "== trace (10 rounds, ICMP)"
settle; zero; t0=$(now)
ip netns exec $C mtr -n -r -c 10 $DST >"$TMP/mtr.txt"
t1=$(now); mtr_s=$(secs "$t0" "$t1"); mtr_p=$(probes)
settle; zero; t0=$(now)
rc=0; ip netns exec $C "$ND" trace -c 10 $DST >"$TMP/nd.txt" || rc=$?
t1=$(now); nd_s=$(secs "$t0" "$t1"); nd_p=$(probes)
sed 's/^/  mtr | /' "$TMP/mtr.txt"; sed 's/^/  nd  | /' "$TMP/nd.txt"
mtr_hops=$(awk '/\|--/{print $2}' "$TMP/mtr.txt" | xargs); nd_hops=$(awk '/\|--/{print $2}' "$TMP/nd.txt" | xargs)
mtr_loss=$(awk '/\|--/{print $3}' "$TMP/mtr.txt" | xargs); nd_loss=$(awk '/\|--/{print $3}' "$TMP/nd.txt" | xargs)
echo "trace: mtr ${mtr_s}s ${mtr_p} probes hops [$mtr_hops] loss [$mtr_loss]"
echo "trace: netdoctor ${nd_s}s ${nd_p} probes hops [$nd_hops] loss [$nd_loss] exit $rc"
echo "trace: ratio netdoctor/mtr wall $(ratio "$nd_s" "$mtr_s") (goal <= 0.30), same hops: $([ "$mtr_hops" = "$nd_hops" ] && echo yes || echo NO)"

mtu_pair() { # label
  settle; zero; t0=$(now)
  # tracepath gives up on a hop after 3 silent probes; -m 6 bounds the black-hole run, stdbuf keeps
  # its lines if timeout has to stop it.
  timeout -s INT 40 ip netns exec $C stdbuf -oL tracepath -n -m 6 $DST >"$TMP/tp.txt" 2>&1 || true
  t1=$(now); tp_s=$(secs "$t0" "$t1"); tp_p=$(probes)
  settle; zero; t0=$(now)
  rc=0; ip netns exec $C "$ND" mtu $DST >"$TMP/ndm.txt" || rc=$?
  t1=$(now); nd_s=$(secs "$t0" "$t1"); nd_p=$(probes)
  sed 's/^/  tracepath | /' "$TMP/tp.txt"; sed 's/^/  nd        | /' "$TMP/ndm.txt"
  tp_pmtu=$(grep -o 'pmtu [0-9]*' "$TMP/tp.txt" | tail -1 | awk '{print $2}' || true)
  tp_reached=$(grep -c reached "$TMP/tp.txt" || true)
  echo "mtu ($1): tracepath ${tp_s}s ${tp_p} probes last pmtu ${tp_pmtu:-none}, reached: $([ "$tp_reached" -gt 0 ] && echo yes || echo no)"
  echo "mtu ($1): netdoctor ${nd_s}s ${nd_p} probes: $(grep -E '^(path MTU|black hole)' "$TMP/ndm.txt" | head -1 || true) exit $rc"
}
echo "== mtu (frag-needed arrives)"
mtu_pair frag-needed
echo "== mtu (black hole: r1 drops ICMP frag-needed)"
ip netns exec $R1 iptables -A OUTPUT -p icmp --icmp-type fragmentation-needed -j DROP
mtu_pair black-hole
