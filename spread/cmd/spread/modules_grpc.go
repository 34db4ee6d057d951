package main

// gRPC: k6/net/grpc (unary, streams, reflection, health; connection
// policies and client-side load balancing).
import _ "spread.dev/spread/internal/modules/k6grpc"
