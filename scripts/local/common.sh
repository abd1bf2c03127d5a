# Shared by the bash entry points in scripts/: where things live and how to reach them.
# Sourced, never run.

BEACON_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# Overridable so that two stacks (e.g. two checkouts) can run side by side.
LOCAL_DIR="${BEACON_LOCAL_DIR:-$BEACON_ROOT/.local}"
DB_PORT="${BEACON_DB_PORT:-54322}"
DB_HOST=127.0.0.1
# The same URL `supabase start` prints, so every script and test works against either stack.
DB_URL="postgresql://postgres:postgres@$DB_HOST:$DB_PORT/postgres"
export SUPABASE_DB_URL="${SUPABASE_DB_URL:-$DB_URL}"
# The local cluster speaks plain TCP on loopback; without this the CLI warns about TLS.
export PGSSLMODE="${PGSSLMODE:-disable}"
export PATH="$BEACON_ROOT/node_modules/.bin:$PATH"

say() { printf '%s\n' "$*" >&2; }
die() { say "error: $*"; exit 1; }

# The newest PostgreSQL server found in Debian's layout, else on PATH; BEACON_PG_BINDIR picks one.
pg_bindir() {
  local dir
  [ -n "${BEACON_PG_BINDIR:-}" ] && { echo "$BEACON_PG_BINDIR"; return; }
  for dir in $(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -t/ -k4 -n -r); do
    [ -x "$dir/pg_ctl" ] && { echo "$dir"; return; }
  done
  command -v pg_ctl >/dev/null 2>&1 && { dirname "$(readlink -f "$(command -v pg_ctl)")"; return; }
  return 1
}

pg_major() { "$(pg_bindir)/pg_config" --version | sed -E 's/^PostgreSQL ([0-9]+).*/\1/'; }

# "<extension> <Debian package>" for each library the cluster preloads that is not installed.
missing_preloaded_extensions() {
  local bindir major sharedir pkglibdir
  bindir=$(pg_bindir) || return 0
  major=$(pg_major)
  sharedir=$("$bindir/pg_config" --sharedir)
  pkglibdir=$("$bindir/pg_config" --pkglibdir)
  if [ ! -f "$pkglibdir/pg_cron.so" ] || [ ! -f "$sharedir/extension/pg_cron.control" ]; then
    echo "pg_cron postgresql-$major-cron"
  fi
  [ -f "$pkglibdir/plpgsql_check.so" ] || echo "plpgsql_check postgresql-$major-plpgsql-check"
}

# Checked before the cluster starts, so a machine where scripts/setup never ran is told what
# to run instead of Postgres' "could not access file "pg_cron"".
require_preloaded_extensions() {
  pg_bindir >/dev/null || die "no PostgreSQL server found. Install one (Debian: apt-get install postgresql-15) and run scripts/setup."
  local missing
  missing=$(missing_preloaded_extensions)
  [ -z "$missing" ] && return 0
  local names packages verb=is
  names=$(cut -d' ' -f1 <<<"$missing" | paste -sd' ' - | sed 's/ / and /')
  packages=$(cut -d' ' -f2 <<<"$missing" | paste -sd' ' -)
  [ "$(wc -l <<<"$missing")" -gt 1 ] && verb=are
  die "$names $verb not installed: run scripts/setup (as root) or apt-get install $packages"
}

# psql as the cluster's superuser over the local socket (trust): used only by our tooling.
admin_psql() {
  "$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 -h "$(socket_dir)" -p "$DB_PORT" -U supabase_admin "$@"
}

# psql as `postgres`, the role apps' migrations run as on hosted Supabase.
db_psql() { "$(pg_bindir)/psql" -X -q -v ON_ERROR_STOP=1 "$DB_URL" "$@"; }

# Postgres refuses to run as root, so as root the cluster belongs to the `postgres` OS user.
as_pg_owner() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

# The cluster lives in .local/db. When root runs us from a folder the `postgres` OS user
# cannot enter (e.g. a clone under /root), .local/db is a link to a folder it can.
db_dir() { echo "$LOCAL_DIR/db"; }
data_dir() { echo "$(db_dir)/data"; }
# A Unix socket path must stay under ~100 bytes; a deep checkout gets one under /tmp.
socket_dir() {
  local dir="$(db_dir)/run"
  [ ${#dir} -lt 90 ] || dir="/tmp/beacon-$(printf '%s' "$BEACON_ROOT" | cksum | cut -d' ' -f1)"
  echo "$dir"
}
