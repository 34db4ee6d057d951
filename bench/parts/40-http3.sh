#!/usr/bin/env bash
# k6/x/http3 in each policy vs a hand-written quic-go http3 loop, and what a
# new connection costs (HTTP/3 full, 0-RTT, HTTP/1.1 Connection: close).
set -euo pipefail
cd "$(dirname "$0")/../.."
go run ./xk6-http3/bench -d 4s -u 8 -rounds 3 -out docs/bench/http3.md
