#!/usr/bin/env bash
# Node-view benchmark: loads a kube-proxy-sized ruleset (default 5,000 services × 3 endpoints) with
# iptables-restore into a fresh namespace, then times, alternating, `iptables-save` (the peer) and
# `netdoctor inspect nat` (snapshot + one NAT walk) and `netdoctor inspect`, with wall time and max
# RSS from /usr/bin/time. Usage: bench/node_view.sh [ROUNDS] [SERVICES] [ENDPOINTS]. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-5} svcs=${2:-5000} eps=${3:-3}
ns="ndbench-nv$$"
tmp=$(mktemp -d)
cleanup() { ip netns del "$ns" 2>/dev/null || true; rm -rf "$tmp"; }
trap cleanup EXIT INT TERM
CGO_ENABLED=0 go build -o "$tmp/netdoctor" .
go run ./bench/kubeproxyrules "$svcs" "$eps" >"$tmp/rules"
ip netns add "$ns"
ip -n "$ns" link set lo up
ip -n "$ns" link add eth0 type veth peer name eth0p
ip -n "$ns" addr add 192.168.50.10/24 dev eth0
ip -n "$ns" link set eth0 up
/usr/bin/time -f "iptables-restore: %e s" nsenter --net=/run/netns/"$ns" iptables-restore <"$tmp/rules"
echo "rules loaded: $(nsenter --net=/run/netns/"$ns" iptables-save | grep -c '^-A')"
# A ClusterIP in the middle of KUBE-SERVICES (service $svcs/2).
vip=$(grep -m1 "svc$((svcs / 2)):http cluster IP" "$tmp/rules" | sed -E 's/.*-d ([0-9.]+)\/32.*/\1/')
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
for i in $(seq "$rounds"); do
  /usr/bin/time -f "iptables-save        wall %e s  maxrss %M KiB" nsenter --net=/run/netns/"$ns" iptables-save >/dev/null
  /usr/bin/time -f "inspect nat          wall %e s  maxrss %M KiB" "$tmp/netdoctor" inspect nat --netns "$ns" \
    --to "$vip:80" --from-iface eth0 --src 192.168.50.99 >"$tmp/walk" || true
  /usr/bin/time -f "inspect (snapshot)   wall %e s  maxrss %M KiB" "$tmp/netdoctor" inspect --netns "$ns" >/dev/null
done 2>&1
tail -1 "$tmp/walk"
echo "load: $(cut -d' ' -f1-3 /proc/loadavg)"
