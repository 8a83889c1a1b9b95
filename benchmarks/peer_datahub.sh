#!/usr/bin/env bash
# Optional peer run (not in CI): DataHub's CLI on the same PostgreSQL catalog, file sink.
# Installs acryl-datahub[postgres] into its own venv (PyPI only) and times one ingestion.
#   benchmarks/peer_datahub.sh [database] [schema-regex]
set -euo pipefail
DB="${1:-mi_bench_40x50x12}"
SCHEMAS="${2:-^mi_bench_s[0-9]{4}\$}"
VENV="${DATAHUB_VENV:-/tmp/mi_bench_datahub_venv}"
WORK="$(mktemp -d /tmp/mi_bench_datahub.XXXXXX)"
trap 'rm -rf "$WORK"' EXIT

if [ ! -x "$VENV/bin/datahub" ]; then
  python3 -m venv "$VENV"
  "$VENV/bin/pip" install --quiet --upgrade pip
  "$VENV/bin/pip" install --quiet 'acryl-datahub[postgres]'
fi

cat > "$WORK/recipe.yml" <<YAML
source:
  type: postgres
  config:
    host_port: 127.0.0.1:5432
    username: postgres
    database: ${DB}
    schema_pattern:
      allow: ['${SCHEMAS}']
    include_tables: true
    include_views: true
    profiling:
      enabled: false
sink:
  type: file
  config:
    filename: ${WORK}/datahub.json
YAML

echo "DataHub $("$VENV/bin/datahub" version 2>/dev/null | head -1) on ${DB}"
# GNU time: wall clock, CPU and peak RSS of the whole CLI process.
/usr/bin/time -f 'wall %e s  user %U s  sys %S s  maxrss %M KB' \
  "$VENV/bin/datahub" ingest -c "$WORK/recipe.yml" > "$WORK/log.txt" 2>&1 \
  || { tail -40 "$WORK/log.txt"; exit 1; }
grep -E "tables_scanned|views_scanned|Pipeline finished" "$WORK/log.txt" | tail -5 || true
echo "records written: $(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))))" "$WORK/datahub.json")"
