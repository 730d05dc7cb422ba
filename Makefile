# The two commands a newcomer needs: `make serve` and `make test`.
GO      ?= go
BIN     := bin/imgrec
# MODEL empty = the weights `imgrec model pull` stores; set MODEL=path/to.pth to use others.
MODEL   ?=

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

bench:
	$(GO) test -run '^$$' -bench Forward -benchtime 3s ./resnet/
