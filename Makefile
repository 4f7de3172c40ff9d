# gotrickle — common tasks. `make test` and `make demo` work on a fresh machine:
# each runs `make deps` first (idempotent; a no-op when everything is installed).

GO        ?= go
PKGS      ?= ./...
REPORTS   ?= reports
BENCHTIME ?= 300x
# How long `make fuzz` runs each fuzz target (a duration, or a count like 1000x).
FUZZTIME  ?= 10m
# Packages that must build without cgo (the protocol, frames, the processor
# and its API): checked by lint.
PURE      ?= ./pkg/trickle/... ./pkg/frame/... ./pkg/processor/... ./pkg/api/... ./pkg/effect/... ./pkg/orchestrator/... ./pkg/statuspage/... ./pkg/gpu/... ./fakes/trickleserver/...

.PHONY: all deps build check test test-unit conformance bench demo lint fmt clean ptx test-gpu bench-gpu gpu-bundle fuzz fuzz-ci load soak soak-ci

all: build

deps:
	@bash CI/install-deps.sh

build: deps
	$(GO) build $(PKGS)
	$(GO) build -o bin/gotrickle ./cmd/gotrickle
	CGO_ENABLED=0 $(GO) build $(PURE)

# The README's test command: lint, unit tests with the race detector, a
# 60-second soak, brief fuzzing, then the conformance suites (which write
# reports under $(REPORTS)/).
test: deps check soak-ci fuzz-ci conformance

# What CI checks before the suites, as CI runs it: gofmt, go vet, the
# CGO_ENABLED=0 build of $(PURE), and the unit tests with -race (goleak in
# every package that starts goroutines).
check: deps lint test-unit

# Unit tests; the conformance suites run in `make conformance` (with reports).
test-unit:
	$(GO) test -race -count=1 $$($(GO) list ./... | grep -vE '/conformance/(server|client|processor|selftest)$$')

conformance:
	@bash CI/conformance.sh

# Every native fuzz target (CI/fuzz.sh finds them with grep), one after
# another, FUZZTIME each: `make fuzz` (10 min each, hours in all) or
# `make fuzz FUZZTIME=1m`. A failure leaves its input under the package's
# testdata/fuzz/ to commit as a regression (docs/reliability.md, Fuzzing).
fuzz:
	FUZZTIME=$(FUZZTIME) GO=$(GO) bash CI/fuzz.sh

# What `make test` runs: each target for 5 s. Cost: targets × (5 s of
# fuzzing + the build of an instrumented test binary and a replay of the
# corpus): 20 targets took 120 s on 2 busy cores with a warm build cache;
# allow ~3 min cold.
fuzz-ci:
	@$(MAKE) --no-print-directory fuzz FUZZTIME=5s

# Load on the trickle server: LOADSTREAMS live streams × 4 subscribers for
# LOADTIME over loopback, with slow and stalled readers on every fifth
# stream; figures in $(REPORTS)/load/ (benchmarks/README.md, Load).
LOADTIME    ?= 60s
LOADSTREAMS ?= 200
load:
	GOTRICKLE_LOAD=$(LOADTIME) GOTRICKLE_LOAD_STREAMS=$(LOADSTREAMS) \
	GOTRICKLE_LOAD_REPORT=$(CURDIR)/$(REPORTS)/load/load-$(LOADTIME).json \
	  $(GO) test -count=1 -v -timeout 1h -run '^TestLoad$$' ./benchmarks/

# Soak: a live 720p30 stream through `gotrickle serve` for SOAKTIME, its
# RSS, goroutines, open files and latency sampled; fails on growth or drift.
# Samples, verdict and the processor's log in $(REPORTS)/soak/
# (benchmarks/README.md, Soak). `make test` runs soak-ci, 60 s.
SOAKTIME ?= 10m
soak: deps
	$(GO) build -o bin/gotrickle ./cmd/gotrickle
	GOTRICKLE_SOAK=$(SOAKTIME) GOTRICKLE_SOAK_BIN=$(CURDIR)/bin/gotrickle \
	GOTRICKLE_SOAK_REPORT=$(CURDIR)/$(REPORTS)/soak \
	  $(GO) test -count=1 -v -timeout 2h -run '^TestSoak$$' ./benchmarks/

soak-ci:
	@$(MAKE) --no-print-directory soak SOAKTIME=60s

# Benchmarks against gotrickle's own server in-process; benchmarks/compare.sh
# runs the same load against any running servers (see benchmarks/README.md).
bench: deps
	$(GO) test -run '^$$' -bench Fanout -benchmem -benchtime $(BENCHTIME) ./benchmarks/...
	$(GO) test -run '^$$' -bench MemoryPerSubscriber -benchtime 3x ./benchmarks/...
	$(GO) test -run '^$$' -bench 'Decode|Encode|Passthrough' -benchtime 2x -count 3 ./benchmarks/...
	$(GO) test -run '^$$' -bench Processor -benchtime 1x -count 3 ./benchmarks/...

# The main job: a fixture through the colour-grade processor, recorded to
# out/demo.ts, with a summary (see `gotrickle demo --help`).
demo: deps
	$(GO) run ./cmd/gotrickle demo --out out/demo.ts

# Regenerates pkg/gpu/kernels/kernels.ptx from kernels.cu: nvcc where it
# exists (the GPU machine), else clang-14 (installed by CI/install-clang.sh).
ptx:
	@command -v nvcc >/dev/null || bash CI/install-clang.sh
	bash pkg/gpu/kernels/make-ptx.sh

# GPU path: builds and vets -tags cuda (cuda.h + stub libcuda.so from
# CI/install-cuda-headers.sh), builds bin/gpu.test (pkg/gpu's tests with
# -tags cuda; it needs only the NVIDIA driver), runs it against
# pkg/gpu/internal/fakecuda, and runs it for real where a driver is present
# (else copy bin/gpu.test to a GPU machine and run ./gpu.test -test.v).
test-gpu:
	bash CI/build-cuda.sh
	@if ldconfig -p | grep -q 'libcuda\.so\.1 '; then ./bin/gpu.test -test.v -test.count=1; \
	else echo "test-gpu: no NVIDIA driver here; copy bin/gpu.test to a GPU machine and run ./gpu.test -test.v"; fi

# The GPU kernel chain at 1080p (NV12 -> RGB -> grade -> YUV420P) on the
# device this build opens, with and without copies, beside the Go reference
# kernels in the same run; on a GPU machine, bin/gpu.test (make test-gpu)
# runs it with -test.run '^$$' -test.bench Chain1080p.
bench-gpu:
	$(GO) test -run '^$$' -bench 'Chain1080p' -benchtime 100x ./pkg/gpu/
	$(GO) test -run '^$$' -bench 'Kernels1080p' -benchtime 20x ./pkg/gpu/kernels/
	@if [ -x bin/gpu.test ] && ldconfig -p | grep -q 'libcuda\.so\.1 '; then \
	  ./bin/gpu.test -test.run '^$$' -test.bench Chain1080p -test.benchtime 1000x; fi

# bin/gpu-bundle: every GPU check (kernels, NVDEC, the processor's device
# path, the benchmarks) for a machine with only the NVIDIA driver, with
# the FFmpeg libraries they load; there, run bash bin/gpu-bundle/run.sh
# (docs/gpu.md).
gpu-bundle:
	bash CI/gpu-bundle.sh

lint:
	@out=$$(gofmt -l $$(git ls-files '*.go'; git ls-files --others --exclude-standard '*.go')); \
	if [ -n "$$out" ]; then echo "gofmt needed:"; echo "$$out"; exit 1; fi
	$(GO) vet $(PKGS)
	CGO_ENABLED=0 $(GO) build $(PURE)

fmt:
	gofmt -w $$(git ls-files '*.go')

clean:
	rm -rf bin $(REPORTS) out
