#!/usr/bin/env bash
# Installs what a tier of this project needs, and nothing that is already there.
#   scripts/bootstrap.sh        the base (./inv runs it before every task): Ruby (the release lint
#                               renders job templates with it) and the Python virtualenv .venv
#                               from pyproject.toml's pinned versions. All the release.* and bosh.*
#                               tasks need.
#   scripts/bootstrap.sh lab    the base, the lab's Debian packages (MariaDB, Galera, garbd,
#                               HAProxy, sysbench...) and Consul 1.8.7 (from Debian 11's package,
#                               into .tools/bin): lab.*, bench.* and experiment.run on the lab.
#   scripts/bootstrap.sh test   the lab, and Chromium (the tests render the HTML pages): ./inv test.
# The tasks ask for their tier themselves (cf_mysql_consul_tools.tasks.cli). A second run with
# nothing to install finishes in well under 1 s.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
TOOLS="$ROOT/.tools"
VENV="$ROOT/.venv"
CONSUL_VERSION="1.8.7"
BASE_PACKAGES=(ruby)
LAB_PACKAGES=(
  mariadb-server mariadb-client galera-4 galera-arbitrator-4 mariadb-backup rsync
  haproxy sysbench iptables iproute2 procps util-linux lsof socat
)
TEST_PACKAGES=(chromium)
TIER="${1:-base}"

say() { printf '\033[1mbootstrap:\033[0m %s\n' "$*" >&2; }
die() { printf '\033[1;31mbootstrap failed:\033[0m %s\n' "$*" >&2; exit 1; }

need_root() {
  [ "$(id -u)" = 0 ] || die "$1 needs root (the lab uses mount namespaces and installs Debian packages); run as root."
}

install_debian_packages() {
  local missing=() pkg
  for pkg in "$@"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  need_root "installing Debian packages (${missing[*]})"
  say "installing Debian packages: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq || die "apt-get update failed; check the machine's apt sources in /etc/apt/sources.list.d/"
  # policy-rc.d keeps Debian's maintainer scripts from starting system-wide MariaDB/HAProxy:
  # the lab runs its own instances and must own every process it starts.
  local policy=/usr/sbin/policy-rc.d created_policy=0
  if [ ! -e "$policy" ]; then printf '#!/bin/sh\nexit 101\n' > "$policy"; chmod +x "$policy"; created_policy=1; fi
  local rc=0
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >"$TOOLS/apt-install.log" 2>&1 || rc=$?
  [ "$created_policy" = 1 ] && rm -f "$policy"
  [ "$rc" = 0 ] || die "apt-get install ${missing[*]} failed (exit $rc); see $TOOLS/apt-install.log"
}

debian_mirror_uri() {
  # The mirror the machine already uses for Debian (first URIs: line that is not a -security one).
  awk '/^URIs:/ && $2 !~ /security/ {print $2; exit}' /etc/apt/sources.list.d/debian.sources 2>/dev/null
}

install_consul() {
  local bin="$TOOLS/bin/consul"
  consul_ok() { local v; v="$("$bin" version 2>/dev/null)" && [[ "$v" == "Consul v$CONSUL_VERSION"* ]]; }
  if [ -x "$bin" ] && consul_ok; then return 0; fi
  local mirror; mirror="$(debian_mirror_uri)"
  [ -n "$mirror" ] || die "no Debian mirror found in /etc/apt/sources.list.d/debian.sources; Consul $CONSUL_VERSION comes from Debian 11's consul package"
  say "fetching Consul $CONSUL_VERSION (Debian bullseye's consul package) into .tools/bin"
  local apt="$TOOLS/apt"
  rm -rf "$apt"; mkdir -p "$apt/lists/partial" "$apt/cache/archives/partial" "$apt/deb" "$TOOLS/bin"
  echo "deb [signed-by=/usr/share/keyrings/debian-archive-keyring.gpg] $mirror bullseye main" > "$apt/sources.list"
  # A private sources list and private list/cache dirs: the machine's apt configuration is untouched.
  local opts=(-o "Dir::Etc::SourceList=$apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
              -o "Dir::State::Lists=$apt/lists" -o "Dir::Cache=$apt/cache" -o Debug::NoLocking=1
              -o APT::Sandbox::User=root)
  apt-get "${opts[@]}" update -qq >"$apt/update.log" 2>&1 || die "apt-get update for bullseye failed; see $apt/update.log"
  (cd "$apt/deb" && apt-get "${opts[@]}" download "consul=$CONSUL_VERSION*" >"$apt/download.log" 2>&1) \
    || die "could not download Debian bullseye's consul $CONSUL_VERSION package; see $apt/download.log"
  dpkg-deb -x "$apt"/deb/consul_*.deb "$apt/extract"
  install -m 0755 "$apt/extract/usr/bin/consul" "$bin"
  rm -rf "$apt"
  consul_ok || die "installed $bin does not report Consul v$CONSUL_VERSION"
}

install_venv() {
  local stamp="$VENV/.bootstrap-stamp" want
  want="$(cat "$ROOT/pyproject.toml" | sha256sum | cut -d' ' -f1)"
  if [ -f "$stamp" ] && [ "$(cat "$stamp")" = "$want" ] && [ -x "$VENV/bin/invoke" ]; then return 0; fi
  local py; py="$(command -v python3.11 || command -v python3 || true)"
  [ -n "$py" ] || die "python3.11 not found; install Debian's python3 (3.11) package"
  "$py" -c 'import sys; sys.exit(0 if sys.version_info[:2] == (3, 11) else 1)' \
    || die "$py is not Python 3.11; install python3.11"
  say "creating the Python virtualenv .venv from pyproject.toml"
  [ -x "$VENV/bin/python" ] || "$py" -m venv "$VENV" || die "python -m venv failed (Debian: apt-get install python3-venv)"
  "$VENV/bin/pip" install -q --disable-pip-version-check -e "$ROOT[tools,dev]" >"$TOOLS/pip-install.log" 2>&1 \
    || die "pip install failed; see $TOOLS/pip-install.log"
  echo "$want" > "$stamp"
}

mkdir -p "$TOOLS"
case "$TIER" in
  base) install_debian_packages "${BASE_PACKAGES[@]}"; install_venv ;;
  lab) install_debian_packages "${BASE_PACKAGES[@]}" "${LAB_PACKAGES[@]}"; install_consul; install_venv ;;
  test) install_debian_packages "${BASE_PACKAGES[@]}" "${LAB_PACKAGES[@]}" "${TEST_PACKAGES[@]}"; install_consul
        install_venv ;;
  *) die "unknown tier '$TIER': scripts/bootstrap.sh [base|lab|test]" ;;
esac
