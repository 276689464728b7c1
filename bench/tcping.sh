#!/usr/bin/env bash
# bench/tcping.sh — median TCP handshake RTT of `netdoctor tcping` against `hping3 -S` and the wire
# (tcpdump timestamps of SYN → SYN/ACK on the client's veth), from one run between two network
# namespaces this script creates and removes. Run as root from the repository root:
#
#   bash bench/tcping.sh            # N=200 attempts per tool at 10 ms
#   N=500 bash bench/tcping.sh
#
# Nothing touches the root namespace: the veth pair is created inside the client namespace.
set -euo pipefail
cd "$(dirname "$0")/.."
N=${N:-200}
PORT=${PORT:-8080}
ND=${ND:-}
tag="ndbt$$"
C="${tag}c" S="${tag}s"
work=$(mktemp -d /tmp/${tag}.XXXXXX)
pids=()

cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; wait "$p" 2>/dev/null || true; done
  ip netns del "$C" 2>/dev/null || true
  ip netns del "$S" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

for t in hping3 tcpdump socat ss; do
  command -v "$t" >/dev/null || { echo "bench/tcping: needs $t (bash scripts/deps.sh installs it)" >&2; exit 2; }
done
if [ -z "$ND" ]; then
  ND="$work/netdoctor"
  CGO_ENABLED=0 go build -o "$ND" . 
fi

ip netns add "$C"
ip netns add "$S"
ip -n "$C" link set lo up
ip -n "$S" link set lo up
ip -n "$C" link add veth0 type veth peer name veth1 netns "$S"
ip -n "$C" addr add 10.251.0.1/30 dev veth0
ip -n "$S" addr add 10.251.0.2/30 dev veth1
ip -n "$C" link set veth0 up
ip -n "$S" link set veth1 up

ip netns exec "$S" socat -u TCP-LISTEN:$PORT,bind=10.251.0.2,reuseaddr,fork OPEN:/dev/null &
pids+=($!)
for _ in $(seq 100); do
  ip netns exec "$S" ss -Hltn "sport = :$PORT" | grep -q LISTEN && break
  sleep 0.05
done
ip netns exec "$S" ss -Hltn "sport = :$PORT" | grep -q LISTEN || { echo "bench/tcping: listener did not start" >&2; exit 2; }
ip netns exec "$C" ping -c 1 -W 2 10.251.0.2 >/dev/null   # resolve the neighbour before timing

median() { sort -g | awk '{a[NR]=$1} END {if (NR==0) {print "nan"; exit} if (NR%2) print a[(NR+1)/2]; else printf "%.6f\n", (a[NR/2]+a[NR/2+1])/2}'; }

# capture FILE: start tcpdump on the client's veth for SYN and SYN/ACK only; wait until it listens.
# Not --immediate-mode: on a veth the whole handshake runs inside connect(2), and waking tcpdump per
# packet there adds ~0.02 ms to what is measured. The price: the last ring block may go unread when
# tcpdump is stopped, so a few of the last SYNs miss their pair (the medians are over the pairs).
capture() {
  ip netns exec "$C" tcpdump -i veth0 -n -U -B 8192 -s 96 --time-stamp-precision=nano -w "$1" \
    "tcp port $PORT and tcp[tcpflags] & tcp-syn != 0" 2>"$1.err" &
  pids+=($!)
  cap=$!
  for _ in $(seq 100); do grep -q "listening on" "$1.err" 2>/dev/null && return; sleep 0.05; done
  echo "bench/tcping: tcpdump did not start: $(cat "$1.err")" >&2; exit 2
}
stopcap() { sleep 1; kill -INT "$cap"; wait "$cap" 2>/dev/null || true; }
# wire FILE: SYN → SYN/ACK time per client port, in ms, one per line.
wire() {
  tcpdump -r "$1" -n -tt --time-stamp-precision=nano 2>/dev/null | awk -v port="$PORT" '
    / > 10\.251\.0\.2\.'"$PORT"': Flags \[S\]/ { split($3, a, "."); syn[a[5]] = $1 }
    /10\.251\.0\.2\.'"$PORT"' > .*Flags \[S\.\]/ { split($5, a, "."); p = a[5]; sub(":", "", p); if (p in syn) { printf "%.6f\n", ($1 - syn[p]) * 1000; delete syn[p] } }'
}

capture "$work/nd.pcap"
ip netns exec "$C" "$ND" tcping -c "$N" -i 10ms -W 1s -o json 10.251.0.2:$PORT >"$work/nd.json" || true
stopcap
grep -o '"rttMs": [0-9.e-]*' "$work/nd.json" | awk '{print $2}' >"$work/nd.rtt"
grep -o '"kernelRttMs": [0-9.e-]*' "$work/nd.json" | awk '{print $2}' >"$work/ndk.rtt"
wire "$work/nd.pcap" >"$work/ndwire.rtt"

capture "$work/hp.pcap"
ip netns exec "$C" hping3 -S -p "$PORT" -c "$N" -i u10000 10.251.0.2 >"$work/hp.out" 2>&1 || true
stopcap
grep -o 'rtt=[0-9.]*' "$work/hp.out" | cut -d= -f2 >"$work/hp.rtt"
wire "$work/hp.pcap" >"$work/hpwire.rtt"

nd=$(median <"$work/nd.rtt"); ndk=$(median <"$work/ndk.rtt"); ndw=$(median <"$work/ndwire.rtt")
hp=$(median <"$work/hp.rtt"); hpw=$(median <"$work/hpwire.rtt")
echo "tcping benchmark: $N attempts per tool at 10 ms, veth between two namespaces, $(nproc) cores, $(uname -r)"
printf '%-36s %10s %8s\n' "measure" "median ms" "samples"
printf '%-36s %10.4f %8d\n' "wire SYN->SYN/ACK (netdoctor run)" "$ndw" "$(wc -l <"$work/ndwire.rtt")"
printf '%-36s %10.4f %8d\n' "netdoctor tcping (connect->writable)" "$nd" "$(wc -l <"$work/nd.rtt")"
printf '%-36s %10.4f %8d\n' "netdoctor kernel RTT (tcpi_rtt)" "$ndk" "$(wc -l <"$work/ndk.rtt")"
printf '%-36s %10.4f %8d\n' "wire SYN->SYN/ACK (hping3 run)" "$hpw" "$(wc -l <"$work/hpwire.rtt")"
printf '%-36s %10.4f %8d\n' "hping3 -S" "$hp" "$(wc -l <"$work/hp.rtt")"
awk -v nd="$nd" -v ndw="$ndw" -v hp="$hp" -v hpw="$hpw" 'BEGIN {
  printf "ratios: netdoctor/wire %.2f (netdoctor - wire = %+.4f ms, goal <= +0.1 ms); hping3/wire %.2f; hping3/netdoctor %.2f\n",
    nd/ndw, nd-ndw, hp/hpw, hp/nd }'
