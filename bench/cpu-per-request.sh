#!/usr/bin/env bash
# CPU time per request of each process of `imgrec serve` (the web tier with
# NATS, and each warm worker) and of the load generator, under a sustained
# load: where the pipeline's time goes. Usage, from the repository root after
# `make build`:
#
#   bench/cpu-per-request.sh [serve flags...]     (e.g. --fsync=false)
#
# A worker's figure is per request of the whole run; it handles about 1/W of
# them. Environment: N requests (3000), C in flight (32), W warm workers (2),
# MODEL (the stand-in model in ../shared/models).
set -euo pipefail
N=${N:-3000} C=${C:-32} W=${W:-2}
MODEL=${MODEL:-../shared/models/resnet18-standin.pth}
IMAGES=${IMAGES:-../shared/data/imagenet-100}
BIN=bin/imgrec
dir=$(mktemp -d)
port=$((20000 + RANDOM % 10000))
$BIN serve --addr 127.0.0.1:$port --data-dir "$dir" --model "$MODEL" \
	--min-instances "$W" --max-instances "$W" --log-level warn "$@" >"$dir/serve.log" 2>&1 &
serve=$!
trap 'kill $serve 2>/dev/null; wait $serve 2>/dev/null; rm -rf "$dir"' EXIT
for _ in $(seq 150); do
	curl -sf "127.0.0.1:$port/v1/status" | grep -q "\"running\":$W" && break
	sleep 0.2
done
ticks=$(getconf CLK_TCK)
cpu() { for p in $serve $(pgrep -P $serve); do awk -v p=$p '{print p, $14+$15}' /proc/$p/stat; done; }
$BIN loadgen --url "http://127.0.0.1:$port/" --image-folder "$IMAGES" --num-request 200 --concurrency "$C" >/dev/null # warm-up
cpu >"$dir/before"
/usr/bin/time -f "loadgen: %U s user + %S s system" $BIN loadgen --url "http://127.0.0.1:$port/" \
	--image-folder "$IMAGES" --num-request "$N" --concurrency "$C" 2>&1 | grep -E "throughput|latency|loadgen:"
cpu >"$dir/after"
join "$dir/before" "$dir/after" | awk -v t="$ticks" -v n="$N" -v s=$serve \
	'{printf "%-8s pid %-7s %.2f s CPU = %.2f ms per request\n", ($1==s ? "serve" : "worker"), $1, ($3-$2)/t, ($3-$2)/t*1000/n}'
