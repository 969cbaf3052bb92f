# otpsv: two commands do everything on a fresh machine with Go:
#   make run    builds otpsv and runs the demo tree (no root needed)
#   make test   runs every test, unit and black-box, with the race detector
GO          ?= go
BIN         ?= bin/otpsv
VERSION     ?= $(shell git describe --tags --always --dirty 2>/dev/null || echo dev)
STATICCHECK ?= honnef.co/go/tools/cmd/staticcheck@v0.8.2
DEMO_STATE  ?= .state/demo

.PHONY: build run test test-short lint bench bench-compare clean

build:
	$(GO) build -ldflags "-X main.version=$(VERSION)" -o $(BIN) ./cmd/otpsv

run: build
	@echo "demo tree: examples/demo.yaml; state and worker logs in $(DEMO_STATE); Ctrl-C stops it in order"
	$(BIN) validate -c examples/demo.yaml --state-dir $(DEMO_STATE)
	$(BIN) daemon -c examples/demo.yaml --state-dir $(DEMO_STATE)

test:
	$(GO) test -race -shuffle=on -count=1 -timeout=10m ./...

test-short:
	$(GO) test -short -count=1 ./...

lint:
	@test -z "$$(gofmt -l .)" || { echo "gofmt would change:"; gofmt -l .; exit 1; }
	$(GO) vet ./...
	$(GO) run $(STATICCHECK) ./...

# Go benchmarks, then the side-by-side harness of ../shared/bench for otpsv.
bench: build
	$(GO) test -run='^$$' -bench=. -benchmem ./actors/... ./persistence/... ./config/...
	OTPSV=$(CURDIR)/$(BIN) bench/run.sh

clean:
	rm -rf bin .state
