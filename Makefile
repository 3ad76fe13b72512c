# Samsa — see README.md. `make run` and `make test` work on a fresh clone.
GO       ?= go
BIN      := bin/samsa
# Core packages run under the race detector; the slower end-to-end packages
# (real brokers, separate processes, a million records) run without it.
CORE     := ./internal/... ./partition/... ./config/... ./raftgroup/... ./coordinator/... ./actors/... ./wire/... ./broker/...
E2E      := ./cmd/... ./bench/... ./client/... ./examples/... ./integration/...
FUZZTIME ?= 30s

.PHONY: all build run test test-core test-e2e fuzz lint bench clean

all: build

build:
	$(GO) build -o $(BIN) ./cmd/samsa

run: build
	./$(BIN) broker --data-dir ./data --listen 127.0.0.1:9092

test: build
	$(GO) vet ./...
	$(GO) test -race -count=1 -timeout 15m $(CORE)
	$(GO) test -count=1 -timeout 20m $(E2E)

test-core:
	$(GO) test -race -count=1 $(CORE)

test-e2e: build
	$(GO) test -count=1 -v $(E2E)

# Each fuzz target runs for FUZZTIME; corpora live in testdata/fuzz.
fuzz:
	$(GO) test ./internal/batch -run '^$$' -fuzz '^FuzzValidate$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./internal/batch -run '^$$' -fuzz '^FuzzRecords$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./internal/batch -run '^$$' -fuzz '^FuzzParseHeader$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./partition -run '^$$' -fuzz '^FuzzRecover$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./wire -run '^$$' -fuzz '^FuzzRequest$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./coordinator -run '^$$' -fuzz '^FuzzReplay$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./coordinator -run '^$$' -fuzz '^FuzzTxnRecords$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s
	$(GO) test ./raftgroup -run '^$$' -fuzz '^FuzzDamagedMidLog$$' -fuzztime $(FUZZTIME) -fuzzminimizetime 5s

lint:
	@test -z "$$(gofmt -l $$(git ls-files '*.go'))" || (gofmt -l $$(git ls-files '*.go'); exit 1)
	$(GO) vet ./...
	$(GO) run honnef.co/go/tools/cmd/staticcheck@2025.1.1 ./...

# The standard benchmark matrix on a local 3-broker cluster; regenerates the
# marked section of docs/BENCHMARKS.md and its charts. QUICK=1: smoke run
# into bin/bench-quick, docs/ untouched.
bench: build
	./scripts/bench.sh

clean:
	rm -rf bin data
