# The two commands a newcomer needs: `make serve` and `make test`.
GO      ?= go
BIN     := bin/imgrec
# MODEL empty = the weights `imgrec model pull` stores; set MODEL=path/to.pth to use others.
MODEL   ?=
# make bench: inference threads and seconds (BENCHTIME) per case, the same for ours and the onnxruntime peer.
THREADS ?= 2
BENCHTIME ?= 3
ORT_PEER := ../shared/bench/ort-peer.sh
ONNX    ?= $(abspath ../shared/models/resnet18-standin.onnx)

# make image: the container image IMAGE, FROM scratch with bin/imgrec (deploy/Containerfile), built by
# CONTAINER_ENGINE: podman, or docker where there is no podman. IMAGE_CONTEXT is where its build
# context is staged.
IMAGE   ?= imgrec:latest
CONTAINER_ENGINE ?= $(shell command -v podman >/dev/null 2>&1 && echo podman || echo docker)
IMAGE_CONTEXT ?= bin/image

# The platforms a user may run imgrec on; `make check` builds and vets each.
PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64

# make stress-test: make test STRESS_RUNS times in a row while stress-ng keeps STRESS_CPUS cores busy
# (0: every core), stopping at the first failure. No test may depend on the machine's speed.
STRESS_RUNS ?= 5
STRESS_CPUS ?= 0

.PHONY: build serve test check bench stress-test image

# Pure Go, statically linked (no cgo resolver): runs on any Linux, FROM scratch and on a stock AMI.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=auto -o $(BIN) ./cmd/imgrec

# The build context: the binary, deploy/image/ (passwd and group) and an empty /tmp (sticky) and /data.
image: build
	rm -rf $(IMAGE_CONTEXT)
	mkdir -p $(IMAGE_CONTEXT)/rootfs/tmp $(IMAGE_CONTEXT)/data
	chmod 1777 $(IMAGE_CONTEXT)/rootfs/tmp
	cp -R deploy/image/. $(IMAGE_CONTEXT)/rootfs/
	cp $(BIN) $(IMAGE_CONTEXT)/imgrec
	$(CONTAINER_ENGINE) build --build-arg VERSION="$$($(BIN) version)" -f deploy/Containerfile -t $(IMAGE) $(IMAGE_CONTEXT)

serve: build
	@if [ -z "$(MODEL)" ]; then $(BIN) model pull >/dev/null; fi
	$(BIN) serve $(if $(MODEL),--model $(MODEL))

test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 15m ./...
	$(GO) test -count=1 -timeout 10m -tags purego ./nn/ ./resnet/

# make test under CPU load, run after run; each run's result and duration, and where its log is.
stress-test:
	@command -v stress-ng >/dev/null || { echo "make stress-test needs stress-ng (apt-get install stress-ng)" >&2; exit 1; }
	@logs=$$(mktemp -d "$${TMPDIR:-/tmp}/imgrec-stress-XXXXXX"); \
	stress-ng --cpu $(STRESS_CPUS) --timeout 0 --quiet & load=$$!; \
	trap 'kill $$load 2>/dev/null; wait $$load 2>/dev/null' EXIT; \
	echo "make test $(STRESS_RUNS) times under stress-ng --cpu $(STRESS_CPUS); logs in $$logs"; \
	for i in $$(seq $(STRESS_RUNS)); do \
		start=$$(date +%s); \
		if $(MAKE) --no-print-directory test >"$$logs/run-$$i.log" 2>&1; then result=ok; else result=FAILED; fi; \
		echo "run $$i/$(STRESS_RUNS): $$result in $$(( $$(date +%s) - start )) s ($$logs/run-$$i.log)"; \
		if [ $$result != ok ]; then grep -E -e '--- FAIL|^FAIL|panic:' "$$logs/run-$$i.log" | head -40; exit 1; fi; \
	done

# No tracked binaries; every platform builds and vets; the binary is static.
check:
	.ci/no-binaries
	@for p in $(PLATFORMS); do \
		echo "build and vet $$p"; \
		GOOS=$${p%/*} GOARCH=$${p#*/} CGO_ENABLED=0 $(GO) build ./... && \
		GOOS=$${p%/*} GOARCH=$${p#*/} CGO_ENABLED=0 $(GO) vet ./... || exit 1; \
	done
	$(MAKE) build
	$(GO) version -m $(BIN) | grep -q 'CGO_ENABLED=0' || { echo "$(BIN) is not a static pure-Go build" >&2; exit 1; }

# Ours, then the onnxruntime peer (it needs node and npm: it installs onnxruntime-node once).
bench:
	IMGREC_THREADS=$(THREADS) $(GO) test -run '^$$' -bench Forward -benchtime $(BENCHTIME)s ./resnet/
	@if command -v node >/dev/null && command -v npm >/dev/null; then \
		$(ORT_PEER) $(ONNX) 64,224 1,8 $(THREADS) $(BENCHTIME); \
	else \
		echo "make bench: no node or npm here, so no onnxruntime peer; it is $(ORT_PEER) $(ONNX) 64,224 1,8 $(THREADS) $(BENCHTIME)"; \
	fi
