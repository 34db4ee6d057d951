# spread: build, test, experiments, bench. Every target installs or builds
# what it needs; see README.md.
SHELL := /bin/bash
GO    ?= go
BIN   := bin
export GOFLAGS ?= -buildvcs=false
MODULES := ./spread/... ./echo-server/... ./xk6-http3/...

.PHONY: all build test vet experiments bench clean deps images certs

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

bench: build
	./bench/run.sh

clean:
	rm -rf $(BIN) results dist
