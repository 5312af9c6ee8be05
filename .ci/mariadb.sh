#!/usr/bin/env bash
# Starts a throwaway MariaDB on 127.0.0.1 (a temp datadir, no systemd) and
# prints the line that points the tests at it (and SCFWS_TEST_MYSQL_PORT at
# the port it chose):
#   eval "$(bash .ci/mariadb.sh)"
# Stop it with: kill "$(cat "$SCFWS_TEST_MYSQL_DIR/pid")"
# Any user can run it: the server runs as that user, who administers it over
# its socket (unix_socket authentication, as for root).
set -euo pipefail
port=${SCFWS_TEST_MYSQL_PORT:-33306}
# The next free port from there: a developer may have a server on it already.
while (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; do port=$((port + 1)); done
dir=$(mktemp -d /tmp/scfws-mariadb.XXXXXX)
PATH=$PATH:/usr/sbin
mariadb-install-db --no-defaults --datadir="$dir/data" --auth-root-authentication-method=socket \
  --skip-test-db --user="$(id -un)" >"$dir/install.log" 2>&1 || { cat "$dir/install.log" >&2; exit 1; }
me=$(id -un)
mariadbd --no-defaults --datadir="$dir/data" --socket="$dir/sock" --port="$port" \
  --bind-address=127.0.0.1 --skip-name-resolve --pid-file="$dir/pid" --log-error="$dir/error.log" \
  --user="$me" --innodb-buffer-pool-size=64M --max-connections=500 >/dev/null 2>&1 &
server=$!
# A failed set-up leaves no server behind.
trap 'kill "$server" 2>/dev/null' ERR
for _ in $(seq 1 100); do
  mariadb-admin --no-defaults --socket="$dir/sock" -u"$me" ping >/dev/null 2>&1 && break
  sleep 0.2
done
mariadb-admin --no-defaults --socket="$dir/sock" -u"$me" ping >/dev/null || { cat "$dir/error.log" >&2; kill "$server"; exit 1; }
mariadb --no-defaults --socket="$dir/sock" -u"$me" <<'SQL'
CREATE USER 'scfws'@'127.0.0.1' IDENTIFIED BY 'scfws-test';
GRANT ALL PRIVILEGES ON *.* TO 'scfws'@'127.0.0.1' WITH GRANT OPTION;
SQL
echo "export SCFWS_TEST_MYSQL='scfws:scfws-test@tcp(127.0.0.1:$port)/' SCFWS_TEST_MYSQL_DIR='$dir' SCFWS_TEST_MYSQL_PORT=$port"
