#!/usr/bin/env bash
# Builds and caches real CoreDNS for the lab. The script lives in internal/lab/k8s (embedded in the
# netdoctor binary, which runs it for `lab up --k8s`); see it for details. Prints the binary's path.
exec bash "$(dirname "$0")/../internal/lab/k8s/coredns.sh" "$@"
