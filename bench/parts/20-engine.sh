#!/usr/bin/env bash
# Engine: memory per VU, iterations/s, Trend memory (peer: bare goja).
set -euo pipefail
cd "$(dirname "$0")/../.."
go run ./spread/internal/engine/enginebench -spread bin/spread -out docs/bench/engine.md
