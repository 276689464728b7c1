#!/usr/bin/env bash
# Builds and caches the real Kubernetes components the tests and `netdoctor lab up --k8s` run.
# The script itself lives in internal/lab/k8s (embedded in the netdoctor binary); see it for usage.
exec bash "$(dirname "$0")/../../internal/lab/k8s/build.sh" "$@"
