#!/usr/bin/env bash
# Installs what netdoctor's build and tests need on a fresh Debian machine (as root): Debian packages
# for the peer tools the tests compare against, and Go (from /usr/local/go, or Debian's go with the
# toolchain fetched through the Go module proxy). Idempotent: it installs only what is missing.
set -euo pipefail

pkgs=(iproute2 iptables nftables iputils-ping mtr-tiny iputils-tracepath dnsutils tcpdump tshark
      hping3 iperf3 dnsmasq-base conntrack socat procps kmod ca-certificates git ipset etcd-server openssl clang llvm gcc libc6-dev
      containerd runc containernetworking-plugins)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "deps: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections 2>/dev/null || true
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v go >/dev/null 2>&1 && [ -x /usr/local/go/bin/go ]; then
  export PATH=/usr/local/go/bin:$PATH
fi
if ! command -v go >/dev/null 2>&1; then
  echo "deps: installing Debian's golang-go; the toolchain go.mod asks for comes through the Go module proxy"
  apt-get install -y -qq golang-go >/dev/null
fi
export GOTOOLCHAIN=${GOTOOLCHAIN:-auto}
# Kernel modules the lab and tests use (no-ops when built in or already loaded).
for m in veth vxlan bridge br_netfilter nf_conntrack; do modprobe "$m" 2>/dev/null || true; done
go mod download
