// Command images builds spread's container images as docker-archive
// tarballs without Docker (`make images`): dist/echo-server.tar and
// dist/spread.tar, tagged docker.io/spread/NAME:TAG, ready for
// `k3s ctr images import` or `docker load`.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"spread.dev/k8s/images"
)

func main() {
	out := flag.String("out", "dist", "directory for the tarballs")
	tag := flag.String("tag", "dev", "image tag (the k8s overlays use dev)")
	arch := flag.String("arch", "", "GOARCH of the images (default: this machine's)")
	flag.Parse()
	root, err := workspaceRoot()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	outDir, _ := filepath.Abs(*out)
	if _, err := images.Build(context.Background(), images.Options{Root: root, Out: outDir, Arch: *arch, Log: os.Stdout}, images.Specs(*tag)); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// workspaceRoot is the folder of go.work, where the binaries' packages are.
func workspaceRoot() (string, error) {
	b, err := exec.Command("go", "env", "GOWORK").Output()
	gowork := strings.TrimSpace(string(b))
	if err != nil || gowork == "" || gowork == "off" {
		return "", fmt.Errorf("images: run inside the spread Go workspace (go env GOWORK is empty): %v", err)
	}
	return filepath.Dir(gowork), nil
}
