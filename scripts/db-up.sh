#!/usr/bin/env bash
# Make sure a PostgreSQL server answers at the database URL used for
# development and tests. Idempotent, and fast when one already answers (the
# normal case).
#
# The URL is TEST_DATABASE_URL if set, else DATABASE_URL, else
# postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable.
#
# When nothing answers and the host is 127.0.0.1/localhost, in order:
#   1. start a configured Debian cluster on that port (pg_ctlcluster);
#   2. if the PostgreSQL server binaries are missing and we are root,
#      apt-get install postgresql, then retry 1;
#   3. otherwise initialise and start a throwaway cluster in .pgdata/ (git-ignored).
# Prints one line saying what it did.
set -euo pipefail

DEFAULT_URL='postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable'
URL="${TEST_DATABASE_URL:-${DATABASE_URL:-$DEFAULT_URL}}"
WAIT_SECONDS=30

REPO_ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
PGDATA_DIR="$REPO_ROOT/.pgdata"

log() { printf 'db-up: %s\n' "$*"; }
die() { printf 'db-up: error: %s\n' "$*" >&2; exit 1; }

# --- parse host and port ------------------------------------------------------
# Handles postgres://[user[:password]@][host][:port][/db][?params]
# (also postgresql://, and [v6] literals).
parse_url() {
  local rest="$1" hostport
  case "$rest" in
    postgres://*|postgresql://*) rest="${rest#*://}" ;;
    *) die "cannot parse DATABASE_URL (expected postgres://...): $1" ;;
  esac
  rest="${rest%%\?*}"     # drop query
  hostport="${rest%%/*}"  # drop /dbname
  if [[ "$hostport" == *@* ]]; then
    DBUSER="${hostport%@*}"; DBUSER="${DBUSER%%:*}"
  fi
  hostport="${hostport##*@}" # drop user:password@
  if [[ "$hostport" == \[*\]* ]]; then # [::1]:5432
    HOST="${hostport%%]*}"; HOST="${HOST#[}"
    PORT="${hostport#*]}"; PORT="${PORT#:}"
  elif [[ "$hostport" == *:* ]]; then
    HOST="${hostport%%:*}"
    PORT="${hostport#*:}"
  else
    HOST="$hostport"; PORT=""
  fi
  HOST="${HOST:-localhost}"
  PORT="${PORT:-5432}"
  [[ "$PORT" =~ ^[0-9]+$ ]] || die "bad port '$PORT' in database URL"
}
DBUSER=""
parse_url "$URL"

# --- probes ------------------------------------------------------------------
# is_up: exit 0 when the server accepts connections.
is_up() {
  if command -v pg_isready >/dev/null 2>&1; then
    pg_isready -q -h "$HOST" -p "$PORT" -t 2 ${DBUSER:+-U "$DBUSER"}
  else
    # No client tools: a TCP connect is the best we can do.
    (exec 3<>"/dev/tcp/$HOST/$PORT") >/dev/null 2>&1
  fi
}

wait_up() {
  local i
  for ((i = 0; i < WAIT_SECONDS * 4; i++)); do
    is_up && return 0
    sleep 0.25
  done
  return 1
}

if is_up; then
  log "PostgreSQL already up at $HOST:$PORT"
  exit 0
fi

case "$HOST" in
  127.0.0.1|localhost) ;;
  *)
    printf 'db-up: PostgreSQL does not answer at %s:%s (not a local host, not starting anything)\n' "$HOST" "$PORT" >&2
    exit 1
    ;;
esac

IS_ROOT=false
[[ "$(id -u)" == 0 ]] && IS_ROOT=true

# Serialise concurrent invocations for the same port (parallel `make test`
# from several checkouts), then re-check: someone may have just started it.
LOCK="/tmp/lokihooks-db-up-$PORT.lock"
if command -v flock >/dev/null 2>&1 && { exec 9>>"$LOCK"; } 2>/dev/null; then
  chmod 0666 "$LOCK" 2>/dev/null || true
  flock -w 120 9 || die "timed out waiting for the lock $LOCK"
  if is_up; then
    log "PostgreSQL already up at $HOST:$PORT (started concurrently)"
    exit 0
  fi
fi

started() {
  wait_up || die "$1, but PostgreSQL still does not answer at $HOST:$PORT after ${WAIT_SECONDS}s${2:+ (see $2)}"
  log "$1; PostgreSQL is up at $HOST:$PORT"
  exit 0
}

# --- 1. a configured Debian/Ubuntu cluster on this port ----------------------
try_debian_cluster() {
  command -v pg_lsclusters >/dev/null 2>&1 && command -v pg_ctlcluster >/dev/null 2>&1 || return 1
  local ver name port status rest
  while read -r ver name port status rest; do
    [[ "$port" == "$PORT" ]] || continue
    if [[ "$status" != online* ]]; then
      pg_ctlcluster --skip-systemctl-redirect "$ver" "$name" start >&2 9>&- \
        || die "pg_ctlcluster $ver $name start failed (see /var/log/postgresql/postgresql-$ver-$name.log)"
      started "started cluster $ver/$name with pg_ctlcluster" "/var/log/postgresql/postgresql-$ver-$name.log"
    fi
    # Already running (maybe still starting up): give it the usual time.
    started "cluster $ver/$name was already running" "/var/log/postgresql/postgresql-$ver-$name.log"
  done < <(pg_lsclusters --no-header 2>/dev/null || true)
  return 1
}

# Highest-version server bin dir, or empty.
server_bindir() {
  local d best=""
  best="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1 || true)"
  if [[ -n "$best" && -x "$best/initdb" && -x "$best/pg_ctl" && -x "$best/postgres" ]]; then
    printf '%s\n' "$best"
    return
  fi
  # Not the Debian layout: fall back to PATH.
  if command -v initdb >/dev/null 2>&1 && command -v pg_ctl >/dev/null 2>&1; then
    d="$(dirname "$(command -v initdb)")"
    [[ -x "$d/postgres" ]] && printf '%s\n' "$d"
  fi
  return 0
}

try_debian_cluster || true

# --- 2. install the server if it is missing ----------------------------------
BINDIR="$(server_bindir)"
INSTALLED=""
if [[ -z "$BINDIR" ]]; then
  $IS_ROOT || die "PostgreSQL does not answer at $HOST:$PORT and no server binaries are installed (run as root to apt-get install postgresql, or install it yourself)"
  command -v apt-get >/dev/null 2>&1 || die "PostgreSQL server binaries missing and apt-get is not available; install PostgreSQL yourself"
  echo "db-up: PostgreSQL server not installed; installing it with apt-get" >&2
  apt-get update >&2 9>&-
  DEBIAN_FRONTEND=noninteractive apt-get install -y postgresql >&2 9>&-
  INSTALLED="installed postgresql with apt-get, "
  # The Debian package creates (and may already have started) a cluster on 5432.
  if try_debian_cluster; then :; fi
  BINDIR="$(server_bindir)"
  [[ -n "$BINDIR" ]] || die "installed postgresql but found no server binaries under /usr/lib/postgresql/*/bin"
fi

# --- 3. throwaway cluster in .pgdata -----------------------------------------
as_owner() {
  if $IS_ROOT; then
    runuser -u postgres -- "$@" 9>&-
  else
    "$@" 9>&-
  fi
}

if $IS_ROOT; then
  # initdb and postgres refuse to run as root.
  if ! id -u postgres >/dev/null 2>&1; then
    useradd --system --user-group --home-dir /var/lib/postgresql --shell /bin/bash postgres \
      || useradd --system postgres \
      || die "could not create the postgres system user"
  fi
fi

action="${INSTALLED}started throwaway cluster in $PGDATA_DIR"
if [[ ! -f "$PGDATA_DIR/PG_VERSION" ]]; then
  if [[ -e "$PGDATA_DIR" ]] && [[ -n "$(ls -A "$PGDATA_DIR" 2>/dev/null)" ]]; then
    die "$PGDATA_DIR exists but is not a PostgreSQL data directory; remove it and retry"
  fi
  mkdir -p "$PGDATA_DIR"
  chmod 700 "$PGDATA_DIR"
  if $IS_ROOT; then
    chown postgres: "$PGDATA_DIR"
    as_owner test -w "$PGDATA_DIR" \
      || die "user postgres cannot reach $PGDATA_DIR (a parent folder is not traversable); run as a normal user or fix permissions"
  fi
  initdb_log="$(mktemp)"
  if ! as_owner "$BINDIR/initdb" -D "$PGDATA_DIR" -U postgres --auth=trust --encoding=UTF8 --no-sync >"$initdb_log" 2>&1; then
    cat "$initdb_log" >&2
    rm -f "$initdb_log"
    die "initdb failed for $PGDATA_DIR"
  fi
  rm -f "$initdb_log"
  action="${INSTALLED}created and started throwaway cluster in $PGDATA_DIR"
fi

if as_owner "$BINDIR/pg_ctl" -D "$PGDATA_DIR" status >/dev/null 2>&1; then
  running_port="$(sed -n 4p "$PGDATA_DIR/postmaster.pid" 2>/dev/null || true)"
  hint="$BINDIR/pg_ctl -D $PGDATA_DIR stop"
  $IS_ROOT && hint="runuser -u postgres -- $hint"
  die "the throwaway cluster in $PGDATA_DIR is already running on port ${running_port:-?}, not $PORT; stop it ($hint) or use that port"
fi

if ! as_owner "$BINDIR/pg_ctl" -D "$PGDATA_DIR" -w -t "$WAIT_SECONDS" \
    -o "-p $PORT -k /tmp -c listen_addresses=127.0.0.1" \
    -l "$PGDATA_DIR/log" start >/dev/null 2>&1; then
  tail -n 20 "$PGDATA_DIR/log" >&2 2>/dev/null || true
  die "pg_ctl start failed for $PGDATA_DIR on port $PORT (log: $PGDATA_DIR/log)"
fi

started "$action (port $PORT, $("$BINDIR/postgres" --version 2>/dev/null | awk '{print $3}'))" "$PGDATA_DIR/log"
