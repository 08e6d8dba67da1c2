#!/usr/bin/env bash
# Regenerates the offline query data in .sqlx/ (committed, so that building
# needs no database). Run after changing a query or a migration.
# The sqlx macros write the data themselves when SQLX_OFFLINE_DIR is set with
# a live DATABASE_URL, so sqlx-cli is not needed.
set -euo pipefail
cd "$(dirname "$0")/.."
db=${VEMT_PREPARE_DB:-vemt_sqlx_prepare}
base=${VEMT_PREPARE_SERVER_URL:-postgres://postgres:postgres@127.0.0.1:5432}
psql "$base/postgres" -qc "DROP DATABASE IF EXISTS $db" -c "CREATE DATABASE $db"
for migration in migrations/*.sql; do
  psql "$base/$db" -q -v ON_ERROR_STOP=1 -f "$migration"
done
rm -rf .sqlx && mkdir -p .sqlx
touch src/lib.rs
DATABASE_URL="$base/$db" SQLX_OFFLINE_DIR="$PWD/.sqlx" cargo check --all-targets --quiet
psql "$base/postgres" -qc "DROP DATABASE $db"
echo "prepare-sqlx: $(find .sqlx -name 'query-*.json' | wc -l) queries written to .sqlx/"
