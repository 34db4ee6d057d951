# spread: build, test, experiments, bench. Every target installs or builds
# what it needs; see README.md.
SHELL := /bin/bash
# Go lives in /usr/local/go on a fresh machine, not always on PATH; tests
# also run `go build` themselves, so PATH must have it too.
export PATH := $(PATH):/usr/local/go/bin
GO    ?= go
BIN   := bin
# One build configuration for binaries, tests and images (static, trimmed
# paths), so the Go build cache is shared by all of them: a cold CI machine
# compiles each package once.
export GOFLAGS ?= -buildvcs=false -trimpath
export CGO_ENABLED ?= 0
MODULES := ./spread/... ./echo-server/... ./xk6-http3/... ./k8s/...
CERT_HOSTS ?= echo-server,echo-server.spread,echo-server.spread.svc,echo-server.spread.svc.cluster.local,echo-server-nodeport.spread.svc,localhost,127.0.0.1

.PHONY: all build test vet experiments writeup bench clean deps images certs

all: build

build:
	@mkdir -p $(BIN)
	$(GO) build -o $(BIN)/spread ./spread/cmd/spread
	$(GO) build -o $(BIN)/echo-server ./echo-server/cmd/echo-server

vet:
	$(GO) vet $(MODULES)

# The whole suite: every module's tests plus vet. Tests start real processes
# (echo-server, spread, curl, Chromium, Prometheus, iptables in a netns);
# `.ci/run` installs those tools as root first.
test: build vet
	./.ci/deps.sh
	$(GO) test -count=1 -timeout 20m $(MODULES)

# The main job: build everything and run the experiment plan in the lab.
experiments: build
	./.ci/deps.sh --experiments
	$(BIN)/spread experiments --plan scripts/experiments.yaml --out results
	@echo "report: results/report.html  table: results/summary.md"

# The write-up's setup at full scale (1000 users, 5-minute runs, about 40
# minutes): not part of `make experiments`. Locust rows need python3-locust.
writeup: build
	./.ci/deps.sh --experiments
	$(BIN)/spread experiments --plan scripts/writeup.yaml --out results-writeup
	@echo "report: results-writeup/report.html  table: results-writeup/summary.md"

bench: build
	./bench/run.sh

# Container images as OCI tarballs in dist/, built without Docker
# (go-containerregistry): `k3s ctr images import dist/*.tar` or `docker load`.
images:
	$(GO) run ./k8s/cmd/images -out dist -tag dev

# The certificates and QUIC keys the k8s/base secretGenerator reads.
certs: build
	@mkdir -p k8s/base/certs
	$(BIN)/echo-server certs --dir k8s/base/certs --hosts $(CERT_HOSTS)
	[ -f k8s/base/certs/quic.keys ] || $(BIN)/echo-server keys --out k8s/base/certs/quic.keys

clean:
	rm -rf $(BIN) results results-writeup dist
