#!/usr/bin/env bash
# Run the service locally against the PostgreSQL and RabbitMQ on this machine.
# Extra arguments go to `vemt serve`.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

scripts/services.sh
exec cargo run --release --locked -- serve "$@"
