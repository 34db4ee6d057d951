#!/usr/bin/env bash
# constant-arrival-rate at 20,000 iterations/s (k6/http) vs vegeta as a Go
# library at the same rate: achieved rate and latency percentiles.
set -euo pipefail
cd "$(dirname "$0")/../.."
go run ./spread/internal/executor/carbench -spread bin/spread -rate 20000 -d 10s -rounds 3 -out docs/bench/car.md
