#!/usr/bin/env bash
# Every tool against its peer, each from one run of its own script, side by side: trace vs mtr and
# mtu vs tracepath (bench/trace_mtu.sh), tcping vs hping3 and the wire (bench/tcping.sh), ping vs
# iputils (bench/ping.sh), dns vs dig (bench/dns.sh), capture vs tcpdump (bench/capture.sh). Run as
# root; each script builds what it needs in namespaces it creates and removes.
set -euo pipefail
cd "$(dirname "$0")"
for s in trace_mtu tcping ping dns capture; do
  echo "=================== bench/$s.sh"
  bash "./$s.sh"
done
