#!/usr/bin/env bash
# Metrics: heap after 10 million Trend samples (peer: a plain slice),
# cost per sample, JSON line encoding (peer: encoding/json).
set -euo pipefail
cd "$(dirname "$0")/../.."
go run ./spread/internal/metrics/cmd/trendmem -n 10000000
go test -run XXX -bench 'AddSamples|Trend10M' ./spread/internal/metrics/
go test -run XXX -bench 'AppendPointLine|EncodingJSONPeer' ./spread/internal/output/json/
