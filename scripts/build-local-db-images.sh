#!/usr/bin/env bash
# build-local-db-images.sh - build local PostgreSQL 15 and MariaDB 10.11 Docker images without a registry.
#
# The CI machines have a Docker engine but no registry (`docker pull` fails), so the images the
# tests run (`docker:local/postgres:15`, `docker:local/mariadb:10.11`) are made here from Debian
# bookworm packages and streamed into `docker import`.
#
# Usage: scripts/build-local-db-images.sh [postgres|mariadb|all] [--force] [--selftest]
#   (no option)  build the images whose tag does not exist yet; exit 0 at once when all exist
#   --force      rebuild even if the tag exists
#   --selftest   then run each image on the live engine and check it as the tests use it: env vars,
#                server args, ready line, TCP password auth from the host (a wrong password must
#                fail), CREATE DATABASE, a quick `docker stop`, restart; exits non-zero on failure
# Env:
#   PG_IMAGE (local/postgres:15), MARIADB_IMAGE (local/mariadb:10.11)
#   PG_ALIASES, MARIADB_ALIASES  extra tags, space-separated (none by default: we do not pose as
#                                the official images unless asked)
#   METHOD       host (default): apt-get install the server on this machine, copy its binaries and
#                the libraries `ldd` lists into a small tree with a static busybox (2-4 s per image
#                once the packages are installed, ~10 s with the apt-get install; 89 / 78 MB).
#                debootstrap: a minimal Debian with the server installed by apt inside (~2.5 min
#                for both, 400 / 360 MB); the fallback if a copied binary ever misses a file that
#                ldd cannot see. Both were checked with --selftest.
#   WORKDIR      scratch space (${TMPDIR:-/tmp}/local-db-images); KEEP_ROOTFS=1 keeps the trees
#   SELFTEST_HOST  where the host reaches published ports (127.0.0.1; the bridge gateway, which
#                testcontainers uses when /.dockerenv exists, works too)
# Needs root (apt-get, chown to the service uids, chroot) and a running Docker engine.
#
# What the images do (see the entrypoints below for details):
#   local/postgres:15  POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust),
#       POSTGRES_USER (superuser, default postgres), POSTGRES_DB (default $POSTGRES_USER),
#       POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD (scram-sha-256), *_FILE variants.
#       Args: `postgres -c fsync=off ...` or just `-c fsync=off ...`. EXPOSE 5432. SIGTERM (docker
#       stop) = fast shutdown, as the official image's STOPSIGNAL SIGINT.
#       "database system is ready to accept connections": real server on stderr (the first-run
#       init server prints it on stdout), as in the official image.
#   local/mariadb:10.11  MARIADB_ROOT_PASSWORD | MARIADB_ALLOW_EMPTY_ROOT_PASSWORD |
#       MARIADB_RANDOM_ROOT_PASSWORD, MARIADB_ROOT_HOST (%), MARIADB_DATABASE, MARIADB_USER,
#       MARIADB_PASSWORD, MARIADB_INITDB_SKIP_TZINFO, the MYSQL_* aliases and *_FILE variants.
#       MARIADB_USER gets ALL on *.* (it may create databases); root@'%' takes the root password
#       over TCP. Args: `mariadbd --innodb-flush-log-at-trx-commit=0 ...` or just `--opt ...`.
#       EXPOSE 3306. "ready for connections." is printed on stderr by the real server only (the
#       init server logs to stdout), so a wait for it never fires early.
set -euo pipefail

WORKDIR=${WORKDIR:-${TMPDIR:-/tmp}/local-db-images}
PG_IMAGE=${PG_IMAGE:-local/postgres:15}
MARIADB_IMAGE=${MARIADB_IMAGE:-local/mariadb:10.11}
METHOD=${METHOD:-host}
SELFTEST_HOST=${SELFTEST_HOST:-127.0.0.1}
PGLIB=/usr/lib/postgresql/15
SVC_UID=999 # uid/gid of postgres / mysql in the host-method images (as in the official images)
SELFTEST_LABEL=build-local-db-images.selftest

log() { echo "[build-local-db-images $(date +%T)] $*" >&2; }
die() { log "error: $*"; exit 1; }
now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; } # seconds since $1

# ---------------------------------------------------------------------------------------------
# Host packages: the binaries we copy, and the clients the self-test connects with.
APT_UPDATED=
ensure_host_packages() {
    local missing=() p
    for p in "$@"; do
        dpkg-query -W -f '${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
    done
    [ ${#missing[@]} -eq 0 ] && return 0
    log "apt-get install ${missing[*]} (log: $WORKDIR/apt.log)"
    # Keep the host clean: policy-rc.d stops the packages' services from starting, and
    # postgresql-common is told not to create its 'main' cluster. Both are removed afterwards
    # if we made them.
    local policy=/usr/sbin/policy-rc.d made_policy='' rc=0
    local nocluster=/etc/postgresql-common/createcluster.d/99-build-local-db-images.conf made_nocluster=''
    if [ ! -e $policy ]; then printf '#!/bin/sh\nexit 101\n' > $policy; chmod +x $policy; made_policy=1; fi
    if [ ! -e $nocluster ]; then
        mkdir -p "${nocluster%/*}"; echo 'create_main_cluster = false' > $nocluster; made_nocluster=1
    fi
    {
        if [ -z "$APT_UPDATED" ]; then apt-get update && APT_UPDATED=1; fi &&
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
    } > "$WORKDIR/apt.log" 2>&1 || rc=$?
    if [ -n "$made_policy" ]; then rm -f $policy; fi
    if [ -n "$made_nocluster" ]; then rm -f $nocluster; fi
    [ $rc -eq 0 ] || { tail -n 20 "$WORKDIR/apt.log" >&2; die "apt-get install ${missing[*]} failed"; }
}

# ---------------------------------------------------------------------------------------------
# Root filesystem helpers (METHOD=host). $R is the rootfs being built.
put() { # copy host paths to the same place in $R (files dereferenced)
    local p
    for p in "$@"; do mkdir -p "$R$(dirname "$p")"; cp -aL "$p" "$R$p"; done
}
put_libs() { # copy every shared library ldd lists for the given files (scripts are skipped)
    local deps; deps=$(ldd "$@" 2>/dev/null || true)
    if grep -q 'not found' <<<"$deps"; then
        die "unresolved libraries: $(grep 'not found' <<<"$deps" | sort -u | tr -s ' \t\n' ' ')"
    fi
    awk '$2 == "=>" && $3 ~ /^\// {print $3} $1 ~ /^\/.*ld-linux/ {print $1}' <<<"$deps" | sort -u \
        | while read -r lib; do [ -e "$R$lib" ] || put "$lib"; done
}

new_rootfs() { # new_rootfs DIR SERVICE_USER HOME: usr-merged skeleton, busybox, setpriv, tz, locale
    R=$1
    local user=$2 home=$3
    rm -rf "$R"
    mkdir -p "$R"/usr/{bin,sbin,lib/x86_64-linux-gnu,lib64,local/bin} "$R"/{etc,proc,sys,dev,run,tmp,root,var/lib}
    local d; for d in bin sbin lib lib64; do ln -s "usr/$d" "$R/$d"; done
    ln -s ../run "$R/var/run"
    chmod 1777 "$R/tmp" # the entrypoints' mktemp and the servers need a world-writable /tmp

    # static busybox provides /bin/sh and the coreutils; its applets win over PATH inside sh,
    # so the entrypoints call util-linux setpriv by absolute path (busybox's lacks --reuid).
    cp /bin/busybox "$R/usr/bin/busybox"
    local a; for a in $(/bin/busybox --list); do [ -e "$R/usr/bin/$a" ] || ln -s busybox "$R/usr/bin/$a"; done
    rm -f "$R/usr/bin/setpriv" "$R/usr/bin/locale"
    put /usr/bin/setpriv /usr/bin/locale          # drop root; `locale -a` is run by initdb
    put_libs /usr/bin/setpriv /usr/bin/locale

    mkdir -p "$R/usr/share"                       # time zones (symlinks kept); C.UTF-8 locale
    cp -a /usr/share/zoneinfo "$R/usr/share/"
    put /usr/lib/locale/C.utf8
    ln -s /usr/share/zoneinfo/Etc/UTC "$R/etc/localtime"

    cat > "$R/etc/passwd" <<EOF
root:x:0:0:root:/root:/bin/sh
$user:x:$SVC_UID:$SVC_UID:$user:$home:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
    printf 'root:x:0:\n%s:x:%s:\nnogroup:x:65534:\n' "$user" "$SVC_UID" > "$R/etc/group"
    printf 'passwd: files\ngroup: files\nshadow: files\nhosts: files dns\n' > "$R/etc/nsswitch.conf"
    printf '127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n' > "$R/etc/hosts"
}

# METHOD=debootstrap: a minimal Debian with the packages installed by apt inside a chroot.
debian_mirror() { # the bookworm URI from this machine's apt sources, read at run time
    local m=
    if [ -r /etc/apt/sources.list.d/debian.sources ]; then
        m=$(awk '/^URIs:/ {u = $2} /^Suites:/ && / bookworm( |$)/ && u {print u; exit}' \
            /etc/apt/sources.list.d/debian.sources)
    fi
    [ -n "$m" ] || m=$(awk '$1 == "deb" && $3 == "bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null)
    [ -n "$m" ] || die "no bookworm mirror in the apt sources"
    echo "$m"
}
hide_hosts() { sed -E 's#[a-z]+://[^/ ]+#MIRROR#g'; } # keep mirror host names out of our logs
CHROOT_MOUNTS=() # unmounted by the EXIT trap too, so a failure leaves no mount behind
umount_chroot() { local m; for m in "${CHROOT_MOUNTS[@]}"; do umount "$m" 2>/dev/null || true; done; CHROOT_MOUNTS=(); }
debootstrap_rootfs() { # debootstrap_rootfs DIR PACKAGE...
    R=$1; shift
    ensure_host_packages debootstrap
    local base=$WORKDIR/bookworm-minbase mirror; mirror=$(debian_mirror)
    if [ ! -e "$base/.complete" ]; then # one debootstrap serves both images
        log "debootstrap --variant=minbase bookworm (log: $WORKDIR/debootstrap.log)"
        rm -rf "$base"
        debootstrap --variant=minbase bookworm "$base" "$mirror" 2>&1 | hide_hosts \
            > "$WORKDIR/debootstrap.log" || die "debootstrap failed, see $WORKDIR/debootstrap.log"
        # drop what names the mirror: apt's sources and lists, the log, docs, dselect's apt method
        rm -rf "$base/etc/apt/sources.list" "$base"/var/lib/apt/lists/* "$base/var/log/bootstrap.log" \
            "$base"/usr/share/doc/* "$base/usr/lib/dpkg/methods/apt"
        touch "$base/.complete"
    fi
    rm -rf "$R"; mkdir -p "${R%/*}"; cp -a "$base" "$R"; rm -f "$R/.complete"
    # no services, no automatic 'main' postgres cluster, no docs/man pages/translations
    printf '#!/bin/sh\nexit 101\n' > "$R/usr/sbin/policy-rc.d"; chmod +x "$R/usr/sbin/policy-rc.d"
    mkdir -p "$R/etc/postgresql-common/createcluster.d"
    echo 'create_main_cluster = false' > "$R/etc/postgresql-common/createcluster.d/no-main.conf"
    printf 'path-exclude=/usr/share/%s/*\n' doc man info locale > "$R/etc/dpkg/dpkg.cfg.d/excludes"
    # apt inside uses this machine's sources (bind-mounted: no file in the image names the mirror)
    mkdir -p "$R/etc/apt/sources.list.d"
    mount --bind /etc/apt/sources.list.d "$R/etc/apt/sources.list.d"; CHROOT_MOUNTS+=("$R/etc/apt/sources.list.d")
    mount -t proc proc "$R/proc"; mount --bind /dev "$R/dev"
    CHROOT_MOUNTS=("$R/dev" "$R/proc" "${CHROOT_MOUNTS[@]}")
    log "apt-get install $* in the chroot (log: ${R%/*}/apt.log)"
    local rc=0
    { chroot "$R" apt-get -o Acquire::Check-Valid-Until=false update &&
        chroot "$R" env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "$@"
    } 2>&1 | hide_hosts > "${R%/*}/apt.log" || rc=$?
    umount_chroot
    [ $rc -eq 0 ] || die "apt-get install $* in the chroot failed, see ${R%/*}/apt.log"
    chroot "$R" apt-get clean
    rm -rf "$R"/var/lib/apt/lists/* "$R/usr/sbin/policy-rc.d" "$R/etc/postgresql-common/createcluster.d/no-main.conf"
}

# ---------------------------------------------------------------------------------------------
# PostgreSQL 15
build_pg_rootfs() { # -> $WORKDIR/postgres/rootfs; sets PKG_VERSION
    R=$WORKDIR/postgres/rootfs
    if [ "$METHOD" = debootstrap ]; then
        debootstrap_rootfs "$R" postgresql-15
        # shellcheck disable=SC2016 # ${Version} is dpkg-query's, not ours
        PKG_VERSION=$(chroot "$R" dpkg-query -W -f '${Version}' postgresql-15)
    else
        ensure_host_packages postgresql-15 postgresql-client-15 busybox-static tzdata
        PKG_VERSION=$(dpkg-query -W -f '${Version}' postgresql-15)
        new_rootfs "$R" postgres /var/lib/postgresql
        put $PGLIB/bin /usr/share/postgresql/15
        mkdir -p "$R$PGLIB/lib"
        local so
        for so in "$PGLIB"/lib/*.so; do # all modules but the LLVM JIT (libLLVM is 100+ MB; jit stays off)
            case "$so" in */llvmjit.so) ;; *) cp -aL "$so" "$R$PGLIB/lib/" ;; esac
        done
        put_libs $PGLIB/bin/* "$R$PGLIB"/lib/*.so
    fi
    mkdir -p "$R/var/lib/postgresql/data" "$R/run/postgresql" "$R/docker-entrypoint-initdb.d"
    chroot "$R" /bin/sh -c 'chown -R postgres:postgres /var/lib/postgresql /run/postgresql'
    chmod 700 "$R/var/lib/postgresql/data"; chmod 3777 "$R/run/postgresql"
    write_pg_entrypoint > "$R/usr/local/bin/docker-entrypoint.sh"
    chmod 755 "$R/usr/local/bin/docker-entrypoint.sh"
}

write_pg_entrypoint() {
    cat <<'ENTRYPOINT'
#!/bin/sh
# Minimal stand-in for the official postgres image's docker-entrypoint.sh.
#   env: POSTGRES_PASSWORD (required unless POSTGRES_HOST_AUTH_METHOD=trust),
#        POSTGRES_USER (default postgres; superuser), POSTGRES_DB (default $POSTGRES_USER),
#        POSTGRES_INITDB_ARGS, POSTGRES_HOST_AUTH_METHOD (default scram-sha-256), PGDATA,
#        and POSTGRES_{PASSWORD,USER,DB,INITDB_ARGS}_FILE (read as root, like Docker secrets)
#   args: none / "-c k=v ..." / "postgres -c k=v ..." -> run the server with them; anything else is exec'd.
# Like the official image, the first-run temporary server logs to STDOUT and the real server to
# STDERR, so "database system is ready to accept connections" on stderr means the real server.
set -eu

PGBIN=/usr/lib/postgresql/15/bin
export PATH="$PGBIN:/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"
export PGDATA="${PGDATA:-/var/lib/postgresql/data}"
export LANG="${LANG:-C.UTF-8}"
SOCKDIR=/var/run/postgresql

if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then set -- postgres "$@"; fi
if [ "$1" != postgres ]; then exec "$@"; fi
shift # "$@" now holds only server options

file_env() { # VAR: fill $VAR from the file named by $VAR_FILE unless $VAR is already set
    eval "_file=\${${1}_FILE:-} _val=\${$1:-}"
    if [ -z "$_val" ] && [ -n "$_file" ]; then eval "$1=\$(cat \"\$_file\")"; export "${1?}"; fi
}
for v in POSTGRES_PASSWORD POSTGRES_USER POSTGRES_DB POSTGRES_INITDB_ARGS; do file_env "$v"; done

# Started as root (the default): fix ownership, then re-run this script as the postgres user.
if [ "$(id -u)" = 0 ]; then
    mkdir -p "$PGDATA" "$SOCKDIR"
    chown postgres:postgres "$PGDATA" "$SOCKDIR"
    chmod 700 "$PGDATA"
    chmod 3777 "$SOCKDIR"
    exec /usr/bin/setpriv --reuid=postgres --regid=postgres --init-groups "$0" postgres "$@"
fi

if [ ! -s "$PGDATA/PG_VERSION" ]; then
    : "${POSTGRES_USER:=postgres}"
    : "${POSTGRES_DB:=$POSTGRES_USER}"
    auth="${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}"
    if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != trust ]; then
        echo "error: POSTGRES_PASSWORD is empty; set it or POSTGRES_HOST_AUTH_METHOD=trust" >&2
        exit 1
    fi
    pwopt=
    if [ -n "${POSTGRES_PASSWORD:-}" ]; then
        pwfile="$(mktemp)"
        printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
        pwopt="--pwfile=$pwfile"
    fi
    # local (unix socket) = trust for this script; every TCP connection, 127.0.0.1 included, needs
    # the password. --no-sync: throwaway test data. POSTGRES_INITDB_ARGS come last so they win.
    # shellcheck disable=SC2086
    initdb --username="$POSTGRES_USER" $pwopt --encoding=UTF8 --auth-local=trust \
        --auth-host="$auth" --no-sync ${POSTGRES_INITDB_ARGS:-}
    if [ -n "$pwopt" ]; then rm -f "$pwfile"; fi
    printf "\nlisten_addresses = '*'\n" >> "$PGDATA/postgresql.conf"
    printf 'host all all all %s\n' "$auth" >> "$PGDATA/pg_hba.conf"

    # Temporary socket-only server with the user's args (pg_ctl -o goes through sh, so quote
    # them). No -l: its log, ready line included, goes to STDOUT.
    opts=
    for a in "$@"; do opts="$opts '$(printf '%s' "$a" | sed "s/'/'\\\\''/g")'"; done
    export PGHOST="$SOCKDIR" PGUSER="$POSTGRES_USER" PGPORT="${PGPORT:-5432}"
    pg_ctl -D "$PGDATA" -w start \
        -o "$opts -c listen_addresses='' -c unix_socket_directories=$SOCKDIR -p $PGPORT"
    if [ "$POSTGRES_DB" != postgres ]; then
        psql -X -q -v ON_ERROR_STOP=1 -d postgres -v db="$POSTGRES_DB" <<'SQL'
CREATE DATABASE :"db";
SQL
    fi
    for f in /docker-entrypoint-initdb.d/*; do
        # shellcheck disable=SC1090 # sources the user's init scripts
        case "$f" in
            *.sh)     echo "$0: running $f"; . "$f" ;;
            *.sql)    echo "$0: running $f"; psql -X -v ON_ERROR_STOP=1 -d "$POSTGRES_DB" -f "$f" ;;
            *.sql.gz) echo "$0: running $f"; gzip -dc "$f" | psql -X -v ON_ERROR_STOP=1 -d "$POSTGRES_DB" ;;
            *)        if [ -e "$f" ]; then echo "$0: ignoring $f"; fi ;;
        esac
    done
    pg_ctl -D "$PGDATA" -m fast -w stop
    unset PGHOST PGUSER PGPORT
    echo
    echo 'PostgreSQL init process complete; ready for start up.'
    echo
fi

# The real server, logging to STDERR. `docker stop` sends SIGTERM, which postgres takes as a
# "smart" shutdown that waits for every client to disconnect (a test's pool keeps it up until
# Docker's SIGKILL 10 s later). The official image declares STOPSIGNAL SIGINT instead, but this
# engine's `docker import --change` rejects STOPSIGNAL, so this shell stays PID 1 and turns
# SIGTERM into SIGINT (fast shutdown: aborts sessions, checkpoints, exits 0).
postgres "$@" &
pid=$!
trap 'kill -INT "$pid" 2>/dev/null' TERM INT
trap 'kill -QUIT "$pid" 2>/dev/null' QUIT
trap 'kill -HUP "$pid" 2>/dev/null' HUP
while :; do
    wait "$pid" && rc=0 || rc=$?  # returns early when a trap runs: wait again
    kill -0 "$pid" 2>/dev/null || exit "$rc"
done
ENTRYPOINT
}

# ---------------------------------------------------------------------------------------------
# MariaDB 10.11
build_mariadb_rootfs() { # -> $WORKDIR/mariadb/rootfs; sets PKG_VERSION
    R=$WORKDIR/mariadb/rootfs
    if [ "$METHOD" = debootstrap ]; then
        debootstrap_rootfs "$R" mariadb-server
        rm -rf "$R"/var/lib/mysql/* # the package's postinst initialised one; the entrypoint does it
        # shellcheck disable=SC2016 # ${Version} is dpkg-query's, not ours
        PKG_VERSION=$(chroot "$R" dpkg-query -W -f '${Version}' mariadb-server)
    else
        ensure_host_packages mariadb-server mariadb-client busybox-static tzdata
        PKG_VERSION=$(dpkg-query -W -f '${Version}' mariadb-server)
        new_rootfs "$R" mysql /var/lib/mysql
        local bins=(/usr/sbin/mariadbd /usr/bin/{mariadb,mariadb-admin,mariadb-dump,my_print_defaults}
            /usr/bin/mariadb-tzinfo-to-sql)
        put "${bins[@]}" /usr/bin/mariadb-install-db /usr/share/mysql /usr/lib/mysql/plugin \
            /usr/lib/x86_64-linux-gnu/libmariadb3/plugin
        rm -rf "$R/usr/lib/mysql/plugin/auth_pam_tool_dir"
        ln -s mariadb "$R/usr/bin/mysql"; ln -s mariadbd "$R/usr/sbin/mysqld"
        put_libs "${bins[@]}" /usr/lib/mysql/plugin/*.so /usr/lib/x86_64-linux-gnu/libmariadb3/plugin/*.so
        mkdir -p "$R/etc/mysql/mariadb.conf.d"
        printf '[client-server]\nsocket = /run/mysqld/mysqld.sock\n\n!includedir /etc/mysql/mariadb.conf.d/\n' \
            > "$R/etc/mysql/my.cnf"
    fi
    # What the official image's docker.cnf does, plus utf8mb4 and no native AIO (io_uring is
    # blocked by Docker's default seccomp profile; libaio contexts run out with many containers).
    # 99- sorts after Debian's 50-server.cnf, whose bind-address = 127.0.0.1 it must override.
    cat > "$R/etc/mysql/mariadb.conf.d/99-docker.cnf" <<'CNF'
[mariadbd]
skip-host-cache
skip-name-resolve
bind-address = 0.0.0.0
character-set-server = utf8mb4
collation-server = utf8mb4_general_ci
innodb_use_native_aio = 0
CNF
    mkdir -p "$R/var/lib/mysql" "$R/run/mysqld" "$R/docker-entrypoint-initdb.d"
    chroot "$R" /bin/sh -c 'chown mysql:mysql /var/lib/mysql /run/mysqld'
    write_mariadb_entrypoint > "$R/usr/local/bin/docker-entrypoint.sh"
    chmod 755 "$R/usr/local/bin/docker-entrypoint.sh"
}

write_mariadb_entrypoint() {
    cat <<'ENTRYPOINT'
#!/bin/sh
# Minimal stand-in for the official mariadb image's docker-entrypoint.sh.
#   env (MARIADB_* wins over the MYSQL_* alias; each also as *_FILE, read as root):
#     MARIADB_ROOT_PASSWORD | MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1 | MARIADB_RANDOM_ROOT_PASSWORD=1
#     (one is required), MARIADB_ROOT_HOST (default %), MARIADB_DATABASE,
#     MARIADB_USER + MARIADB_PASSWORD, MARIADB_INITDB_SKIP_TZINFO
#   args: none / "--opt ..." / "mariadbd --opt ..." -> run the server with them; anything else is exec'd.
# Differences from the official image, on purpose:
#   - MARIADB_USER gets ALL PRIVILEGES ON *.* (not just its database), so it can create the
#     scratch databases a migration rehearsal needs (like POSTGRES_USER, a superuser).
#   - the first-run temporary server (--skip-networking) logs to STDOUT, so "ready for
#     connections." appears on STDERR only when the real server listens on 3306.
set -eu

export PATH="/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
export LANG="${LANG:-C.UTF-8}"
DATADIR=/var/lib/mysql
SOCKET=/run/mysqld/mysqld.sock

if [ "$#" -eq 0 ] || [ "${1#-}" != "$1" ]; then set -- mariadbd "$@"; fi
case "$1" in mariadbd|mysqld) shift ;; *) exec "$@" ;; esac
# "$@" now holds only server options; always run it as "mariadbd": the ready line starts with argv[0]

file_env() { # VAR: fill $VAR from the file named by $VAR_FILE unless $VAR is already set
    eval "_file=\${${1}_FILE:-} _val=\${$1:-}"
    if [ -z "$_val" ] && [ -n "$_file" ]; then eval "$1=\$(cat \"\$_file\")"; export "${1?}"; fi
}
for v in ROOT_PASSWORD ROOT_HOST DATABASE USER PASSWORD; do file_env "MARIADB_$v"; file_env "MYSQL_$v"; done

if [ "$(id -u)" = 0 ]; then
    mkdir -p "$DATADIR" /run/mysqld
    chown mysql:mysql "$DATADIR" /run/mysqld
    exec /usr/bin/setpriv --reuid=mysql --regid=mysql --init-groups "$0" mariadbd "$@"
fi

sql_str() { printf '%s' "$1" | sed -e 's/\\/\\\\/g' -e "s/'/\\\\'/g"; }  # for '...' literals
# shellcheck disable=SC2016 # backquotes are SQL's, not the shell's
sql_id()  { printf '%s' "$1" | sed -e 's/`/``/g'; }                      # for `...` identifiers

if [ ! -d "$DATADIR/mysql" ]; then
    root_pw="${MARIADB_ROOT_PASSWORD:-${MYSQL_ROOT_PASSWORD:-}}"
    allow_empty="${MARIADB_ALLOW_EMPTY_ROOT_PASSWORD:-${MYSQL_ALLOW_EMPTY_PASSWORD:-}}"
    random_root="${MARIADB_RANDOM_ROOT_PASSWORD:-${MYSQL_RANDOM_ROOT_PASSWORD:-}}"
    root_host="${MARIADB_ROOT_HOST:-${MYSQL_ROOT_HOST:-%}}"
    db="${MARIADB_DATABASE:-${MYSQL_DATABASE:-}}"
    user="${MARIADB_USER:-${MYSQL_USER:-}}"
    user_pw="${MARIADB_PASSWORD:-${MYSQL_PASSWORD:-}}"
    if [ -z "$root_pw" ] && [ -n "$random_root" ]; then
        root_pw="$(tr -dc 'A-Za-z0-9' < /dev/urandom | head -c 32)"
        echo "GENERATED ROOT PASSWORD: $root_pw"
    fi
    if [ -z "$root_pw" ] && [ -z "$allow_empty" ]; then
        echo "error: set MARIADB_ROOT_PASSWORD, MARIADB_ALLOW_EMPTY_ROOT_PASSWORD=1 or MARIADB_RANDOM_ROOT_PASSWORD=1" >&2
        exit 1
    fi
    if [ "$user" = root ]; then
        echo "error: MARIADB_USER=root: use MARIADB_ROOT_PASSWORD for root" >&2
        exit 1
    fi

    echo "$0: initializing database files"
    mariadb-install-db --datadir="$DATADIR" --rpm --cross-bootstrap --skip-test-db \
        --skip-name-resolve --auth-root-authentication-method=normal \
        --old-mode='UTF8_IS_UTF8MB3' --default-time-zone=SYSTEM --enforce-storage-engine= \
        --skip-log-bin --expire-logs-days=0 \
        --loose-innodb_buffer_pool_load_at_startup=0 --loose-innodb_buffer_pool_dump_at_shutdown=0

    # Temporary server, socket only ("port: 0"), with the user's args; its log goes to STDOUT.
    mariadbd "$@" --skip-networking --socket="$SOCKET" --default-time-zone=SYSTEM \
        --wsrep_on=OFF --expire-logs-days=0 --skip-slave-start \
        --loose-innodb_buffer_pool_load_at_startup=0 2>&1 &
    tmp_pid=$!
    i=0
    until mariadb-admin --socket="$SOCKET" -uroot --silent ping >/dev/null 2>&1; do
        i=$((i + 1))
        if [ "$i" -ge 300 ] || ! kill -0 "$tmp_pid" 2>/dev/null; then
            echo "error: temporary server did not start" >&2; exit 1
        fi
        sleep 0.1
    done

    if [ -z "${MARIADB_INITDB_SKIP_TZINFO:-${MYSQL_INITDB_SKIP_TZINFO:-}}" ]; then
        # named time zones (CONVERT_TZ, SET time_zone = 'Europe/Paris'), as the official image
        mariadb-tzinfo-to-sql --skip-write-binlog /usr/share/zoneinfo 2>/dev/null \
            | mariadb --socket="$SOCKET" -uroot --database=mysql
    fi

    {
        echo "SET @@SESSION.SQL_LOG_BIN=0;"
        echo "DROP USER IF EXISTS root@'127.0.0.1', root@'::1';"
        if [ -n "$root_pw" ]; then
            echo "SET PASSWORD FOR root@localhost = PASSWORD('$(sql_str "$root_pw")');"
        fi
        if [ "$root_host" != localhost ]; then
            echo "CREATE USER root@'$(sql_str "$root_host")' IDENTIFIED BY '$(sql_str "$root_pw")';"
            echo "GRANT ALL ON *.* TO root@'$(sql_str "$root_host")' WITH GRANT OPTION;"
            echo "GRANT PROXY ON ''@'%' TO root@'$(sql_str "$root_host")' WITH GRANT OPTION;"
        fi
        if [ -n "$db" ]; then
            echo "CREATE DATABASE IF NOT EXISTS \`$(sql_id "$db")\`;"
        fi
        if [ -n "$user" ]; then
            echo "CREATE USER '$(sql_str "$user")'@'%' IDENTIFIED BY '$(sql_str "$user_pw")';"
            echo "GRANT ALL PRIVILEGES ON *.* TO '$(sql_str "$user")'@'%';"
        fi
    } | mariadb --socket="$SOCKET" -uroot --database=mysql --binary-mode

    export MYSQL_PWD="$root_pw" # the client reads the root password from here from now on
    for f in /docker-entrypoint-initdb.d/*; do
        # shellcheck disable=SC1090 # sources the user's init scripts
        case "$f" in
            *.sh)     echo "$0: running $f"; . "$f" ;;
            *.sql)    echo "$0: running $f"; mariadb --socket="$SOCKET" -uroot ${db:+--database="$db"} < "$f" ;;
            *.sql.gz) echo "$0: running $f"; gzip -dc "$f" | mariadb --socket="$SOCKET" -uroot ${db:+--database="$db"} ;;
            *)        if [ -e "$f" ]; then echo "$0: ignoring $f"; fi ;;
        esac
    done
    unset MYSQL_PWD

    kill "$tmp_pid"
    wait "$tmp_pid" || true
    echo "$0: MariaDB init process done. Ready for start up."
fi

# The real server: PID 1 (SIGTERM = normal shutdown: closes sessions, exits 0), logs to STDERR.
exec mariadbd "$@"
ENTRYPOINT
}

# ---------------------------------------------------------------------------------------------
# docker import
image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

import_image() { # import_image ROOTFS IMAGE CHANGE...: stream the tree into a tagged image
    local rootfs=$1 image=$2; shift 2
    local changes=() c
    for c in "$@"; do changes+=(--change "$c"); done
    tar --numeric-owner -C "$rootfs" -c . \
        | docker import "${changes[@]}" --message "scripts/build-local-db-images.sh METHOD=$METHOD" \
            - "$image" >/dev/null
}

# docker import keeps no metadata: everything `docker run` relies on is given here.
# (without EXPOSE, `-P` and testcontainers publish no port)
ENV_PATH='ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin'
SOURCE_LABEL='LABEL org.opencontainers.image.source=scripts/build-local-db-images.sh'
import_pg() {
    import_image "$WORKDIR/postgres/rootfs" "$PG_IMAGE" \
        'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' 'CMD ["postgres"]' \
        "$ENV_PATH" 'ENV LANG=C.UTF-8' 'ENV PGDATA=/var/lib/postgresql/data' \
        'EXPOSE 5432' 'VOLUME /var/lib/postgresql/data' \
        "$SOURCE_LABEL" "LABEL org.opencontainers.image.version=$PKG_VERSION" \
        'LABEL org.opencontainers.image.title="PostgreSQL 15 (Debian postgresql-15)"'
}
import_mariadb() {
    import_image "$WORKDIR/mariadb/rootfs" "$MARIADB_IMAGE" \
        'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' 'CMD ["mariadbd"]' \
        "$ENV_PATH" 'ENV LANG=C.UTF-8' 'EXPOSE 3306' 'VOLUME /var/lib/mysql' \
        "$SOURCE_LABEL" "LABEL org.opencontainers.image.version=$PKG_VERSION" \
        'LABEL org.opencontainers.image.title="MariaDB 10.11 (Debian mariadb-server)"'
}

build_image() { # build_image postgres|mariadb: rootfs, import, remove the tree
    local db=$1 image=$2 t0 old_id=''
    t0=$(now)
    old_id=$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)
    if [ "$db" = postgres ]; then build_pg_rootfs; else build_mariadb_rootfs; fi
    log "$db rootfs (METHOD=$METHOD, $PKG_VERSION): $(du -sh "$WORKDIR/$db/rootfs" | cut -f1) after $(since "$t0")s"
    if [ "$db" = postgres ]; then import_pg; else import_mariadb; fi
    log "$image imported: $(docker image inspect -f '{{.Size}}' "$image" | awk '{printf "%.0f MB", $1/1e6}'), built in $(since "$t0")s"
    if [ -z "${KEEP_ROOTFS:-}" ]; then rm -rf "${WORKDIR:?}/$db/rootfs"; fi
    # --force: drop the replaced image unless something (a container, another tag) still uses it
    if [ -n "$old_id" ]; then docker image rm "$old_id" >/dev/null 2>&1 || true; fi
}

# ---------------------------------------------------------------------------------------------
# Self-test on the live engine. Every container is labelled and removed on exit, pass or fail.
cleanup_selftest() {
    local ids; ids=$(docker ps -aq --filter "label=$SELFTEST_LABEL" 2>/dev/null || true)
    # shellcheck disable=SC2086 # one word per container id
    if [ -n "$ids" ]; then docker rm -f $ids >/dev/null 2>&1 || true; fi
}

host_port() { # host_port CID PORT: the host port docker published for PORT/tcp (changes on restart)
    docker inspect -f "{{(index (index .NetworkSettings.Ports \"$2/tcp\") 0).HostPort}}" "$1" 2>/dev/null
}

wait_stderr() { # wait_stderr CID TEXT N: until TEXT is on the container's stderr N times (60 s)
    local _
    for _ in $(seq 600); do
        [ "$(docker logs "$1" 2>&1 >/dev/null | grep -cF "$2")" -ge "$3" ] && return 0
        [ "$(docker inspect -f '{{.State.Running}}' "$1")" = true ] || { log "container exited"; return 1; }
        sleep 0.1
    done
    log "timed out waiting for '$2' on stderr"; return 1
}

check() { # check DESCRIPTION CMD...: run CMD, log and fail on error
    if "${@:2}"; then log "  ok: $1"; else log "  FAILED: $1"; return 1; fi
}

rejected() { # rejected MESSAGE CMD...: CMD fails, and says MESSAGE (not just "connection refused")
    local err; if err=$("${@:2}" 2>&1 >/dev/null); then return 1; fi
    grep -qF "$1" <<<"$err" || { log "  unexpected error: $err"; return 1; }
}

stop_quickly() { # stop_quickly CID: docker stop within 5 s (SIGTERM/SIGINT handled, no SIGKILL)
    local t0; t0=$(now)
    docker stop "$1" >/dev/null
    local took; took=$(since "$t0")
    log "  docker stop took ${took}s (exit code $(docker inspect -f '{{.State.ExitCode}}' "$1"))"
    awk -v t="$took" 'BEGIN { exit !(t < 5) }' && [ "$(docker inspect -f '{{.State.ExitCode}}' "$1")" = 0 ]
}

selftest_postgres() {
    ensure_host_packages postgresql-client-15 # psql
    local pw="pa ss'w" cid t0 port rc=0
    local uri="postgresql://drill:pa%20ss%27w@$SELFTEST_HOST"
    export PGCONNECT_TIMEOUT=5
    log "selftest $PG_IMAGE"
    t0=$(now)
    cid=$(docker run -d -P --label "$SELFTEST_LABEL=1" -e POSTGRES_USER=drill -e "POSTGRES_PASSWORD=$pw" \
        -e POSTGRES_DB=drilldb "$PG_IMAGE" postgres -c fsync=off -c full_page_writes=off)
    wait_stderr "$cid" 'database system is ready to accept connections' 1 || rc=1
    [ $rc = 0 ] && log "  ready after $(since "$t0")s (docker run -> ready line on stderr)"
    port=$(host_port "$cid" 5432) || rc=1
    q() { psql -X -q -At -v ON_ERROR_STOP=1 "$uri:$port/${2:-drilldb}" -c "$1"; }
    [ $rc = 0 ] &&
    check "connect over TCP to $SELFTEST_HOST:$port as POSTGRES_USER, server args applied" \
        test "$(q "select current_user||' '||current_database()||' '||current_setting('fsync')")" = 'drill drilldb off' &&
    check "POSTGRES_USER is superuser" test "$(q 'select rolsuper from pg_roles where rolname = current_user')" = t &&
    check "password stored and checked as scram-sha-256" test "$(q 'select left(rolpassword, 13) from pg_authid where rolname = current_user')" = 'SCRAM-SHA-256' &&
    check "wrong password rejected" rejected 'password authentication failed' \
        psql -X "postgresql://drill:wrong@$SELFTEST_HOST:$port/drilldb" -c 'select 1' &&
    check "create a table" q 'create table t as select 42 as x' &&
    check "CREATE DATABASE ... TEMPLATE" q 'create database copy1 template drilldb' postgres &&
    check "template copy has the data" test "$(q 'select x from t' copy1)" = 42 || rc=1
    # an open session must not delay the stop (SIGTERM is turned into a fast shutdown)
    if [ $rc = 0 ]; then
        psql -X "$uri:$port/drilldb" -c 'select pg_sleep(30)' >/dev/null 2>&1 & local busy=$!
        sleep 0.5
        check "docker stop with an open session < 5 s" stop_quickly "$cid" || rc=1
        wait $busy 2>/dev/null || true
    fi
    if [ $rc = 0 ]; then
        t0=$(now); docker start "$cid" >/dev/null
        wait_stderr "$cid" 'database system is ready to accept connections' 2 || rc=1
        port=$(host_port "$cid" 5432) || rc=1
        [ $rc = 0 ] && log "  restarted, ready after $(since "$t0")s, now on port $port"
        [ $rc = 0 ] && check "data survives restart" test "$(q 'select x from t' copy1)" = 42 || rc=1
    fi
    [ $rc = 0 ] || { log "container logs:"; docker logs "$cid" 2>&1 | tail -n 30 >&2; }
    docker rm -f "$cid" >/dev/null
    return $rc
}

selftest_mariadb() {
    ensure_host_packages mariadb-client
    local rootpw="r00t pw'" cid t0 port rc=0
    log "selftest $MARIADB_IMAGE"
    t0=$(now)
    # the root password via MARIADB_*, the user via the MYSQL_* aliases
    cid=$(docker run -d -P --label "$SELFTEST_LABEL=1" -e "MARIADB_ROOT_PASSWORD=$rootpw" \
        -e MARIADB_DATABASE=drilldb -e MYSQL_USER=drill -e MYSQL_PASSWORD=drillpw \
        "$MARIADB_IMAGE" mariadbd --innodb-flush-log-at-trx-commit=0 --skip-innodb-doublewrite)
    wait_stderr "$cid" 'ready for connections.' 1 || rc=1
    [ $rc = 0 ] && log "  ready after $(since "$t0")s (docker run -> ready line on stderr)"
    port=$(host_port "$cid" 3306) || rc=1
    m() { # m USER PASSWORD SQL
        mariadb --protocol=tcp --connect-timeout=5 -h "$SELFTEST_HOST" -P "$port" -u "$1" "-p$2" -N -B -e "$3"
    }
    [ $rc = 0 ] &&
    check "root connects over TCP to $SELFTEST_HOST:$port, server args applied" \
        test "$(m root "$rootpw" 'select @@innodb_flush_log_at_trx_commit, @@innodb_doublewrite')" = "$(printf '0\t0')" &&
    check "MYSQL_USER connects, MARIADB_DATABASE exists" \
        test "$(m drill drillpw "select schema_name from information_schema.schemata where schema_name = 'drilldb'")" = drilldb &&
    check "wrong root password rejected" rejected 'Access denied' m root wrong 'select 1' &&
    check "root: CREATE DATABASE" m root "$rootpw" 'create database rootdb; create table rootdb.t as select 42 as x' &&
    check "MYSQL_USER: CREATE DATABASE" m drill drillpw 'create database userdb; create table drilldb.t as select 1 as x' &&
    check "named time zones loaded" test "$(m root "$rootpw" "select convert_tz('2024-01-01 12:00:00', 'UTC', 'Europe/Paris')")" = '2024-01-01 13:00:00' || rc=1
    if [ $rc = 0 ]; then
        mariadb --protocol=tcp -h "$SELFTEST_HOST" -P "$port" -uroot "-p$rootpw" -e 'select sleep(30)' >/dev/null 2>&1 & local busy=$!
        sleep 0.5
        check "docker stop with an open session < 5 s" stop_quickly "$cid" || rc=1
        wait $busy 2>/dev/null || true
    fi
    if [ $rc = 0 ]; then
        t0=$(now); docker start "$cid" >/dev/null
        wait_stderr "$cid" 'ready for connections.' 2 || rc=1
        port=$(host_port "$cid" 3306) || rc=1
        [ $rc = 0 ] && log "  restarted, ready after $(since "$t0")s, now on port $port"
        [ $rc = 0 ] && check "data survives restart" test "$(m root "$rootpw" 'select x from rootdb.t')" = 42 || rc=1
    fi
    [ $rc = 0 ] || { log "container logs:"; docker logs "$cid" 2>&1 | tail -n 30 >&2; }
    docker rm -f "$cid" >/dev/null
    return $rc
}

# ---------------------------------------------------------------------------------------------
on_exit() {
    umount_chroot
    if [ -n "${SELFTEST_RUNNING:-}" ]; then cleanup_selftest; fi
}

main() {
    local what=all selftest='' force='' arg
    for arg in "$@"; do
        case "$arg" in
            postgres|mariadb|all) what=$arg ;;
            --selftest) selftest=1 ;;
            --force) force=1 ;;
            -h|--help) awk 'NR > 1 && /^#/ { sub(/^# ?/, ""); print; next } NR > 1 { exit }' "$0"; exit 0 ;;
            *) die "unknown argument: $arg (see --help)" ;;
        esac
    done
    case "$METHOD" in host|debootstrap) ;; *) die "METHOD must be host or debootstrap" ;; esac
    command -v docker >/dev/null || die "no docker CLI"
    docker version >/dev/null 2>&1 || die "no Docker engine reachable (is dockerd running? DOCKER_HOST?)"

    local dbs=() db
    for db in postgres mariadb; do
        if [ "$what" = all ] || [ "$what" = "$db" ]; then dbs+=("$db"); fi
    done

    # Fast path: every tag exists and nothing else was asked: no root, no lock, no apt.
    local todo='' image alias
    for db in "${dbs[@]}"; do
        if [ -n "$force" ] || ! image_exists "$(image_of "$db")"; then todo=1; fi
    done
    if [ -n "$todo" ] || [ -n "$selftest" ]; then
        [ "$(id -u)" = 0 ] || die "run as root (apt-get, chroot)"
        mkdir -p "$WORKDIR"
        exec 9> "$WORKDIR/.lock"
        flock 9 # another run building at the same time: wait for it, then see what is left
        trap on_exit EXIT
    fi
    for db in "${dbs[@]}"; do
        image=$(image_of "$db")
        if [ -z "$force" ] && image_exists "$image"; then
            log "$image exists (--force rebuilds)"
        else
            build_image "$db" "$image"
        fi
        for alias in $(aliases_of "$db"); do
            docker tag "$image" "$alias" || die "docker tag $image $alias failed"
            log "tagged $image as $alias"
        done
    done

    if [ -n "$selftest" ]; then
        SELFTEST_RUNNING=1
        cleanup_selftest # containers left by a run that was killed
        local failed=''
        for db in "${dbs[@]}"; do "selftest_$db" || failed+=" $db"; done
        [ -z "$failed" ] || die "selftest failed:$failed"
        log "selftest passed: ${dbs[*]}"
    fi
}
image_of() { if [ "$1" = postgres ]; then echo "$PG_IMAGE"; else echo "$MARIADB_IMAGE"; fi; }
aliases_of() { if [ "$1" = postgres ]; then echo "${PG_ALIASES:-}"; else echo "${MARIADB_ALIASES:-}"; fi; }

main "$@"
