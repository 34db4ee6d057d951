#!/usr/bin/env bash
# Lab: the userspace Service proxy vs a direct connection (TCP connect, UDP
# round trip); docs/bench/lab.md keeps the explanation and the last table.
set -euo pipefail
cd "$(dirname "$0")/../.."
go test -run '^$' -bench . -benchtime 1s -count 5 ./spread/internal/lab/userspace/
