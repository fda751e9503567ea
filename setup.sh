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
PACKAGES=(
    qemu-system-x86 qemu-utils libvirt-daemon-system libvirt-clients libvirt-dev
    pkg-config dnsmasq-base iptables gcc python3-dev python3-venv procps iproute2
    # the peer tool the benchmarks compare with (bench/create_linked.py), and
    # an independent ISO reader the tests check virtdeck's seed images with
    virtinst xorriso
    # what the appliance build runs on the host
    syslinux syslinux-common mtools dosfstools fdisk cpio kmod gzip
)

step() { printf '\n==> %s\n' "$*"; }
die() { printf '\nsetup: error: %s\n' "$*" >&2; exit 1; }

usage() {
    echo "usage: bash setup.sh demo|test [pytest args...]" >&2
    exit 2
}

MODE="${1:-}"
[ -n "$MODE" ] || usage
shift
case "$MODE" in demo|test) ;; *) usage ;; esac

[ "$(id -u)" = 0 ] || die "run as root (sudo bash setup.sh $MODE): it installs packages and starts libvirtd"
command -v apt-get >/dev/null || die "this set-up needs a Debian-like system with apt-get (Debian 12 is the reference)"

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

start_daemons() {
    step "libvirt daemons"
    if [ -d /run/systemd/system ]; then
        systemctl start virtlogd libvirtd || die "systemctl start libvirtd failed; see journalctl -u libvirtd"
        echo "started through systemd"
    else
        # No systemd: start the daemons ourselves, unless they already run.
        if pgrep -x virtlogd >/dev/null; then echo "virtlogd running"; else virtlogd -d && echo "virtlogd started"; fi
        if pgrep -x libvirtd >/dev/null; then echo "libvirtd running"; else libvirtd -d && echo "libvirtd started"; fi
    fi
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
    "$VENV/bin/python" "$HERE/appliance/build.py" --out "$APPLIANCE_DIR" \
        || die "the appliance build failed (message above)"
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
    echo
    echo "Done. Try: $vd vm show $DEMO_VM; $vd vm log $DEMO_VM; $vd vm stop $DEMO_VM"
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

install_packages
install_virtdeck
start_daemons
build_appliance
case "$MODE" in
    demo) run_demo ;;
    test) run_tests "$@" ;;
esac
