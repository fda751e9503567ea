#!/usr/bin/env bash
# virtdeck set-up for a Debian 12 host, as root.
#
#   bash setup.sh demo   install what is missing, start libvirt, build the test
#                        appliance, then create and boot a demo VM with virtdeck
#   bash setup.sh test   the same set-up (no demo VM), then lint, types and the
#                        whole test suite, integration tests included
#
# Safe to run again: every step checks first and changes only what is not
# right yet.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
VENV="${VIRTDECK_VENV:-$HERE/.venv}"
DEMO_VM="${VIRTDECK_DEMO_VM:-virtdeck-demo}"
APPLIANCE_DIR="${VIRTDECK_APPLIANCE_DIR:-/var/lib/virtdeck/appliance}"
APPLIANCE_POOL=virtdeck-appliance
# The host files set-up changes; tests/unit/test_setup_host_sh.py points
# them at copies (source setup.sh, then call the functions).
QEMU_CONF="${VIRTDECK_QEMU_CONF:-/etc/libvirt/qemu.conf}"
DEV_KVM="${VIRTDECK_DEV_KVM:-/dev/kvm}"
LIBVIRTD_PIDFILE="${VIRTDECK_LIBVIRTD_PIDFILE:-/run/libvirtd.pid}"
# The tests' own PostgreSQL cluster (start_test_postgres): a unix socket, no TCP.
PG_TEST_DIR="${VIRTDECK_TEST_PG_DIR:-/var/lib/virtdeck-test/pg}"
PG_TEST_SOCKET_DIR="${VIRTDECK_TEST_PG_SOCKET_DIR:-/run/virtdeck-pg}"
PG_TEST_DB=virtdeck_test
API_LISTEN="${VIRTDECK_API_LISTEN:-127.0.0.1:8780}"
API_URL="http://$API_LISTEN"
API_LOG="${VIRTDECK_API_LOG:-/var/log/virtdeck-serve.log}"
API_PIDFILE="${VIRTDECK_API_PIDFILE:-/run/virtdeck-serve.pid}"
LOCKD_LINE='lock_manager = "lockd"'
QEMU_CONF_CHANGED=0
APPLIANCE_CHANGED=0
PACKAGES=(
    qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients libvirt-dev
    pkg-config dnsmasq-base iptables gcc python3-dev python3-venv procps iproute2
    # the peer tool the benchmarks compare with (bench/create_linked.py), and
    # an independent ISO reader the tests check virtdeck's seed images with
    virtinst xorriso
    # what the appliance build runs on the host
    syslinux syslinux-common mtools dosfstools fdisk cpio kmod gzip
    # the second database the store and service tests run against
    postgresql
)

step() { printf '\n==> %s\n' "$*"; }
die() { printf '\nsetup: error: %s\n' "$*" >&2; exit 1; }

usage() {
    echo "usage: bash setup.sh demo|test [pytest args...]" >&2
    exit 2
}

install_packages() {
    step "Debian packages"
    local missing=()
    for pkg in "${PACKAGES[@]}"; do
        [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null)" = "install ok installed" ] \
            || missing+=("$pkg")
    done
    if [ ${#missing[@]} -eq 0 ]; then
        echo "all ${#PACKAGES[@]} packages present"
        return
    fi
    echo "installing: ${missing[*]}"
    apt-get update -qq || die "apt-get update failed; check the network and /etc/apt/sources.list"
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" \
        >/tmp/virtdeck-apt.log 2>&1 \
        || die "apt-get install failed (see /tmp/virtdeck-apt.log); fix apt, then run this again"
}

install_virtdeck() {
    step "Python environment $VENV"
    local python="${PYTHON:-python3}"
    "$python" -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "virtdeck needs Python >= 3.11; set PYTHON=/path/to/python3.11"
    if [ ! -x "$VENV/bin/python" ]; then
        "$python" -m venv "$VENV" || die "cannot make a venv; install python3-venv"
    fi
    local stamp="$VENV/.virtdeck-installed"
    local want
    want="$(sha256sum "$HERE/pyproject.toml" | cut -d' ' -f1)"
    if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && "$VENV/bin/python" -c 'import virtdeck, libvirt' 2>/dev/null; then
        echo "virtdeck already installed ($("$VENV/bin/virtdeck" --version))"
        compile_sources
        return
    fi
    echo "installing virtdeck and its dependencies (libvirt-python builds from source)"
    "$VENV/bin/pip" install -q --upgrade pip >/dev/null 2>&1 || true
    "$VENV/bin/pip" install -q -e "$HERE[dev]" >/tmp/virtdeck-pip.log 2>&1 \
        || { tail -20 /tmp/virtdeck-pip.log >&2; die "pip install failed (full log: /tmp/virtdeck-pip.log)"; }
    echo "$want" > "$stamp"
    compile_sources
    "$VENV/bin/virtdeck" --version
}

compile_sources() {
    # An editable install is imported from src/, where Python writes no
    # bytecode when PYTHONDONTWRITEBYTECODE is set (as on these machines):
    # every command would compile virtdeck again, about 50 ms each time.
    # pip byte-compiles a regular install; this does the same for src/.
    # compileall skips files that have not changed.
    "$VENV/bin/python" -m compileall -q "$HERE/src" >/dev/null \
        || die "cannot byte-compile $HERE/src (a syntax error?); run: $VENV/bin/python -m compileall $HERE/src"
}

fix_dev_kvm() {
    # Debian's udev rule (KERNEL=="kvm", GROUP="kvm", MODE="0660") is what
    # lets libvirt's QEMU user (libvirt-qemu, in group kvm) open /dev/kvm.
    # Where no udev runs, the node stays root-only 0600, libvirt takes KVM as
    # unusable and probes QEMU again on every define and start: 132 s for one
    # virsh define here, 0.023 s after this.
    step "/dev/kvm"
    if [ ! -e "$DEV_KVM" ]; then
        echo "no $DEV_KVM (no KVM on this host): guests will run under TCG"
        return
    fi
    local was
    was="$(stat -c '%U:%G 0%a' "$DEV_KVM")"
    if [ "$was" = "root:kvm 0660" ]; then
        echo "$DEV_KVM is root:kvm 0660"
        return
    fi
    getent group kvm >/dev/null \
        || die "there is no group kvm for $DEV_KVM; reinstall libvirt-daemon-system, which makes it"
    { chown root:kvm "$DEV_KVM" && chmod 0660 "$DEV_KVM"; } \
        || die "cannot make $DEV_KVM root:kvm 0660; run: chgrp kvm $DEV_KVM && chmod 0660 $DEV_KVM"
    echo "$DEV_KVM was $was, now root:kvm 0660 (what Debian's udev rule makes it; no udev runs here)"
}

configure_lock_manager() {
    # virtlockd holds a lock on every disk a running VM has open writable:
    # QEMU can never open one disk writable from two VMs.
    step "libvirt lock manager ($QEMU_CONF)"
    [ -f "$QEMU_CONF" ] || die "$QEMU_CONF is missing; reinstall libvirt-daemon-system"
    local active lockd_re='^[[:space:]]*lock_manager[[:space:]]*=[[:space:]]*"lockd"[[:space:]]*(#.*)?$'
    active="$(grep -E '^[[:space:]]*lock_manager[[:space:]]*=' "$QEMU_CONF" || true)"
    # libvirt takes the first active line.
    if [ -n "$active" ] && grep -Eq "$lockd_re" <<<"${active%%$'\n'*}"; then
        echo "$LOCKD_LINE is set"
        return
    fi
    if [ -n "$active" ]; then
        # Replace the first active line, drop later ones.
        local tmp
        tmp="$(mktemp "$QEMU_CONF.virtdeck.XXXXXX")" || die "cannot write next to $QEMU_CONF"
        awk -v line="$LOCKD_LINE" '
            /^[[:space:]]*lock_manager[[:space:]]*=/ { if (!done) print line; done = 1; next }
            { print }' "$QEMU_CONF" >"$tmp" \
            && cat "$tmp" >"$QEMU_CONF" \
            || { rm -f "$tmp"; die "cannot rewrite $QEMU_CONF; set $LOCKD_LINE in it by hand"; }
        rm -f "$tmp"
        echo "replaced '${active%%$'\n'*}' with '$LOCKD_LINE'"
        if [ "$(grep -c . <<<"$active")" -gt 1 ]; then
            echo "removed the later active lock_manager lines (libvirt reads only the first)"
        fi
    else
        printf '\n# virtdeck setup.sh: virtlockd keeps two VMs from opening one disk writable.\n%s\n' \
            "$LOCKD_LINE" >>"$QEMU_CONF" || die "cannot append $LOCKD_LINE to $QEMU_CONF"
        echo "added $LOCKD_LINE"
    fi
    QEMU_CONF_CHANGED=1
}

process_gone() {
    # Gone, or a zombie: PID 1 does not reap orphans on these machines.
    local state
    state="$(ps -o stat= -p "$1" 2>/dev/null)" || return 0
    [[ $state == Z* ]]
}

restart_libvirtd() {
    # Running guests keep running: QEMU does not depend on libvirtd.
    local pid
    pid="$(pgrep -x -F "$LIBVIRTD_PIDFILE" libvirtd 2>/dev/null)" \
        || die "libvirtd runs, but not as the pid in $LIBVIRTD_PIDFILE; restart it yourself so that it reads $QEMU_CONF"
    echo "restarting libvirtd (pid $pid) so that it reads $QEMU_CONF; running guests keep running"
    kill "$pid" || die "cannot stop libvirtd (pid $pid); restart it yourself so that it reads $QEMU_CONF"
    for _ in $(seq 300); do
        process_gone "$pid" && break
        sleep 0.2
    done
    process_gone "$pid" || die "libvirtd (pid $pid) did not stop within 60 s; see /var/log/libvirt/libvirtd.log"
    libvirtd -d || die "libvirtd did not start again; see /var/log/libvirt/libvirtd.log"
    echo "libvirtd restarted"
}

start_daemons() {
    step "libvirt daemons"
    if [ -d /run/systemd/system ]; then
        local was_active=0
        systemctl is-active --quiet libvirtd && was_active=1
        systemctl start virtlogd virtlockd libvirtd || die "systemctl start libvirtd failed; see journalctl -u libvirtd"
        echo "started through systemd"
        if [ "$QEMU_CONF_CHANGED" = 1 ] && [ "$was_active" = 1 ]; then
            systemctl restart libvirtd || die "systemctl restart libvirtd failed; see journalctl -u libvirtd"
            echo "libvirtd restarted so that it reads $QEMU_CONF; running guests keep running"
        fi
    else
        # No systemd: start the daemons ourselves, unless they already run.
        # virtlockd before libvirtd, which connects to it once lock_manager is set.
        if pgrep -x virtlogd >/dev/null; then echo "virtlogd running"; else virtlogd -d && echo "virtlogd started"; fi
        if pgrep -x virtlockd >/dev/null; then
            echo "virtlockd running"
        else
            virtlockd -d || die "virtlockd did not start; run virtlockd -v in a terminal to see why"
            echo "virtlockd started"
        fi
        if ! pgrep -x libvirtd >/dev/null; then
            libvirtd -d && echo "libvirtd started"
        elif [ "$QEMU_CONF_CHANGED" = 1 ]; then
            restart_libvirtd
        else
            echo "libvirtd running"
        fi
    fi
    wait_for_libvirtd
}

wait_for_libvirtd() {
    for _ in $(seq 50); do
        virsh -q -c qemu:///system version >/dev/null 2>&1 && break
        sleep 0.2
    done
    virsh -q -c qemu:///system version >/dev/null 2>&1 \
        || die "libvirtd does not answer on qemu:///system; look at /var/log/libvirt/libvirtd.log"
    echo "libvirtd answers on qemu:///system"
}

build_appliance() {
    step "test appliance ($APPLIANCE_DIR)"
    local image="$APPLIANCE_DIR/appliance.qcow2" before
    before="$(stat -c '%i %Y' "$image" 2>/dev/null || true)"
    "$VENV/bin/python" "$HERE/appliance/build.py" --out "$APPLIANCE_DIR" \
        || die "the appliance build failed (message above)"
    [ "$(stat -c '%i %Y' "$image" 2>/dev/null || true)" = "$before" ] || APPLIANCE_CHANGED=1
}

appliance_pool() {
    # virtdeck takes disk images only from storage pools: the appliance's
    # directory is one, so the demo and the tests can use it as a base.
    step "storage pool $APPLIANCE_POOL"
    local virsh=(virsh -q -c qemu:///system) xml path info changed=0
    if ! xml="$("${virsh[@]}" pool-dumpxml "$APPLIANCE_POOL" 2>/dev/null)"; then
        "${virsh[@]}" pool-define-as "$APPLIANCE_POOL" dir --target "$APPLIANCE_DIR" >/dev/null \
            || die "cannot define storage pool $APPLIANCE_POOL at $APPLIANCE_DIR (message above)"
        echo "defined storage pool $APPLIANCE_POOL (dir) at $APPLIANCE_DIR"
        changed=1
        xml="$("${virsh[@]}" pool-dumpxml "$APPLIANCE_POOL")"
    fi
    path="$(sed -n 's:.*<path>\(.*\)</path>.*:\1:p;T;q' <<<"$xml")"
    [ "$(realpath -m "$path")" = "$(realpath -m "$APPLIANCE_DIR")" ] \
        || die "storage pool $APPLIANCE_POOL is at $path, not $APPLIANCE_DIR; remove it (virsh pool-destroy $APPLIANCE_POOL; virsh pool-undefine $APPLIANCE_POOL) or set VIRTDECK_APPLIANCE_DIR=$path"
    info="$("${virsh[@]}" pool-info "$APPLIANCE_POOL")"
    if ! grep -Eq '^Autostart:[[:space:]]+yes' <<<"$info"; then
        "${virsh[@]}" pool-autostart "$APPLIANCE_POOL" >/dev/null \
            || die "cannot mark storage pool $APPLIANCE_POOL autostart (message above)"
        echo "storage pool $APPLIANCE_POOL now starts with libvirtd"
        changed=1
    fi
    if ! grep -Eq '^State:[[:space:]]+running' <<<"$info"; then
        "${virsh[@]}" pool-start "$APPLIANCE_POOL" >/dev/null \
            || die "cannot start storage pool $APPLIANCE_POOL at $APPLIANCE_DIR (message above)"
        echo "started storage pool $APPLIANCE_POOL"
        changed=1
    elif [ "$APPLIANCE_CHANGED" = 1 ]; then
        # libvirt lists a pool's volumes as it last saw them.
        "${virsh[@]}" pool-refresh "$APPLIANCE_POOL" >/dev/null \
            || die "cannot refresh storage pool $APPLIANCE_POOL (message above)"
        echo "refreshed storage pool $APPLIANCE_POOL (the appliance was rebuilt)"
        changed=1
    fi
    [ "$changed" = 1 ] || echo "storage pool $APPLIANCE_POOL is active at $APPLIANCE_DIR (autostart)"
}

run_demo() {
    local vd="$VENV/bin/virtdeck"
    step "host check"
    "$vd" host check || die "virtdeck host check found a failure (see the fix lines above)"
    step "libvirt network 'default'"
    local info
    if info="$(virsh -c qemu:///system net-info default 2>/dev/null)"; then
        # (grep on a variable: grep -q closing a pipe early would fail it under pipefail)
        if grep -q 'Active:.*yes' <<<"$info"; then
            echo "network default is active"
        else
            virsh -q -c qemu:///system net-start default >/dev/null \
                || die "cannot start libvirt network 'default' (dnsmasq, iptables); see /var/log/libvirt/libvirtd.log"
            echo "network default started"
        fi
        NET_ARGS=()
    else
        echo "no network 'default': the demo VM gets no NIC"
        NET_ARGS=(--network none)
    fi
    step "demo VM $DEMO_VM"
    if "$vd" vm show "$DEMO_VM" >/dev/null 2>&1; then
        echo "VM $DEMO_VM exists"
        local shown
        shown="$("$vd" vm show "$DEMO_VM" --json)"
        if ! grep -q '"state": "running"' <<<"$shown"; then
            "$vd" vm start "$DEMO_VM"
        fi
    else
        "$vd" vm create "$DEMO_VM" --image "$APPLIANCE_DIR/appliance.qcow2" --memory 256M \
            --max-cpus 4 --max-memory 512M "${NET_ARGS[@]}" --start \
            || die "creating the demo VM failed (message above)"
    fi
    step "waiting for the guest's ready line"
    "$vd" vm log "$DEMO_VM" --follow --until 'virtdeck-appliance ready' --timeout 120 \
        | grep 'virtdeck-appliance ready' \
        || die "the demo VM did not print its ready line; see 'virtdeck vm log $DEMO_VM'"
    "$vd" vm list
    start_api_server
    echo
    echo "Done. Try: $vd vm show $DEMO_VM; $vd vm log $DEMO_VM; $vd vm stop $DEMO_VM"
}

api_answers() {
    # No curl on a minimal Debian; the venv has httpx.
    "$VENV/bin/python" - "$1" <<'PY' >/dev/null 2>&1
import sys, httpx
sys.exit(0 if httpx.get(sys.argv[1] + "/health", timeout=2).status_code == 200 else 1)
PY
}

start_api_server() {
    # The REST API on loopback, in the background; started once, found again
    # by its /health on later runs.
    step "virtdeck API server $API_URL"
    local vd="$VENV/bin/virtdeck"
    if api_answers "$API_URL"; then
        echo "already running"
    else
        setsid "$vd" serve --listen "$API_LISTEN" >>"$API_LOG" 2>&1 </dev/null &
        echo $! >"$API_PIDFILE"
        local i
        for i in $(seq 1 50); do
            api_answers "$API_URL" && break
            sleep 0.2
        done
        api_answers "$API_URL" || die "the API server did not start; see $API_LOG"
        echo "started (pid $(cat "$API_PIDFILE"), log $API_LOG)"
    fi
    cat <<EOF
API docs:  $API_URL/api/docs
Log in:    make a user once, then a token for scripts, or log the CLI in:
  $vd user add admin --role admin
  $vd token create my-script --user admin
  curl -H "Authorization: Bearer TOKEN" $API_URL/api/v1/vms
  $vd login $API_URL --user admin     # then every command goes through the API
EOF
}

run_tests() {
    local venv_bin="$VENV/bin"
    cd "$HERE"
    step "ruff"
    "$venv_bin/ruff" check src tests appliance bench || die "ruff found problems (above)"
    "$venv_bin/ruff" format --check src tests appliance bench || die "code is not formatted; run: $venv_bin/ruff format"
    step "mypy --strict"
    "$venv_bin/mypy" || die "mypy found type errors (above)"
    step "pytest (unit and integration)"
    # Here a missing prerequisite fails the run instead of skipping tests.
    VIRTDECK_REQUIRE_INTEGRATION=1 "$venv_bin/pytest" "$@"
}

pg_bin_dir() {
    # Debian keeps each major version's server programs apart; take the newest.
    local initdb
    initdb="$(printf '%s\n' /usr/lib/postgresql/*/bin/initdb | sort -V | tail -n 1)"
    [ -x "$initdb" ] || return 1
    dirname "$initdb"
}

as_postgres() {
    # initdb and postgres refuse root; from / so that no cwd is unreadable to them.
    (cd / && runuser -u postgres -- "$@")
}

start_test_postgres() {
    step "PostgreSQL for the tests ($PG_TEST_DIR, socket in $PG_TEST_SOCKET_DIR)"
    local bin log="$PG_TEST_DIR/server.log" found
    bin="$(pg_bin_dir)" || die "no PostgreSQL server programs under /usr/lib/postgresql; install the package postgresql"
    getent passwd postgres >/dev/null || die "there is no user postgres; reinstall the package postgresql-common"
    install -d -m 0755 "$(dirname "$PG_TEST_DIR")"
    install -d -o postgres -g postgres -m 0700 "$PG_TEST_DIR"
    install -d -o postgres -g postgres -m 0755 "$PG_TEST_SOCKET_DIR"
    if [ ! -s "$PG_TEST_DIR/PG_VERSION" ]; then
        # Trust on the socket only; TCP is refused here and not listened on anyway.
        as_postgres "$bin/initdb" -D "$PG_TEST_DIR" --username=postgres --auth-local=trust \
            --auth-host=reject --encoding=UTF8 --locale=C >"/tmp/virtdeck-initdb.log" 2>&1 \
            || die "initdb of $PG_TEST_DIR failed (see /tmp/virtdeck-initdb.log); remove $PG_TEST_DIR and run this again"
        echo "made a cluster in $PG_TEST_DIR"
    fi
    # Test data only: durability traded for speed.
    as_postgres tee "$PG_TEST_DIR/virtdeck.conf" >/dev/null <<CONF
listen_addresses = ''
unix_socket_directories = '$PG_TEST_SOCKET_DIR'
max_connections = 200
fsync = off
synchronous_commit = off
full_page_writes = off
CONF
    grep -qx "include 'virtdeck.conf'" "$PG_TEST_DIR/postgresql.conf" \
        || echo "include 'virtdeck.conf'" | as_postgres tee -a "$PG_TEST_DIR/postgresql.conf" >/dev/null
    if as_postgres "$bin/pg_ctl" -D "$PG_TEST_DIR" status >/dev/null 2>&1; then
        echo "PostgreSQL running"
    else
        as_postgres "$bin/pg_ctl" -D "$PG_TEST_DIR" -l "$log" -w -t 60 start >/dev/null \
            || die "PostgreSQL did not start in $PG_TEST_DIR; see $log"
        echo "PostgreSQL started"
    fi
    found="$(as_postgres "$bin/psql" -h "$PG_TEST_SOCKET_DIR" -d postgres -Atq \
        -c "SELECT 1 FROM pg_database WHERE datname = '$PG_TEST_DB'")" \
        || die "PostgreSQL does not answer on $PG_TEST_SOCKET_DIR; see $log"
    if [ "$found" != 1 ]; then
        as_postgres "$bin/createdb" -h "$PG_TEST_SOCKET_DIR" "$PG_TEST_DB" \
            || die "cannot create the database $PG_TEST_DB; see $log"
        echo "created the database $PG_TEST_DB"
    fi
    export VIRTDECK_TEST_DATABASE_URL="postgresql+psycopg://postgres@/$PG_TEST_DB?host=$PG_TEST_SOCKET_DIR"
    echo "VIRTDECK_TEST_DATABASE_URL=$VIRTDECK_TEST_DATABASE_URL"
}

# `source setup.sh` defines the functions and runs nothing (the tests do).
[ "${BASH_SOURCE[0]}" = "$0" ] || return 0

MODE="${1:-}"
[ -n "$MODE" ] || usage
shift
case "$MODE" in demo|test) ;; *) usage ;; esac

[ "$(id -u)" = 0 ] || die "run as root (sudo bash setup.sh $MODE): it installs packages and starts libvirtd"
command -v apt-get >/dev/null || die "this set-up needs a Debian-like system with apt-get (Debian 12 is the reference)"

# Order matters: libvirtd reads /dev/kvm's access and qemu.conf when it
# starts, and connects to virtlockd once lock_manager is set.
install_packages
install_virtdeck
fix_dev_kvm
configure_lock_manager
start_daemons
build_appliance
appliance_pool
case "$MODE" in
    demo) run_demo ;;
    test) start_test_postgres; run_tests "$@" ;;
esac
