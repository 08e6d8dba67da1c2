#!/usr/bin/env bash
# Everything CI checks, in order, stopping at the first failure.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Builds use the committed .sqlx query data, never a live database.
export SQLX_OFFLINE=true
# The integration tests' servers; keep whatever the caller already chose.
export VEMT_TEST_DATABASE_URL="${VEMT_TEST_DATABASE_URL:-postgres://postgres:postgres@127.0.0.1:5432/postgres}"
export VEMT_TEST_AMQP_URL="${VEMT_TEST_AMQP_URL:-amqp://guest:guest@127.0.0.1:5672/%2f}"

echo "== services"
scripts/services.sh
echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --locked --all-targets -- -D warnings
echo "== chromium (renders the printable agenda in the integration tests)"
# The test fails rather than skips without it, so a fresh machine gets it here.
# pdftotext (poppler-utils) reads the printed pages back (issue 11).
if ! command -v chromium >/dev/null || ! command -v pdftotext >/dev/null; then
  as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium poppler-utils >/dev/null
fi
chromium --version 2>/dev/null || { echo "chromium is not runnable" >&2; exit 1; }
echo "== promtool (the alert rules in deploy/prometheus)"
# Debian's prometheus package ships promtool; the service itself is not run.
if ! command -v promtool >/dev/null; then
  as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends prometheus >/dev/null
  # The package starts a Prometheus server; CI needs only its promtool.
  as_root systemctl disable --now prometheus >/dev/null 2>&1 || true
fi
promtool check rules deploy/prometheus/vemt-rules.yaml
promtool test rules deploy/prometheus/vemt-rules.test.yaml
echo "== cargo test"
# Includes the offline licence and duplicate-version check over cargo
# metadata (tests/integration/dependencies.rs) and the deploy/ files checked
# against the running service (tests/integration/deploy.rs).
cargo test --locked --all-targets
echo "== chaos (the release binary under kills, broker and database faults; docs/development.md \"Fault test\")"
# The service under test is the release build; the driver is a debug build
# (its dependencies are built already by `cargo test`).
cargo build --locked --release --bin vemt
cargo run --locked --example chaos -- --children 300 --faults 4
