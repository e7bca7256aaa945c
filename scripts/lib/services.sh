# Brings up what Queuecast needs when it is not already there, and stops only what it started.
# Sourced by scripts/dev and scripts/test; call `services_up`, and `services_down` on exit.
#
# - PostgreSQL: DATABASE_URL if it answers; otherwise a private cluster in .local/pg (initdb as
#   the `postgres` user, listening on 127.0.0.1 only, port $QC_PG_PORT).
# - Redis: REDIS_URL if set; otherwise Debian's redis-server (installed with apt-get when missing
#   and we are root) on 127.0.0.1:$QC_REDIS_PORT. Set QC_NO_REDIS=1 to run on PostgreSQL alone.
# - For the message tests (`smtp_up`, `kannel_up`): an SMTP server (aiosmtpd from PyPI in
#   .local/venv) writing each message into the maildir .local/mail, and Kannel (Debian's kannel
#   and kannel-extras: bearerbox, smsbox, and fakesmsc as the SMS centre, logging every message it
#   is handed to .local/kannel/fakesmsc.log). Loopback only; they keep running between runs.

QC_ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
QC_LOCAL=${QC_LOCAL:-$QC_ROOT/.local}
# Below the ephemeral range (32768–60999), so no outgoing connection can be holding them.
QC_PG_PORT=${QC_PG_PORT:-25432}
QC_REDIS_PORT=${QC_REDIS_PORT:-26379}
QC_PG_PASSWORD=queuecast-dev
QC_STARTED_PG=
QC_STARTED_REDIS=

qc_log() { printf '\033[1m[services]\033[0m %s\n' "$*" >&2; }

qc_pg_bin() {
  local d
  for d in /usr/lib/postgresql/*/bin; do
    [ -x "$d/pg_ctl" ] && { echo "$d"; return; }
  done
  command -v pg_ctl >/dev/null && dirname "$(command -v pg_ctl)" && return
  return 1
}

qc_as_postgres() {
  if [ "$(id -u)" = 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi
}

qc_pg_reachable() {
  # psql is enough to tell: sqlx and psql speak the same URL.
  command -v psql >/dev/null || return 1
  psql "$1" -Atqc 'select 1' >/dev/null 2>&1
}

qc_postgres_up() {
  if [ -n "${DATABASE_URL:-}" ] && qc_pg_reachable "$DATABASE_URL"; then
    qc_log "using PostgreSQL at DATABASE_URL"
    return
  fi
  [ -n "${DATABASE_URL:-}" ] && qc_log "DATABASE_URL does not answer; starting a private cluster"
  local bin data=$QC_LOCAL/pg
  bin=$(qc_pg_bin) || { qc_log "PostgreSQL binaries not found (install postgresql)"; return 1; }
  export DATABASE_URL="postgres://postgres:$QC_PG_PASSWORD@127.0.0.1:$QC_PG_PORT/queuecast"
  if qc_pg_reachable "$DATABASE_URL"; then
    qc_log "private PostgreSQL already running on 127.0.0.1:$QC_PG_PORT"
    return
  fi
  mkdir -p "$QC_LOCAL"
  chmod 755 "$QC_LOCAL"
  if [ ! -f "$data/PG_VERSION" ]; then
    qc_log "initdb $data"
    mkdir -p "$data"
    local pwfile=$QC_LOCAL/.pgpass.tmp
    printf '%s\n' "$QC_PG_PASSWORD" >"$pwfile"
    if [ "$(id -u)" = 0 ]; then chown postgres: "$data" "$pwfile"; fi
    chmod 700 "$data"
    qc_as_postgres "$bin/initdb" -D "$data" -U postgres --pwfile="$pwfile" \
      --auth-host=scram-sha-256 --auth-local=trust -E UTF8 --locale=C.UTF-8 >"$QC_LOCAL/initdb.log" 2>&1 \
      || { cat "$QC_LOCAL/initdb.log" >&2; rm -f "$pwfile"; return 1; }
    rm -f "$pwfile"
  fi
  qc_log "starting PostgreSQL on 127.0.0.1:$QC_PG_PORT"
  # Loopback only, socket in /tmp, enough connections for parallel tests; durability stays on.
  qc_as_postgres "$bin/pg_ctl" -D "$data" -l "$data/server.log" -w -t 60 start -o \
    "-c listen_addresses=127.0.0.1 -p $QC_PG_PORT -c unix_socket_directories=/tmp -c max_connections=400 -c shared_buffers=256MB -c synchronous_commit=on" \
    >/dev/null || { tail -20 "$data/server.log" >&2; return 1; }
  QC_STARTED_PG=$data
  psql "postgres://postgres:$QC_PG_PASSWORD@127.0.0.1:$QC_PG_PORT/postgres" -Atqc \
    "select 1 from pg_database where datname='queuecast'" | grep -q 1 \
    || psql "postgres://postgres:$QC_PG_PASSWORD@127.0.0.1:$QC_PG_PORT/postgres" -qc 'create database queuecast' >/dev/null
}

qc_redis_up() {
  if [ -n "${QC_NO_REDIS:-}" ]; then unset REDIS_URL; qc_log "Redis disabled (QC_NO_REDIS)"; return; fi
  if [ -n "${REDIS_URL:-}" ]; then qc_log "using Redis at REDIS_URL"; return; fi
  if ! command -v redis-server >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      qc_log "installing redis-server from Debian's packages"
      { apt-get install -y -q redis-server || { apt-get update -q && apt-get install -y -q redis-server; }; } \
        >"$QC_LOCAL/apt-redis.log" 2>&1 || { qc_log "could not install redis-server (see $QC_LOCAL/apt-redis.log)"; return 1; }
    else
      qc_log "redis-server is missing; install it or set REDIS_URL"; return 1
    fi
  fi
  export REDIS_URL="redis://127.0.0.1:$QC_REDIS_PORT"
  if redis-cli -p "$QC_REDIS_PORT" ping 2>/dev/null | grep -q PONG; then
    qc_log "private Redis already running on 127.0.0.1:$QC_REDIS_PORT"
    return
  fi
  qc_log "starting Redis on 127.0.0.1:$QC_REDIS_PORT"
  redis-server --bind 127.0.0.1 --port "$QC_REDIS_PORT" --save '' --appendonly no \
    --daemonize yes --pidfile "$QC_LOCAL/redis.pid" --logfile "$QC_LOCAL/redis.log" --dir "$QC_LOCAL" >/dev/null
  local i
  for i in $(seq 50); do
    redis-cli -p "$QC_REDIS_PORT" ping 2>/dev/null | grep -q PONG && { QC_STARTED_REDIS=1; return; }
    sleep 0.1
  done
  qc_log "Redis did not start (see $QC_LOCAL/redis.log)"; return 1
}

# Headless Chromium and ChromeDriver from Debian's packages, for the browser tests.
browser_up() {
  if ! command -v chromedriver >/dev/null || ! command -v chromium >/dev/null; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      qc_log "installing chromium and chromium-driver from Debian's packages"
      local pkgs="chromium chromium-driver fonts-dejavu-core fonts-noto-core"
      { apt-get install -y -q $pkgs || { apt-get update -q && apt-get install -y -q $pkgs; }; } \
        >"$QC_LOCAL/apt-chromium.log" 2>&1 || { qc_log "could not install Chromium (see $QC_LOCAL/apt-chromium.log)"; return 1; }
    else
      qc_log "chromium and chromedriver are missing: install them for the browser tests"; return 1
    fi
  fi
  # Japanese pages (kiosk, display, customer pages) need a CJK font, or their words are boxes.
  if command -v fc-list >/dev/null && [ -z "$(fc-list :lang=ja family 2>/dev/null)" ] && [ "$(id -u)" = 0 ] \
    && command -v apt-get >/dev/null; then
    qc_log "installing fonts-noto-cjk from Debian's packages (Japanese pages)"
    { apt-get install -y -q fonts-noto-cjk || { apt-get update -q && apt-get install -y -q fonts-noto-cjk; }; } \
      >"$QC_LOCAL/apt-fonts.log" 2>&1 || qc_log "could not install fonts-noto-cjk (see $QC_LOCAL/apt-fonts.log): Japanese shows as boxes"
  fi
  export QC_CHROMEDRIVER="${QC_CHROMEDRIVER:-$(command -v chromedriver)}"
}

# Schemathesis (PyPI), pinned, in a virtualenv of its own: tests/it/schemathesis.rs runs it against
# a test server. Installed once; a different pin reinstalls.
QC_SCHEMATHESIS_VERSION=4.32.5
schemathesis_up() {
  local venv=$QC_LOCAL/venv
  if [ "$("$venv/bin/schemathesis" --version 2>/dev/null)" = "schemathesis, version $QC_SCHEMATHESIS_VERSION" ]; then
    return
  fi
  command -v python3 >/dev/null || { qc_log "python3 is missing: install it for the schemathesis test"; return 1; }
  qc_log "installing schemathesis $QC_SCHEMATHESIS_VERSION into $venv"
  { python3 -m venv "$venv" && "$venv/bin/pip" install -q "schemathesis==$QC_SCHEMATHESIS_VERSION"; } \
    >"$QC_LOCAL/pip-schemathesis.log" 2>&1 || { qc_log "could not install schemathesis (see $QC_LOCAL/pip-schemathesis.log)"; return 1; }
}

# An SMTP server for the e-mail tests: aiosmtpd (PyPI, pinned) in .local/venv, on
# 127.0.0.1:$QC_SMTP_PORT, delivering every message into the maildir $QC_LOCAL/mail (new/).
QC_SMTP_PORT=${QC_SMTP_PORT:-22525}
QC_AIOSMTPD_VERSION=1.4.6
qc_port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
smtp_up() {
  local venv=$QC_LOCAL/venv
  if ! "$venv/bin/python" -c "import aiosmtpd, sys; sys.exit(aiosmtpd.__version__ != '$QC_AIOSMTPD_VERSION')" 2>/dev/null; then
    command -v python3 >/dev/null || { qc_log "python3 is missing: install it for the e-mail tests"; return 1; }
    qc_log "installing aiosmtpd $QC_AIOSMTPD_VERSION into $venv"
    { [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"; } && "$venv/bin/pip" install -q "aiosmtpd==$QC_AIOSMTPD_VERSION" \
      >"$QC_LOCAL/pip-aiosmtpd.log" 2>&1 || { qc_log "could not install aiosmtpd (see $QC_LOCAL/pip-aiosmtpd.log)"; return 1; }
  fi
  mkdir -p "$QC_LOCAL/mail/new" "$QC_LOCAL/mail/cur" "$QC_LOCAL/mail/tmp"
  export QC_SMTP_URL="smtp://127.0.0.1:$QC_SMTP_PORT" QC_MAILDIR="$QC_LOCAL/mail"
  if qc_port_open "$QC_SMTP_PORT"; then qc_log "SMTP server already running on 127.0.0.1:$QC_SMTP_PORT"; return; fi
  qc_log "starting aiosmtpd on 127.0.0.1:$QC_SMTP_PORT (maildir $QC_LOCAL/mail)"
  nohup "$venv/bin/python" -m aiosmtpd -n -l "127.0.0.1:$QC_SMTP_PORT" -c aiosmtpd.handlers.Mailbox "$QC_LOCAL/mail" \
    >"$QC_LOCAL/smtp.log" 2>&1 </dev/null &
  echo $! >"$QC_LOCAL/smtp.pid"
  local i
  for i in $(seq 50); do qc_port_open "$QC_SMTP_PORT" && return; sleep 0.1; done
  qc_log "the SMTP server did not start (see $QC_LOCAL/smtp.log)"; return 1
}

# An independent web push decrypter for the push tests: http-ece (PyPI, pinned; it brings
# cryptography, which also checks the VAPID signature) in .local/venv.
QC_HTTP_ECE_VERSION=1.2.1
webpush_up() {
  local venv=$QC_LOCAL/venv
  if "$venv/bin/python" -c "import http_ece, cryptography" 2>/dev/null \
    && [ "$("$venv/bin/pip" show http-ece 2>/dev/null | sed -n 's/^Version: //p')" = "$QC_HTTP_ECE_VERSION" ]; then
    return
  fi
  command -v python3 >/dev/null || { qc_log "python3 is missing: install it for the web push tests"; return 1; }
  qc_log "installing http-ece $QC_HTTP_ECE_VERSION into $venv"
  { [ -x "$venv/bin/pip" ] || python3 -m venv "$venv"; } && "$venv/bin/pip" install -q "http-ece==$QC_HTTP_ECE_VERSION" \
    >"$QC_LOCAL/pip-http-ece.log" 2>&1 || { qc_log "could not install http-ece (see $QC_LOCAL/pip-http-ece.log)"; return 1; }
}

# axe-core (npm), pinned, in .local/axe: the browser tests run it on every page and fail on a
# serious or critical violation (QC_AXE is the script they inject). Installed once; a different
# pin reinstalls.
QC_AXE_VERSION=4.14.1
axe_up() {
  local dir=$QC_LOCAL/axe
  local js=$dir/node_modules/axe-core/axe.min.js
  if [ "$(node -p "require('$dir/node_modules/axe-core/package.json').version" 2>/dev/null)" != "$QC_AXE_VERSION" ]; then
    command -v npm >/dev/null || { qc_log "npm is missing: install nodejs and npm for the accessibility checks"; return 1; }
    qc_log "installing axe-core $QC_AXE_VERSION into $dir"
    mkdir -p "$dir"
    npm install --prefix "$dir" --no-save --no-audit --no-fund "axe-core@$QC_AXE_VERSION" >"$QC_LOCAL/npm-axe.log" 2>&1 \
      || { qc_log "could not install axe-core (see $QC_LOCAL/npm-axe.log)"; return 1; }
  fi
  export QC_AXE="$js"
}

# The web push library's encryption (its `ece`) builds against the system's OpenSSL.
openssl_dev_up() {
  pkg-config --exists openssl 2>/dev/null && return
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    qc_log "installing libssl-dev and pkg-config from Debian's packages"
    { apt-get install -y -q libssl-dev pkg-config || { apt-get update -q && apt-get install -y -q libssl-dev pkg-config; }; } \
      >"$QC_LOCAL/apt-openssl.log" 2>&1 || { qc_log "could not install libssl-dev (see $QC_LOCAL/apt-openssl.log)"; return 1; }
  else
    qc_log "OpenSSL's headers are missing: install libssl-dev and pkg-config to build"; return 1
  fi
}

# Kannel for the SMS tests, from Debian's packages: bearerbox with a fake SMS centre, smsbox's
# sendsms on 127.0.0.1:$QC_KANNEL_SENDSMS_PORT (user queuecast), and fakesmsc as the centre,
# logging each message it receives ("Got message N: <from to text ...>"). The fake centre
# reports every message delivered, so delivery receipts flow back through each message's dlr-url.
QC_KANNEL_PORT=${QC_KANNEL_PORT:-23000}
QC_KANNEL_SENDSMS_PORT=${QC_KANNEL_SENDSMS_PORT:-23013}
kannel_up() {
  local k=$QC_LOCAL/kannel fake=/usr/lib/kannel/test/fakesmsc sbin=/usr/sbin
  if [ ! -x "$sbin/bearerbox" ] || [ ! -x "$sbin/smsbox" ] || [ ! -x "$fake" ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
      qc_log "installing kannel and kannel-extras from Debian's packages"
      { apt-get install -y -q kannel kannel-extras || { apt-get update -q && apt-get install -y -q kannel kannel-extras; }; } \
        >"$QC_LOCAL/apt-kannel.log" 2>&1 || { qc_log "could not install Kannel (see $QC_LOCAL/apt-kannel.log)"; return 1; }
    else
      qc_log "Kannel is missing: install kannel and kannel-extras for the SMS tests"; return 1
    fi
  fi
  export QC_KANNEL_SENDSMS_URL="http://127.0.0.1:$QC_KANNEL_SENDSMS_PORT/cgi-bin/sendsms" QC_KANNEL_LOG="$k/fakesmsc.log"
  if qc_port_open "$QC_KANNEL_SENDSMS_PORT" && [ -n "$(pgrep -f "fakesmsc .*-r $((QC_KANNEL_PORT + 10))" || true)" ]; then
    qc_log "Kannel already running (sendsms on 127.0.0.1:$QC_KANNEL_SENDSMS_PORT)"; return
  fi
  mkdir -p "$k"
  cat >"$k/kannel.conf" <<CONF
group = core
admin-port = $QC_KANNEL_PORT
admin-interface = 127.0.0.1
admin-password = queuecast-dev
admin-allow-ip = "127.0.0.1"
smsbox-port = $((QC_KANNEL_PORT + 1))
smsbox-interface = 127.0.0.1
box-allow-ip = "127.0.0.1"
dlr-storage = internal
log-file = "$k/bearerbox.log"
log-level = 1

group = smsc
smsc = fake
smsc-id = fake
port = $((QC_KANNEL_PORT + 10))
our-host = 127.0.0.1
connect-allow-ip = "127.0.0.1"

group = smsbox
bearerbox-host = 127.0.0.1
bearerbox-port = $((QC_KANNEL_PORT + 1))
sendsms-port = $QC_KANNEL_SENDSMS_PORT
sendsms-interface = 127.0.0.1
log-file = "$k/smsbox.log"
log-level = 1

group = sendsms-user
username = queuecast
password = queuecast-dev
max-messages = 1

group = sms-service
keyword = default
text = ""
omit-empty = true
CONF
  # Whatever of an earlier run is left (a box without its bearerbox) goes first.
  local pid
  for pid in $(cat "$k"/*.pid 2>/dev/null); do kill "$pid" 2>/dev/null || true; done
  qc_log "starting Kannel (bearerbox, fakesmsc, smsbox; sendsms on 127.0.0.1:$QC_KANNEL_SENDSMS_PORT)"
  nohup "$sbin/bearerbox" "$k/kannel.conf" >"$k/bearerbox.out" 2>&1 </dev/null &
  echo $! >"$k/bearerbox.pid"
  local i
  for i in $(seq 100); do qc_port_open "$((QC_KANNEL_PORT + 10))" && break; sleep 0.1; done
  # -m 0: sends nothing itself; -v 0 logs every message it receives.
  nohup "$fake" -v 0 -H 127.0.0.1 -r "$((QC_KANNEL_PORT + 10))" -m 0 "1 2 text unused" >"$k/fakesmsc.log" 2>&1 </dev/null &
  echo $! >"$k/fakesmsc.pid"
  nohup "$sbin/smsbox" "$k/kannel.conf" >"$k/smsbox.out" 2>&1 </dev/null &
  echo $! >"$k/smsbox.pid"
  for i in $(seq 100); do qc_port_open "$QC_KANNEL_SENDSMS_PORT" && return; sleep 0.1; done
  qc_log "Kannel did not start (see $k/*.log)"; return 1
}

services_up() {
  mkdir -p "$QC_LOCAL"
  qc_postgres_up || return 1
  qc_redis_up || return 1
}

services_down() {
  if [ -n "$QC_STARTED_REDIS" ]; then
    qc_log "stopping Redis"
    redis-cli -p "$QC_REDIS_PORT" shutdown nosave >/dev/null 2>&1 || true
  fi
  if [ -n "$QC_STARTED_PG" ]; then
    qc_log "stopping PostgreSQL"
    qc_as_postgres "$(qc_pg_bin)/pg_ctl" -D "$QC_STARTED_PG" -m fast -w stop >/dev/null 2>&1 || true
  fi
}
