#!/usr/bin/env bash
# Executors: per-iteration cost and start precision (peer: bare loops).
# The benchmarks print their tables; docs/bench/executor.md keeps the
# explanation and the last measured table.
set -euo pipefail
cd "$(dirname "$0")/../.."
go test ./spread/internal/executor -run '^$' -bench . -benchtime 3x | tee /tmp/spread-bench-executor.txt
