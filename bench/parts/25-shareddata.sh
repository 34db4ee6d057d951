#!/usr/bin/env bash
# k6/data SharedArray: memory of 1000 VUs over a 10 MB array vs one copy.
set -euo pipefail
cd "$(dirname "$0")/../.."
go run ./spread/internal/modules/data/databench -spread bin/spread -out docs/bench/shareddata.md
