#!/usr/bin/env bash
# Optional peer run (not in CI): DataHub's CLI on the same PostgreSQL catalog, file sink.
# Installs acryl-datahub[postgres] into its own venv (PyPI only), then times PEER_RUNS
# (default 3) ingestions; the install is outside the timings.
#   benchmarks/peer_datahub.sh [database] [schema-regex]
# Env: DATAHUB_VENV (venv path), DATAHUB_SPEC (pip requirement), PEER_RUNS (number of runs).
set -euo pipefail
# The default regex lives in its own variable: inside "${2:-...}" the "}" of "{4}" would
# end the expansion early and leave the regex as '^mi_bench_s[0-9]{4$}' (matches nothing).
DEFAULT_SCHEMAS='^mi_bench_s[0-9]{4}$'
DB="${1:-mi_bench_40x50x12}"
SCHEMAS="${2:-$DEFAULT_SCHEMAS}"
VENV="${DATAHUB_VENV:-/tmp/mi_bench_datahub_venv}"
# Pinned to the version measured in benchmarks/results/2026-11-25-datahub-peer.txt
# (the newest on PyPI that day; installs and runs on Python 3.11).
SPEC="${DATAHUB_SPEC:-acryl-datahub[postgres]==1.7.0.17}"
RUNS="${PEER_RUNS:-3}"
# No usage telemetry (the benchmark host has no internet beyond PyPI).
export DATAHUB_TELEMETRY_ENABLED=false
WORK="$(mktemp -d /tmp/mi_bench_datahub.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

if [ ! -x "$VENV/bin/datahub" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet "$SPEC"
fi

# YAML single-quoted scalar: escape any single quote in the regex by doubling it.
SCHEMAS_YAML="${SCHEMAS//\'/\'\'}"
cat > "$WORK/recipe.yml" <<YAML
source:
  type: postgres
  config:
    host_port: 127.0.0.1:5432
    username: postgres
    database: ${DB}
    schema_pattern:
      allow: ['${SCHEMAS_YAML}']
    include_tables: true
    include_views: true
    profiling:
      enabled: false
sink:
  type: file
  config:
    filename: ${WORK}/datahub.json
YAML

# sed, not head -1: head closes the pipe early, datahub then exits 1 and pipefail aborts.
version="$("$VENV/bin/datahub" version 2>/dev/null | sed -n 1p)"
echo "DataHub ${version#DataHub CLI version: } on ${DB}, schemas ${SCHEMAS}, ${RUNS} run(s)"

if /usr/bin/time -f x true >/dev/null 2>&1; then HAVE_GNU_TIME=1; else HAVE_GNU_TIME=0; fi

for run in $(seq 1 "$RUNS"); do
  rm -f "$WORK/datahub.json" "$WORK/log.txt" "$WORK/time.txt"
  echo "run ${run}: load before: $(uptime | sed 's/.*load average: //')"
  if [ "$HAVE_GNU_TIME" = 1 ]; then
    # GNU time: wall clock, CPU and peak RSS of the whole CLI process (-o keeps it out of the log).
    /usr/bin/time -o "$WORK/time.txt" -f 'wall %e s  user %U s  sys %S s  maxrss %M KB' \
      "$VENV/bin/datahub" ingest -c "$WORK/recipe.yml" > "$WORK/log.txt" 2>&1 \
      || { tail -40 "$WORK/log.txt"; exit 1; }
  else
    # No GNU time: wall clock from a monotonic clock, CPU and peak RSS of the child from getrusage.
    python3 - "$WORK/time.txt" "$VENV/bin/datahub" ingest -c "$WORK/recipe.yml" > "$WORK/log.txt" 2>&1 <<'PY' \
      || { tail -40 "$WORK/log.txt"; exit 1; }
import resource, subprocess, sys, time
t0 = time.monotonic()
rc = subprocess.call(sys.argv[2:])
wall = time.monotonic() - t0
ru = resource.getrusage(resource.RUSAGE_CHILDREN)
with open(sys.argv[1], "w") as f:
    f.write(f"wall {wall:.2f} s  user {ru.ru_utime:.2f} s  sys {ru.ru_stime:.2f} s  maxrss {ru.ru_maxrss} KB\n")
sys.exit(rc)
PY
  fi
  echo "run ${run}: $(cat "$WORK/time.txt")"
  tables="$(sed -n "s/^ *'tables_scanned': \([0-9]*\).*/\1/p" "$WORK/log.txt" | tail -1)"
  views="$(sed -n "s/^ *'views_scanned': \([0-9]*\).*/\1/p" "$WORK/log.txt" | tail -1)"
  echo "run ${run}: tables_scanned ${tables:-?}  views_scanned ${views:-?}"
  grep -E "Pipeline finished" "$WORK/log.txt" | tail -1 | sed "s/^/run ${run}: /" || true
  echo "run ${run}: records written: $(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" "$WORK/datahub.json")"
done
