#!/usr/bin/env bash
# echo-server vs the write-up's Hypercorn+FastAPI under wrk, and h1/h2/h3.
set -euo pipefail
cd "$(dirname "$0")/../.."
go run ./echo-server/bench -out docs/bench/echo-server.md
