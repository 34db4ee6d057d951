#!/usr/bin/env bash
# k6/http vs wrk and hey, HTTP/1.1 keep-alive, same connections, one run.
set -euo pipefail
cd "$(dirname "$0")/../.."
go run ./spread/internal/modules/k6http/bench -out docs/bench/k6http.md
