#!/usr/bin/env bash
# gen_corpus.sh — regenerates testdata/corpus.pcap: real packets captured with `tcpdump -w` on a veth
# inside throw-away network namespaces (nothing is added to the root namespace; every namespace and
# process made here is removed on exit, processes are killed by PID).
#
# Topology:  A (a0) ——— (r0) R (r1, MTU 1280) ——— (b0) B        capture on A's a0
#   10.99.1.1/24  fd00:99:1::1/64     10.99.2.1/24 fd00:99:2::1/64   10.99.2.2/24 fd00:99:2::2/64
#   vx0 on A and R: VXLAN id 42 over a0, 10.99.42.0/24
# VLAN: this kernel has no 802.1Q (CONFIG_VLAN_8021Q unset), so no vlan subinterface can exist;
# instead, after the plain traffic, vlaninject (a Go helper here) re-sends the frames captured so far
# on a0 with 802.1Q, 802.1ad (QinQ), 0x9100 and priority tags inserted, and the same running
# tcpdump records them: real tagged frames on the wire, with real payloads.
#
# Traffic: ARP and NDP, ICMP echo (v4, v6, over VXLAN), ICMP port unreachable, frag-needed,
# time exceeded, ICMPv6 packet-too-big and port unreachable, TCP handshakes with data and FIN (v4, v6,
# VXLAN), TCP RST (closed port), DNS over UDP (dnsmasq on B), IPv4 fragments (large UDP and
# ICMP, DF off, refragmented by R onto the 1280-byte link on the way back), IPv6 fragments.
# Needs root and: iproute2 tcpdump iputils-ping socat dnsutils dnsmasq-base.
set -euo pipefail
out=${1:-$(dirname "$0")/corpus.pcap}
p=ndfc$$
A=$p-a R=$p-r B=$p-b
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; done
  for n in $A $R $B; do ip netns del "$n" 2>/dev/null || true; done
}
trap cleanup EXIT
for n in $A $R $B; do ip netns add "$n"; ip -n "$n" link set lo up; done
inA() { ip netns exec "$A" "$@"; }
inR() { ip netns exec "$R" "$@"; }
inB() { ip netns exec "$B" "$@"; }

ip -n "$A" link add a0 type veth peer name r0 netns "$R"
ip -n "$R" link add r1 mtu 1280 type veth peer name b0 netns "$B" mtu 1280
ip -n "$A" addr add 10.99.1.1/24 dev a0;  ip -n "$A" addr add fd00:99:1::1/64 dev a0 nodad
ip -n "$R" addr add 10.99.1.2/24 dev r0;  ip -n "$R" addr add fd00:99:1::2/64 dev r0 nodad
ip -n "$R" addr add 10.99.2.1/24 dev r1;  ip -n "$R" addr add fd00:99:2::1/64 dev r1 nodad
ip -n "$B" addr add 10.99.2.2/24 dev b0;  ip -n "$B" addr add fd00:99:2::2/64 dev b0 nodad
for l in "$A a0" "$R r0" "$R r1" "$B b0"; do set -- $l; ip -n "$1" link set "$2" up; done
inR sysctl -qw net.ipv4.ip_forward=1 net.ipv6.conf.all.forwarding=1
ip -n "$A" route add default via 10.99.1.2; ip -n "$A" -6 route add default via fd00:99:1::2
ip -n "$B" route add default via 10.99.2.1; ip -n "$B" -6 route add default via fd00:99:2::1
# VXLAN 42 between A and R, carried over a0
ip -n "$A" link add vx0 type vxlan id 42 remote 10.99.1.2 local 10.99.1.1 dstport 4789 dev a0
ip -n "$R" link add vx0 type vxlan id 42 remote 10.99.1.1 local 10.99.1.2 dstport 4789 dev r0
ip -n "$A" addr add 10.99.42.1/24 dev vx0; ip -n "$R" addr add 10.99.42.2/24 dev vx0
ip -n "$A" link set vx0 up; ip -n "$R" link set vx0 up

tmp=$(mktemp -d); trap 'cleanup; rm -rf "$tmp"' EXIT
(cd "$(dirname "$0")/vlaninject" && CGO_ENABLED=0 go build -o "$tmp/vlaninject" .)
# Servers: TCP on B:8080 (v4+v6) and R:8081 (VLAN, VXLAN), DNS on B:53.
ip netns exec "$B" socat TCP6-LISTEN:8080,ipv6only=0,fork,reuseaddr SYSTEM:'echo hello-from-b' & pids+=($!)
ip netns exec "$R" socat TCP4-LISTEN:8081,fork,reuseaddr SYSTEM:'echo hello-from-r' & pids+=($!)
ip netns exec "$B" dnsmasq --keep-in-foreground --no-resolv --no-hosts --port=53 --listen-address=10.99.2.2 \
  --bind-interfaces --address=/example.test/192.0.2.7 --pid-file="$tmp/dnsmasq.pid" --conf-file=/dev/null & pids+=($!)
ip netns exec "$B" socat -u UDP4-RECV:9999 OPEN:/dev/null & pids+=($!)

ip netns exec "$A" tcpdump -i a0 -U -w "$tmp/c.pcap" 2>"$tmp/tcpdump.err" & pids+=($!); tcpdump_pid=$!
for _ in $(seq 100); do grep -q "listening on" "$tmp/tcpdump.err" && break; sleep 0.1; done
grep -q "listening on" "$tmp/tcpdump.err"
# wait until the servers listen (readiness, not time)
for _ in $(seq 100); do inB ss -Htln | grep -q ':8080' && inR ss -Htln | grep -q ':8081' && inB ss -Huln | grep -q ':53 ' && break; sleep 0.1; done

# the vxlan device may have resolved R already (MLD over VXLAN): forget it so ARP is on the wire
ip -n "$A" neigh flush dev a0; ip -n "$R" neigh flush dev r0
inA ping -n -c 2 -i 0.2 10.99.2.2 >/dev/null                       # ARP + echo through R
inA ping -n -c 2 -i 0.2 fd00:99:2::2 >/dev/null                    # NDP + echo6
inA ping -n -c 1 fd00:99:1::2 >/dev/null                           # on-link v6
inA ping -n -c 1 -t 1 10.99.2.2 >/dev/null || true                 # time exceeded from R
inA ping -n -c 1 -M do -s 1400 10.99.2.2 >/dev/null || true        # frag-needed from R
inA ping -n -c 1 -M do -s 1400 10.99.2.2 >/dev/null || true        # (route cache now at 1280)
inA ping -n -c 1 -M dont -s 2500 10.99.2.2 >/dev/null              # IPv4 fragments both ways
inA ping -n -c 1 -s 1400 fd00:99:2::2 >/dev/null || true           # packet too big (v6)
inA ping -n -c 1 -s 3000 fd00:99:2::2 >/dev/null                   # IPv6 fragments
inA ping -n -c 1 -i 0.2 10.99.42.2 >/dev/null                      # VXLAN ARP + echo
inA socat -u - TCP4:10.99.2.2:8080 </dev/null || true               # TCP handshake, data, FIN
inA socat - TCP6:[fd00:99:2::2]:8080 </dev/null >/dev/null || true  # TCP over IPv6
inA socat - TCP4:10.99.42.2:8081 </dev/null >/dev/null || true      # TCP over VXLAN
inA socat - TCP4:10.99.2.2:81 </dev/null 2>/dev/null || true        # RST (closed port)
inA socat - TCP6:[fd00:99:2::2]:81 </dev/null 2>/dev/null || true   # RST over IPv6
inA dig +tries=1 +time=2 @10.99.2.2 example.test A >/dev/null       # DNS answer
inA dig +tries=1 +time=1 -p 5353 @10.99.2.2 example.test >/dev/null || true   # port unreachable
inA dig +tries=1 +time=1 -p 5353 @fd00:99:2::2 example.test >/dev/null || true # port unreachable v6
head -c 3000 /dev/zero | inA socat -u - UDP4-SENDTO:10.99.2.2:9999,ip-mtu-discover=0 || true # UDP fragments
sleep 1   # let the plain packets reach the file before it is read (-U flushes each packet)
cp "$tmp/c.pcap" "$tmp/plain.pcap"
inA "$tmp/vlaninject" a0 "$tmp/plain.pcap"
sleep 1   # let the last packets reach the capture before it stops (no readiness signal for that)
kill "$tcpdump_pid"; wait "$tcpdump_pid" 2>/dev/null || true
cp "$tmp/c.pcap" "$out"
tcpdump -r "$out" -nn 2>/dev/null | wc -l | xargs echo "packets:"
