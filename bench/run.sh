#!/usr/bin/env bash
# Reproduces every figure of BENCHMARKS.md: runs the side-by-side
# benchmarks and the loopback load test, writes their raw output to
# bench/results/*.txt, and prints the tables. It needs the services CI
# already runs (PostgreSQL 5432, Redis 6379, Memcached 11211, MariaDB 3306;
# see internal/testenv for the variables that move them) and starts
# nothing. Ten to thirteen minutes on two CPUs.
#
#	bench/run.sh            # everything
#	bench/run.sh memory     # only the named groups: memory cookie redis
#	                        # postgres hot caching footprint loopback
set -euo pipefail
cd "$(dirname "$0")"
start=$SECONDS
export PATH="$PATH:/usr/local/go/bin"
out=results
mkdir -p "$out"
groups=("$@")
((${#groups[@]})) || groups=(memory cookie redis postgres hot caching footprint loopback)

bin=$(mktemp -d)
trap 'rm -rf "$bin"' EXIT
go test -c -o "$bin/bench.test" .
go build -o "$bin/loadtest" ./cmd/loadtest

machine() {
	echo "date: $(date -u +%Y-%m-%dT%H:%M:%SZ)"
	echo "cpu: $(lscpu | sed -n 's/^Model name: *//p') (family $(lscpu | sed -n 's/^CPU family: *//p'), model $(lscpu | sed -n 's/^Model: *//p'); hypervisor: $(lscpu | sed -n 's/^Hypervisor vendor: *//p'))"
	echo "cpus: $(nproc)"
	echo "memory: $(free -h | awk '/^Mem:/ {print $2}')"
	echo "go: $(go version)"
	echo "kernel: $(uname -sr)"
	echo "postgres: $(psql "${HTTPSTATE_POSTGRES_URL:-postgres://root@127.0.0.1:5432/test?sslmode=disable}" -Atc 'show server_version' 2>/dev/null || echo unknown)"
	echo "redis: $(redis-cli -h 127.0.0.1 -p 6379 info server 2>/dev/null | sed -n 's/^redis_version:\(.*\)\r$/\1/p' || echo unknown)"
	echo "mariadb: $(mysql -h 127.0.0.1 -u root -N -e 'select version()' 2>/dev/null || echo unknown)"
	echo "memcached: $(memcached -V 2>/dev/null || echo unknown)"
	echo "commit: $(git rev-parse --short HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD -- .. ':(exclude)results' 2>/dev/null || echo ' (with uncommitted changes)')"
}
load() { echo "load average before $1: $(cut -d' ' -f1-3 /proc/loadavg)"; }

# bench NAME ARGS...: runs the test binary, keeping its output.
bench() {
	local name=$1
	shift
	echo "=== $name (at ${SECONDS}s)" >&2
	load "$name" | tee "$out/$name.txt" >&2
	"$bin/bench.test" -test.run=NONE -test.benchmem "$@" | tee -a "$out/$name.txt" >&2
}

machine | tee "$out/machine.txt" >&2
for g in "${groups[@]}"; do
	case $g in
	memory) bench memory -test.bench='^BenchmarkMemoryStore$' -test.count=5 -test.benchtime=1s ;;
	cookie) bench cookie -test.bench='^BenchmarkCookie$' -test.count=5 -test.benchtime=1s ;;
	redis) bench redis -test.bench='^BenchmarkRedis$' -test.count=3 -test.benchtime=1s ;;
	postgres) bench postgres -test.bench='^BenchmarkPostgres$' -test.count=3 -test.benchtime=1s ;;
	hot) bench hot -test.bench='^BenchmarkHotSession$' -test.count=3 -test.benchtime=0.5s ;;
	caching) bench caching -test.bench='^BenchmarkSessionCaching$' -test.count=1 -test.benchtime=2s ;;
	footprint)
		bench footprint -test.bench='^BenchmarkFootprint$' -test.count=1 -test.benchtime=1x
		bench sweeper -test.bench='^BenchmarkSweeper$' -test.count=1 -test.benchtime=150000x
		;;
	loopback)
		echo "=== loopback (at ${SECONDS}s)" >&2
		load loopback | tee "$out/loopback.txt" >&2
		# The servers get CPU 1 and the load generator CPU 0, so that the
		# generator's own work never dilutes the middleware's cost.
		pin=()
		if command -v taskset >/dev/null && (($(nproc) >= 2)); then
			pin=(taskset -c 0)
			echo "pinned: servers on CPU 1, load generator on CPU 0" | tee -a "$out/loopback.txt" >&2
		fi
		# Every endpoint's server stays up; the load moves between them in
		# slices of 0.6 s, 31 rounds, each visiting the endpoints in the
		# opposite order to the one before.
		"${pin[@]}" "$bin/loadtest" -ops read,write -rounds 31 -duration 500ms -warmup 100ms -conns 64 \
			${pin:+-server-cpus 1} | tee -a "$out/loopback.txt" >&2
		;;
	*) echo "unknown group $g" >&2; exit 2 ;;
	esac
done
echo "load average at the end: $(cut -d' ' -f1-3 /proc/loadavg)" | tee -a "$out/machine.txt" >&2
echo "elapsed: $((SECONDS - start))s" | tee -a "$out/machine.txt" >&2

go run ./cmd/benchtable "$out"/*.txt
