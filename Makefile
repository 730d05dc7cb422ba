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

.PHONY: build serve test bench

build:
	$(GO) build -o $(BIN) ./cmd/imgrec

serve: build
	@if [ -z "$(MODEL)" ]; then $(BIN) model pull >/dev/null; fi
	$(BIN) serve $(if $(MODEL),--model $(MODEL))

test:
	$(GO) vet ./...
	$(GO) test -count=1 -timeout 15m ./...
	$(GO) test -count=1 -timeout 10m -tags purego ./nn/ ./resnet/

# Ours, then the onnxruntime peer (it needs node and npm: it installs onnxruntime-node once).
bench:
	IMGREC_THREADS=$(THREADS) $(GO) test -run '^$$' -bench Forward -benchtime $(BENCHTIME)s ./resnet/
	@if command -v node >/dev/null && command -v npm >/dev/null; then \
		$(ORT_PEER) $(ONNX) 64,224 1,8 $(THREADS) $(BENCHTIME); \
	else \
		echo "make bench: no node or npm here, so no onnxruntime peer; it is $(ORT_PEER) $(ONNX) 64,224 1,8 $(THREADS) $(BENCHTIME)"; \
	fi
