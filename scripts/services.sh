#!/usr/bin/env bash
# Make sure the PostgreSQL (127.0.0.1:5432) and RabbitMQ (127.0.0.1:5672) that
# the service and its integration tests expect are installed and running.
# Servers that already answer are reused untouched, so running this twice is
# cheap. Containers have no systemd, hence the direct start commands.
# VEMT_SKIP_SERVICES=1 skips everything, for people who run their own servers.
set -euo pipefail

log() { echo "services: $*"; }
die() { echo "services: error: $*" >&2; exit 1; }

if [[ "${VEMT_SKIP_SERVICES:-}" == 1 ]]; then
  log "VEMT_SKIP_SERVICES=1, leaving servers alone"
  exit 0
fi

WAIT_SECONDS=60
# Non-root shells on Debian lack the sbin directories holding rabbitmqctl and runuser.
PATH=$PATH:/usr/local/sbin:/usr/sbin:/sbin

# Installing and starting servers needs root, or sudo when we are not.
# Checked before each such step rather than inside as_root, whose output
# is often discarded, so that the reason for failing is always shown.
require_root() {
  [[ $(id -u) -eq 0 ]] || command -v sudo >/dev/null ||
    die "need root or sudo to $1 (or set VEMT_SKIP_SERVICES=1 and run the servers yourself)"
}
as_root() { if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo "$@"; fi; }

# Run a command as the postgres OS user, for peer auth on the local socket;
# cd / because that user may not be allowed into our working directory.
as_postgres() {
  if [[ $(id -u) -eq 0 ]]; then
    (cd / && runuser -u postgres -- "$@")
  else
    (cd / && sudo -u postgres "$@")
  fi
}

# Newest installed PostgreSQL major version with a cluster; empty if none.
pg_version() { find /etc/postgresql -mindepth 1 -maxdepth 1 -printf '%f\n' 2>/dev/null | sort -V | tail -n 1; }

# Plain TCP probe: works even where no client tools are installed.
tcp_open() { timeout 2 bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

pg_ready() {
  if command -v pg_isready >/dev/null; then
    pg_isready -q -h 127.0.0.1 -p 5432
  else
    tcp_open 5432
  fi
}

pg_login() {
  PGPASSWORD=postgres PGCONNECT_TIMEOUT=5 psql -X -h 127.0.0.1 -p 5432 -U postgres -d postgres -tAc 'select 1' >/dev/null 2>&1
}

# The AMQP listener opens only once the broker has finished booting.
rabbit_ready() { tcp_open 5672; }

# Poll a check, quietly, until it passes or WAIT_SECONDS run out.
wait_for() {
  local what=$1 deadline=$((SECONDS + WAIT_SECONDS))
  shift
  until "$@" >/dev/null 2>&1; do
    ((SECONDS < deadline)) || die "$what not ready after ${WAIT_SECONDS}s"
    sleep 1
  done
}

# Install only what is missing, with a single apt-get update.
missing=()
pg_ready || [[ -n "$(pg_version)" ]] || missing+=(postgresql)
rabbit_ready || command -v rabbitmq-server >/dev/null || missing+=(rabbitmq-server)
if ((${#missing[@]})); then
  command -v apt-get >/dev/null ||
    die "${missing[*]} not installed and no apt-get here: install it yourself or set VEMT_SKIP_SERVICES=1"
  require_root "install ${missing[*]}"
  log "installing ${missing[*]}"
  as_root apt-get update -qq || die "apt-get update failed"
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null ||
    die "apt-get install ${missing[*]} failed"
fi

# --- PostgreSQL ---
if pg_ready; then
  log "postgresql already running"
else
  require_root "start postgresql"
  # The Debian package creates a cluster named 'main'.
  pg_version=$(pg_version)
  [[ -n "$pg_version" ]] || die "no PostgreSQL cluster found under /etc/postgresql"
  # A cluster still recovering is 'running' but not ready: wait, don't start twice.
  if as_root pg_ctlcluster "$pg_version" main status >/dev/null 2>&1; then
    log "postgresql $pg_version is starting"
  else
    log "starting postgresql $pg_version"
    as_root pg_ctlcluster --skip-systemctl-redirect "$pg_version" main start ||
      die "pg_ctlcluster could not start postgresql $pg_version/main (see /var/log/postgresql/)"
  fi
  log "waiting for postgresql on 127.0.0.1:5432"
  wait_for "postgresql (see /var/log/postgresql/)" pg_ready
fi

# A fresh Debian install uses scram on 127.0.0.1 and postgres has no password;
# the default URLs use postgres:postgres, which trust setups also accept.
if command -v psql >/dev/null; then
  if ! pg_login; then
    require_root "set the password of database user postgres"
    log "setting password of database user postgres"
    as_postgres psql -X -qc "ALTER USER postgres PASSWORD 'postgres'" ||
      die "could not set the postgres password"
    pg_login || die "cannot log in as postgres:postgres@127.0.0.1:5432 (check pg_hba.conf)"
  fi
else
  log "psql not installed, not checking the postgres login"
fi

# --- RabbitMQ ---
# Started outside systemd, the node runs under `su rabbitmq` with the PAM
# default of 1024 open files (Debian's unit sets 65536). RabbitMQ then stops
# accepting connections once its file handles run out: seen here after a few
# test runs, TCP connects that never get the AMQP handshake. rabbitmq-env.conf
# is sourced by the node's start script, so the limit is raised there.
raise_rabbit_file_limit() {
  local env_file=/etc/rabbitmq/rabbitmq-env.conf
  if ! grep -qs '^ulimit -n' "$env_file"; then
    log "raising rabbitmq's open-file limit in $env_file"
    as_root sh -c "mkdir -p /etc/rabbitmq && printf '%s\\n' '# Added by vemt scripts/services.sh: as many open files as allowed (systemd gives 65536).' 'ulimit -n 65536 2>/dev/null || ulimit -n \"\$(ulimit -Hn)\"' >> $env_file"
  fi
}

if rabbit_ready; then
  log "rabbitmq already running"
else
  require_root "start rabbitmq"
  # A node that answers ping is booting already; starting it again would fail.
  if as_root timeout 15 rabbitmqctl -q ping >/dev/null 2>&1; then
    log "rabbitmq is starting"
  else
    log "starting rabbitmq"
    raise_rabbit_file_limit
    as_root rabbitmq-server -detached || die "rabbitmq-server -detached failed (see /var/log/rabbitmq/)"
  fi
  log "waiting for rabbitmq to boot"
  # await_startup gives up at once while the node is not yet reachable, so retry it.
  wait_for "rabbitmq (see /var/log/rabbitmq/)" as_root timeout 25 rabbitmqctl -q await_startup --timeout 20
  log "waiting for rabbitmq on 127.0.0.1:5672"
  wait_for "rabbitmq (AMQP port 5672)" rabbit_ready
fi

log "postgresql and rabbitmq are ready"
