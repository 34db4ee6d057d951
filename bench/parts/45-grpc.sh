#!/usr/bin/env bash
# k6/net/grpc unary requests/s under `spread run` vs a bare grpc-go client
# loop with the same connections (one per VU), against echo-server's h2c
# listener; goal >= 0.8.
set -euo pipefail
cd "$(dirname "$0")/../.."
go run ./spread/internal/modules/k6grpc/bench -d 4s -u 8 -rounds 3 -out docs/bench/grpc.md
