# Throwaway PostgreSQL and MariaDB servers for the tests, on 127.0.0.1 and free
# ports, in a temporary directory; no systemd needed (works as root).
# `source` this file, then start_databases / stop_databases. Exports:
#   B24_TEST_POSTGRES  SOCI connection string of a database "b24"
#   B24_TEST_MYSQL     SOCI connection string of a database "b24"
#   B24_TEST_ODBC      SOCI ODBC connection string (psqlODBC → the PostgreSQL server)
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

start_databases() {
  B24_DB_DIR=$(mktemp -d /tmp/b24-db.XXXXXX)
  chmod 755 "$B24_DB_DIR"
  local pgbin
  pgbin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)
  local pgport myport
  pgport=$(free_port)
  mkdir -p "$B24_DB_DIR/pg" "$B24_DB_DIR/pglog"
  local as_pg=()
  if [ "$(id -u)" = 0 ]; then chown postgres "$B24_DB_DIR/pg" "$B24_DB_DIR/pglog"; as_pg=(runuser -u postgres --); fi
  "${as_pg[@]}" "$pgbin/initdb" -D "$B24_DB_DIR/pg" -A trust -U postgres --no-sync >"$B24_DB_DIR/pg-init.log" 2>&1
  "${as_pg[@]}" "$pgbin/pg_ctl" -D "$B24_DB_DIR/pg" -w -l "$B24_DB_DIR/pglog/pg.log" \
    -o "-p $pgport -k $B24_DB_DIR/pglog -c listen_addresses=127.0.0.1 -c fsync=off -c max_connections=300" start >/dev/null
  "$pgbin/psql" -h 127.0.0.1 -p "$pgport" -U postgres -qc "CREATE DATABASE b24" >/dev/null
  export B24_TEST_POSTGRES="postgresql://host=127.0.0.1 port=$pgport dbname=b24 user=postgres"
  export B24_TEST_ODBC="odbc://DRIVER={PostgreSQL Unicode};SERVER=127.0.0.1;PORT=$pgport;DATABASE=b24;UID=postgres;PWD=x"
  B24_PG_CTL=("${as_pg[@]}" "$pgbin/pg_ctl" -D "$B24_DB_DIR/pg")

  myport=$(free_port)
  mkdir -p "$B24_DB_DIR/my"
  mariadb-install-db --no-defaults --user=root --datadir="$B24_DB_DIR/my" \
    --auth-root-authentication-method=normal --skip-test-db >"$B24_DB_DIR/my-init.log" 2>&1
  mariadbd --no-defaults --user=root --datadir="$B24_DB_DIR/my" --socket="$B24_DB_DIR/my/sock" \
    --port="$myport" --bind-address=127.0.0.1 --max-connections=500 --skip-log-bin \
    --innodb-flush-log-at-trx-commit=0 >"$B24_DB_DIR/my.log" 2>&1 &
  B24_MY_PID=$!
  for _ in $(seq 100); do
    mariadb-admin --socket="$B24_DB_DIR/my/sock" -uroot ping >/dev/null 2>&1 && break
    sleep 0.1
  done
  mariadb --socket="$B24_DB_DIR/my/sock" -uroot -e \
    "CREATE DATABASE b24; CREATE USER 'b24'@'127.0.0.1' IDENTIFIED BY 'b24'; GRANT ALL ON b24.* TO 'b24'@'127.0.0.1';"
  export B24_TEST_MYSQL="mysql://host=127.0.0.1 port=$myport db=b24 user=b24 password=b24"
  echo "databases: PostgreSQL on 127.0.0.1:$pgport, MariaDB on 127.0.0.1:$myport ($B24_DB_DIR)"
}

stop_databases() {
  [ -n "${B24_DB_DIR:-}" ] || return 0
  "${B24_PG_CTL[@]}" -m immediate stop >/dev/null 2>&1 || true
  kill "${B24_MY_PID:-0}" 2>/dev/null && wait "${B24_MY_PID}" 2>/dev/null || true
  rm -rf "$B24_DB_DIR"
}
