# Entry points: `make rehearse` (the main job) and `make test`; `make check` first.
SHELL := /bin/bash
BUILD := prod-sim/build
GOFLAGS_STATIC := CGO_ENABLED=0 GOFLAGS=-buildvcs=false
PYTHON ?= python3

.PHONY: binaries test go-test

binaries: $(BUILD)/checkersd-v1 $(BUILD)/checkersd-v2 $(BUILD)/cosmovisor

CHAIN_SRC := $(shell find prod-sim/chain -name '*.go' -o -name 'go.mod' -o -name 'go.sum')

# The recipes live in prod-sim/scripts/build-binaries.sh (a make-less install runs it directly).
$(BUILD)/checkersd-v1: $(CHAIN_SRC)
	prod-sim/scripts/build-binaries.sh checkersd-v1

$(BUILD)/checkersd-v2: $(CHAIN_SRC)
	prod-sim/scripts/build-binaries.sh checkersd-v2

$(BUILD)/cosmovisor: prod-sim/cosmovisor/go.mod prod-sim/cosmovisor/go.sum
	prod-sim/scripts/build-binaries.sh cosmovisor

# CGO off and -trimpath, as for the binaries, so the test build reuses their compile cache.
go-test:
	cd prod-sim/chain && $(GOFLAGS_STATIC) go test -trimpath ./... && $(GOFLAGS_STATIC) go test -trimpath -tags v2 ./...

# ---- the bundled chain's binaries, for the tests and recordings (prod-sim/README.md) ----
# (`make rehearse` needs none of these: the chain kit builds what it runs.)
.PHONY: prereqs busybox

# Fail early with a clear message if Go, Docker, Compose or Python are missing/too old.
prereqs:
	prod-sim/scripts/check-prereqs.sh

busybox: $(BUILD)/busybox

$(BUILD)/busybox:
	prod-sim/scripts/busybox.sh

# ---- profile sdkbump: bump chain, SDK v0.47.17 -> v0.50.15 (profiles/sdkbump/README.md) ----
# A kit profile: `rehearse run --config profiles/sdkbump/rehearse.toml` builds its
# binaries, images, homes and Compose files. The binaries alone, for the SDK-line
# recordings and tests (tests/fixtures/README.md):
.PHONY: binaries-sdkbump
BUMP := profiles/sdkbump
BUMP_BUILD := $(BUMP)/build
BUMP_V1_SRC := $(shell find $(BUMP)/chain-v1 -name '*.go' -o -name 'go.mod' -o -name 'go.sum')
BUMP_V2_SRC := $(shell find $(BUMP)/chain-v2 -name '*.go' -o -name 'go.mod' -o -name 'go.sum')
VERSION_PKG := github.com/cosmos/cosmos-sdk/version

binaries-sdkbump: $(BUMP_BUILD)/bumpd-v1 $(BUMP_BUILD)/bumpd-v2

$(BUMP_BUILD)/bumpd-%: $(BUMP_V1_SRC) $(BUMP_V2_SRC)
	@mkdir -p $(BUMP_BUILD)
	cd $(BUMP)/chain-$* && $(GOFLAGS_STATIC) go build -trimpath \
		-ldflags '-s -w -X $(VERSION_PKG).Version=$*' -o ../build/bumpd-$* ./cmd/bumpd

# ---- one binary of each older SDK line, from the Go module proxy (tests/fixtures/README.md) ----
.PHONY: sdk-lines fixtures
SDK_LINES := build/sdk-lines
GOBUILD = $(VENV)/bin/python -m agent.kit.gobuild

sdk-lines: $(SDK_LINES)/simd-v0.45.16 $(SDK_LINES)/simd-v0.46.16

$(SDK_LINES)/simd-%: | venv
	$(GOBUILD) github.com/cosmos/cosmos-sdk@$* simapp/simd simd $@

# Record what a real node of each SDK line answers into tests/fixtures/.
RECORD = PYTHONPATH=$(CURDIR):$(CURDIR)/tests $(VENV)/bin/python scripts/record_fixtures.py
fixtures: sdk-lines binaries binaries-sdkbump
	$(RECORD) v0.45 $(SDK_LINES)/simd-v0.45.16 tests/fixtures/sdk045
	$(RECORD) v0.46 $(SDK_LINES)/simd-v0.46.16 tests/fixtures/sdk046
	$(RECORD) v0.47 $(BUMP_BUILD)/bumpd-v1 tests/fixtures/sdk047
	$(RECORD) v0.50 $(BUMP_BUILD)/bumpd-v2 tests/fixtures/sdk050
	$(RECORD) v0.53 $(BUILD)/checkersd-v1 tests/fixtures/sdk053

# ---- the agent: Python environment, the main job and the tests ----
.PHONY: venv rehearse test lint agent-image
VENV := .venv
WHEELS := $(abspath ../shared/wheels)

# Offline from ../shared/wheels when it exists; otherwise from the package index.
$(VENV)/.installed: pyproject.toml
	$(PYTHON) -m venv $(VENV)
	if [ -d "$(WHEELS)" ]; then \
		PIP_NO_INDEX=1 PIP_FIND_LINKS="$(WHEELS)" $(VENV)/bin/pip install -q -e '.[dev]'; \
	else \
		$(VENV)/bin/pip install -q -e '.[dev]'; \
	fi
	touch $@

venv: $(VENV)/.installed

# The main job: a full, unattended upgrade rehearsal of the bundled chain, on the
# network the chain kit builds from prod-sim/rehearse.toml (the tutorial's topology).
rehearse: venv
	scripts/rehearse.sh

# The agent's own image, rehearse_agent_i:<version> and :latest (needs mmdebstrap
# once; see scripts/build-agent-image.sh). Always runs: an unchanged rebuild takes
# a few seconds (cached rootfs in build/agent-image, inputs hash on the image).
agent-image:
	PYTHON=$(PYTHON) scripts/build-agent-image.sh

# Every test: the Go migration test, then unit, integration and e2e tests.
test: venv prereqs binaries busybox binaries-sdkbump sdk-lines agent-image go-test
	$(VENV)/bin/python -m pytest

# Docker-free and Go-free, in about two minutes: lint, types (agent/ and the unit
# tests), and the unit tests with a
# coverage floor (85 % of agent/, 95 % of each module of the pure core, so a deleted
# core test fails it). CI runs it first.
.PHONY: check
check: venv
	$(VENV)/bin/ruff check agent tests
	$(VENV)/bin/ruff format --check agent tests
	$(VENV)/bin/mypy agent
	$(VENV)/bin/mypy tests/unit
	$(VENV)/bin/python -m pytest tests/unit -q -p no:cacheprovider --cov=agent --cov-report=
	$(VENV)/bin/python scripts/coverage_floor.py 95 85

lint: venv
	$(VENV)/bin/ruff check agent tests
	$(VENV)/bin/ruff format --check agent tests
	$(VENV)/bin/mypy agent tests/unit
