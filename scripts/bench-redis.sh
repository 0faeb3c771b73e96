#!/usr/bin/env bash
# Compares the Redis store's Register (enqueue) throughput at 50 concurrent
# clients with redis-benchmark's INCR at 50 clients on the same server, and
# prints the ratio (target >= 0.8). INCR runs before and after Register and
# the two are averaged, since a shared machine's load drifts.
#
#   scripts/bench-redis.sh            # Register vs INCR, 200,000 operations each
#   scripts/bench-redis.sh --all      # also Position at 1e3/1e6 waiting and feed staleness
#
# Redis: WAITROOM_REDIS_URL (default redis://127.0.0.1:6379/0).
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export PATH="$PATH:/usr/local/go/bin"

url="${WAITROOM_REDIS_URL:-redis://127.0.0.1:6379/0}"
hostport="${url#*://}"
hostport="${hostport#*@}"
hostport="${hostport%%/*}"
host="${hostport%:*}"
port="${hostport##*:}"
[ "$port" = "$hostport" ] && port=6379
n="${BENCH_N:-200000}"

if ! redis-cli -h "$host" -p "$port" ping >/dev/null 2>&1; then
	echo "bench-redis.sh: no Redis at $host:$port: start one (redis-server --port $port) or set WAITROOM_REDIS_URL" >&2
	exit 1
fi

incr() {
	redis-benchmark -h "$host" -p "$port" -t incr -c 50 -n "$n" -q 2>/dev/null |
		tr '\r' '\n' | sed -n 's/^INCR: \([0-9.]*\) requests per second.*/\1/p' | tail -1
}

echo "redis-benchmark -t incr -c 50 -n $n -q  (before)"
incr1="$(incr)"
echo "  INCR: $incr1 requests/s"

echo "go test -run '^\$' -bench 'BenchmarkRegister\$' -benchtime ${n}x ./store/redisstore/"
out="$(go test -run '^$' -bench 'BenchmarkRegister$' -benchtime "${n}x" ./store/redisstore/ 2>&1 | grep -v 'pool.go')"
echo "$out" | grep -E '^Benchmark' | sed 's/^/  /'

echo "redis-benchmark -t incr -c 50 -n $n -q  (after)"
incr2="$(incr)"
echo "  INCR: $incr2 requests/s"

incr_avg="$(awk -v a="$incr1" -v b="$incr2" 'BEGIN { printf "%.0f", (a + b) / 2 }')"
echo
echo "INCR average: $incr_avg requests/s"
for face in client autopipeline; do
	rps="$(echo "$out" | awk -v f="BenchmarkRegister/$face" '$1 ~ "^"f"(-[0-9]+)?$" { for (i = 1; i <= NF; i++) if ($(i+1) == "registers/s") print $i }')"
	if [ -z "$rps" ]; then
		echo "Register ($face): no result" >&2
		continue
	fi
	awk -v f="$face" -v r="$rps" -v i="$incr_avg" \
		'BEGIN { printf "Register (%s): %.0f registers/s = %.2fx INCR (target >= 0.8x)\n", f, r, r / i }'
done

if [ "${1:-}" = "--all" ]; then
	echo
	echo "go test -run '^\$' -bench 'BenchmarkPosition|BenchmarkFeedStaleness' -benchtime 20000x ./store/redisstore/"
	go test -run '^$' -bench 'BenchmarkPosition|BenchmarkFeedStaleness' -benchtime 20000x ./store/redisstore/ 2>&1 |
		grep -E '^Benchmark' | sed 's/^/  /'
fi
