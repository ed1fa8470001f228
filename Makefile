# activity-core: `make help` lists the targets.
GO        ?= go
BIN       ?= bin/activity-core
VERSION   ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
LDFLAGS   := -X github.com/coulomb/activity-core/internal/cli.Version=$(VERSION)
FUZZTIME  ?= 20s

.DEFAULT_GOAL := help

.PHONY: help
help: ## Show this list of targets.
	@awk 'BEGIN {FS = ":.*## "} /^[a-zA-Z_-]+:.*## / {printf "  \033[36m%-12s\033[0m %s\n", $$1, $$2}' $(MAKEFILE_LIST)

.PHONY: build
build: ## Build bin/activity-core.
	$(GO) build -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/activity-core

.PHONY: build-prod
build-prod: ## Build bin/activity-core without the embedded Temporal/NATS servers (-tags nodev).
	$(GO) build -tags nodev -ldflags "$(LDFLAGS)" -o $(BIN) ./cmd/activity-core

.PHONY: dev
dev: ## Run everything embedded on the example definitions.
	$(GO) run ./cmd/activity-core dev --definitions examples/definitions --pools default,state-hub

.PHONY: test
test: ## Run the tests (real-engine tests skip unless ACTIVITY_TEST_* are set).
	$(GO) test ./...

.PHONY: test-browser
test-browser: ## Drive the dashboard in headless Chromium (apt-get install -y chromium); screenshots to $$ACTIVITY_TEST_ARTIFACTS.
	ACTIVITY_TEST_BROWSER=1 $(GO) test ./internal/integration -run TestDashboardInBrowser -count=1 -v

.PHONY: topology
topology: ## Production topology fault scenarios: Temporal cluster on a private PostgreSQL, 3-node NATS, 2 replicas per role (~5 min; +10 min the first time, to build Temporal).
	ACTIVITY_TEST_TOPOLOGY=1 $(GO) test -count=1 -timeout 25m -v -run 'TestTopology' ./internal/topology

.PHONY: topology-tls
topology-tls: ## The topology in TLS mode (test CA, Temporal mTLS, NATS TLS + .creds): layout, seed-000 rename with an event run, refusals (~1 min).
	ACTIVITY_TEST_TOPOLOGY=1 ACTIVITY_TEST_TOPOLOGY_TLS=1 $(GO) test -count=1 -timeout 15m -v -run '^TestTopology(Layout|StreamReplicas|1Seed000Rename|TLSRefusals)$$' ./internal/topology

.PHONY: soak
soak: ## Soak bench on the production topology (SOAK_DURATION, SOAK_RATE; not in CI).
	ACTIVITY_TEST_TOPOLOGY=1 ACTIVITY_SOAK=1 ACTIVITY_SOAK_DURATION=$${SOAK_DURATION:-10m} ACTIVITY_SOAK_RATE=$${SOAK_RATE:-100} $(GO) test -count=1 -timeout 90m -v -run TestSoak ./internal/topology

.PHONY: ci
ci: ## Run what CI runs: services up, vet, gofmt, tests with real engines, fuzz.
	bash .ci/run

.PHONY: lint
lint: ## go vet and a gofmt check.
	$(GO) vet ./...
	@out=$$(gofmt -l $$(git ls-files '*.go')); if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi

.PHONY: fmt
fmt: ## Format all Go files.
	gofmt -w $$(git ls-files '*.go')

.PHONY: fuzz
fuzz: ## Fuzz the definition loader and cron parser for FUZZTIME each.
	$(GO) test ./internal/definition -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)
	$(GO) test ./internal/cronexpr -run '^$$' -fuzz FuzzParse -fuzztime $(FUZZTIME)

.PHONY: bench
bench: ## Run the benchmarks (see docs/benchmarks.md for the recorded figures).
	$(GO) test ./... -run '^$$' -bench . -benchmem

.PHONY: bench-runs
bench-runs: ## Cost per run: activity-core vs a bare Temporal workflow, alternating rounds (ACTIVITY_BENCH_ROUNDS, ACTIVITY_BENCH_RUNS, ACTIVITY_BENCH_STORE, ACTIVITY_BENCH_SEED_RUNS).
	$(GO) test ./internal/integration -run '^$$' -bench 'RunThroughput$$' -benchtime 1x -timeout 60m

.PHONY: bench-dev-rss
bench-dev-rss: ## RSS of a real `dev` through ACTIVITY_BENCH_DEV_RUNS (10,000) event runs (~30 min on 2 cores; not in CI).
	$(GO) build -o bin/activity-core-bench ./cmd/activity-core
	ACTIVITY_BENCH_DEV_BIN=$(CURDIR)/bin/activity-core-bench $(GO) test ./internal/integration -run '^$$' -bench DevRSS -benchtime 1x -timeout 120m

.PHONY: topology-bench
topology-bench: ## The same cost-per-run ratio on the production topology (not in CI; brings the topology up).
	ACTIVITY_TEST_TOPOLOGY=1 $(GO) test ./internal/topology -run '^$$' -bench TopologyRunThroughput -benchtime 1x -timeout 60m

.PHONY: validate-examples
validate-examples: ## Validate the example definitions.
	$(GO) run ./cmd/activity-core validate examples/definitions

.PHONY: simulate-example
simulate-example: ## Test the example definitions offline against examples/simulate.
	$(GO) run ./cmd/activity-core test examples/definitions --events examples/simulate/events.jsonl --context examples/simulate/fixtures --expect examples/simulate/expect.yaml

.PHONY: golden
golden: ## Refresh golden files after an intended change of messages.
	$(GO) test ./internal/definition -run TestInvalidGolden -update
	$(GO) test ./internal/importer -update

.PHONY: image
image: ## Build the production container image (deploy/Dockerfile; needs a Docker engine).
	docker build -f deploy/Dockerfile --build-arg VERSION=$(VERSION) -t activity-core:$(VERSION) .

.PHONY: deploy-check
deploy-check: ## Check deploy/ files and run the Dockerfile's exact go build.
	ACTIVITY_TEST_DOCKER_BUILD=1 $(GO) test -count=1 ./deploy

.PHONY: clean
clean: ## Remove build output.
	rm -rf bin
