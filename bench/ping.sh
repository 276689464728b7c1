#!/usr/bin/env bash
# bench/ping.sh — `netdoctor ping` against iputils `ping` in one run, on a client — router — server
# line of network namespaces this script creates and removes:
#   1. median RTT of each tool and of the wire (tcpdump echo request → reply on the client's veth);
#   2. loss each tool reports through a 30% iptables `statistic` DROP on the router, beside the number
#      of packets the rule really dropped during that tool's run.
# Run as root from the repository root:  bash bench/ping.sh   (N=400 probes per tool at 5 ms)
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-400}
ND=${ND:-}
tag="ndbp$$"
C="${tag}c" R="${tag}r" S="${tag}s"
work=$(mktemp -d /tmp/${tag}.XXXXXX)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  for n in "$C" "$R" "$S"; do ip netns del "$n" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM
for t in ping tcpdump iptables; do
  command -v "$t" >/dev/null || { echo "bench/ping: needs $t (bash scripts/deps.sh installs it)" >&2; exit 2; }
done
if [ -z "$ND" ]; then ND="$work/netdoctor"; CGO_ENABLED=0 go build -o "$ND" .; fi

for n in "$C" "$R" "$S"; do ip netns add "$n"; ip -n "$n" link set lo up; done
ip -n "$C" link add veth0 type veth peer name veth1 netns "$R"
ip -n "$R" link add veth2 type veth peer name veth3 netns "$S"
ip -n "$C" addr add 10.252.0.1/24 dev veth0; ip -n "$C" link set veth0 up
ip -n "$R" addr add 10.252.0.2/24 dev veth1; ip -n "$R" link set veth1 up
ip -n "$R" addr add 10.252.1.1/24 dev veth2; ip -n "$R" link set veth2 up
ip -n "$S" addr add 10.252.1.2/24 dev veth3; ip -n "$S" link set veth3 up
ip -n "$C" route add default via 10.252.0.2
ip -n "$S" route add default via 10.252.1.1
ip netns exec "$R" sysctl -qw net.ipv4.ip_forward=1
T=10.252.1.2
ip netns exec "$C" ping -c 1 -W 2 "$T" >/dev/null

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "nan"; exit} if (NR%2) print a[(NR+1)/2]; else printf "%.6f\n", (a[NR/2]+a[NR/2+1])/2}'; }
capture() {
  ip netns exec "$C" tcpdump -i veth0 -n -U -B 8192 -s 96 --time-stamp-precision=nano -w "$1" icmp 2>"$1.err" &
  pids+=($!); cap=$!
  for _ in $(seq 100); do grep -q "listening on" "$1.err" 2>/dev/null && return; sleep 0.05; done
  echo "bench/ping: tcpdump did not start" >&2; exit 2
}
stopcap() { sleep 1; kill -INT "$cap"; wait "$cap" 2>/dev/null || true; }
# wire FILE: echo request → reply time per (id, seq), in ms.
wire() {
  tcpdump -r "$1" -n -tt --time-stamp-precision=nano 2>/dev/null | awk '
    /ICMP echo request/ { match($0, /id [0-9]+, seq [0-9]+/); k = substr($0, RSTART, RLENGTH); req[k] = $1 }
    /ICMP echo reply/   { match($0, /id [0-9]+, seq [0-9]+/); k = substr($0, RSTART, RLENGTH); if (k in req) { printf "%.6f\n", ($1 - req[k]) * 1000; delete req[k] } }'
}

# 1. RTT, no loss.
capture "$work/nd.pcap"
ip netns exec "$C" "$ND" ping -c "$N" -i 5ms -o json "$T" >"$work/nd.json" || true
stopcap
capture "$work/ip.pcap"
ip netns exec "$C" ping -n -c "$N" -i 0.005 "$T" >"$work/ip.out" || true
stopcap
grep -o '"rttMs": [0-9.e-]*' "$work/nd.json" | awk '{print $2}' >"$work/nd.rtt"
grep -o 'time=[0-9.]*' "$work/ip.out" | cut -d= -f2 >"$work/ip.rtt"
echo "ping benchmark: $N probes per tool at 5 ms, client - router - server namespaces, $(nproc) cores, $(uname -r)"
printf '%-40s %10s %8s\n' "measure" "median ms" "samples"
printf '%-40s %10.4f %8d\n' "wire request->reply (netdoctor run)" "$(wire "$work/nd.pcap" | median)" "$(wire "$work/nd.pcap" | wc -l)"
printf '%-40s %10.4f %8d\n' "netdoctor ping" "$(median <"$work/nd.rtt")" "$(wc -l <"$work/nd.rtt")"
printf '%-40s %10.4f %8d\n' "wire request->reply (iputils run)" "$(wire "$work/ip.pcap" | median)" "$(wire "$work/ip.pcap" | wc -l)"
printf '%-40s %10.4f %8d\n' "iputils ping" "$(median <"$work/ip.rtt")" "$(wc -l <"$work/ip.rtt")"

# 2. Loss through a 30% random DROP of echo requests on the router.
ip netns exec "$R" iptables -w -A FORWARD -p icmp --icmp-type echo-request -m statistic --mode random --probability 0.3 -j DROP
drops() { ip netns exec "$R" iptables -w -L FORWARD -n -v -x | awk 'NR==3 {print $1}'; }
b=$(drops); ip netns exec "$C" "$ND" ping -c "$N" -i 5ms -W 1s "$T" >"$work/ndl.out" || true; nd_drop=$(( $(drops) - b ))
b=$(drops); ip netns exec "$C" ping -n -q -c "$N" -i 0.005 -W 1 "$T" >"$work/ipl.out" || true; ip_drop=$(( $(drops) - b ))
nd_loss=$(grep -o '[0-9.]*% packet loss' "$work/ndl.out" | cut -d% -f1)
ip_loss=$(grep -o '[0-9.]*% packet loss' "$work/ipl.out" | cut -d% -f1)
printf '%-40s %10s %14s\n' "30% random drop" "loss shown" "really dropped"
printf '%-40s %9s%% %14s\n' "netdoctor ping" "$nd_loss" "$nd_drop of $N"
printf '%-40s %9s%% %14s\n' "iputils ping" "$ip_loss" "$ip_drop of $N"
