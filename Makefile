# Entry points: `make prod-sim` (binaries and images), `make testnet`, `make test`.
SHELL := /bin/bash
BUILD := prod-sim/build
GOFLAGS_STATIC := CGO_ENABLED=0 GOFLAGS=-buildvcs=false
LDFLAGS_COMMON := -s -w
VERSION_PKG := github.com/cosmos/cosmos-sdk/version
PYTHON ?= python3

.PHONY: prod-sim binaries testnet test go-test

binaries: $(BUILD)/checkersd-v1 $(BUILD)/checkersd-v2 $(BUILD)/cosmovisor

CHAIN_SRC := $(shell find prod-sim/chain -name '*.go' -o -name 'go.mod' -o -name 'go.sum')

$(BUILD)/checkersd-v1: $(CHAIN_SRC)
	@mkdir -p $(BUILD)
	cd prod-sim/chain && $(GOFLAGS_STATIC) go build -trimpath \
		-ldflags '$(LDFLAGS_COMMON) -X $(VERSION_PKG).Name=checkers -X $(VERSION_PKG).AppName=checkersd -X $(VERSION_PKG).Version=v1' \
		-o ../build/checkersd-v1 ./cmd/checkersd

$(BUILD)/checkersd-v2: $(CHAIN_SRC)
	@mkdir -p $(BUILD)
	cd prod-sim/chain && $(GOFLAGS_STATIC) go build -trimpath -tags v2 \
		-ldflags '$(LDFLAGS_COMMON) -X $(VERSION_PKG).Name=checkers -X $(VERSION_PKG).AppName=checkersd -X $(VERSION_PKG).Version=v2' \
		-o ../build/checkersd-v2 ./cmd/checkersd

$(BUILD)/cosmovisor: prod-sim/cosmovisor/go.mod prod-sim/cosmovisor/go.sum
	@mkdir -p $(BUILD)
	cd prod-sim/cosmovisor && $(GOFLAGS_STATIC) go build -trimpath -ldflags '$(LDFLAGS_COMMON)' \
		-o ../build/cosmovisor cosmossdk.io/tools/cosmovisor/cmd/cosmovisor

go-test:
	cd prod-sim/chain && go test ./... && go test -tags v2 ./...
