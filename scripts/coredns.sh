#!/usr/bin/env bash
# Builds real CoreDNS (only the plugins the lab uses: file, template, errors, log, health, ready,
# cache) from the Go module proxy, through a small wrapper module OUTSIDE the repository, and caches
# the binary: $NETDOCTOR_K8S_CACHE (default /var/cache/netdoctor)/coredns-$VERSION/bin/coredns.
# `netdoctor lab up` runs it in the lab's CoreDNS pods when it is there (or $NETDOCTOR_COREDNS).
# Prints the binary's path. A second run only checks the cache (~40 s cold on 2 cores).
set -euo pipefail
version=${NETDOCTOR_COREDNS_VERSION:-v1.15.0}
cache=${NETDOCTOR_K8S_CACHE:-/var/cache/netdoctor}
dir=$cache/coredns-$version
bin=$dir/bin/coredns
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
mkdir -p "$dir/src" "$dir/bin"
exec 9>"$dir/.lock"
flock 9
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi
cd "$dir/src"
cat >main.go <<'GO'
// A CoreDNS with only the plugins netdoctor's lab uses.
package main

import (
	"github.com/coredns/coredns/core/dnsserver"
	"github.com/coredns/coredns/coremain"

	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/file"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/template"
)

func init() {
	dnsserver.Directives = []string{"errors", "log", "health", "ready", "cache", "template", "file"}
}

func main() { coremain.Run() }
GO
printf 'module netdoctor.dev/coredns-wrapper\n\ngo 1.26\n\nrequire github.com/coredns/coredns %s\n' "$version" >go.mod
export GOFLAGS=-mod=mod GOWORK=off CGO_ENABLED=0
echo "coredns.sh: building CoreDNS $version (first run only)…" >&2
go mod tidy >"$dir/tidy.log" 2>&1 || { cat "$dir/tidy.log" >&2; exit 1; }
go build -trimpath -ldflags "-s -w" -o "$bin.tmp" .
mv "$bin.tmp" "$bin"
echo "$bin"
