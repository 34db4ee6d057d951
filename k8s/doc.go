// Package k8s holds the tests of spread's Kubernetes manifests (kustomize
// bases and overlays in this folder), its Grafana dashboard, and the
// distributed (execution-segment) runs; images/ builds the container
// images without Docker.
package k8s
