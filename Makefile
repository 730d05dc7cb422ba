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

# The platforms a user may run imgrec on; `make check` builds and vets each.
PLATFORMS := linux/amd64 linux/arm64 darwin/amd64 darwin/arm64 windows/amd64

.PHONY: build serve test check bench

# Pure Go, statically linked (no cgo resolver): runs on any Linux, FROM scratch and on a stock AMI.
build:
	CGO_ENABLED=0 $(GO) build -trimpath -buildvcs=auto -o $(BIN) ./cmd/imgrec

serve: build
	@if [ -z "$(MODEL)" ]; then $(BIN) model pull >/dev/null; fi
	$(BIN) serve $(if $(MODEL),--model $(MODEL))

test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 15m ./...
	$(GO) test -count=1 -timeout 10m -tags purego ./nn/ ./resnet/

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
