# shellcheck shell=sh
# What docker/pi/install.sh and uninstall.sh share: where things go, the roles, and the one door to the system.
#
# PIFOG_ROOT (default: empty, the real /) prefixes every path these scripts write or remove, so their logic can be
# run against a fake root. Every command that changes the system outside those paths (apt-get, useradd, usermod,
# userdel, chown, systemctl, the Node download and unpacking, npm) goes through `sys`, found on PATH: a test puts
# stubs first on PATH that record their calls instead.

ROOT=${PIFOG_ROOT:-}
PIFOG_USER=pifog
APP_DIR=/opt/pifog/app
NODE_LINK=/opt/pifog/node
ETC_DIR=/etc/pifog
UNIT_DIR=/etc/systemd/system
DATA_BASE=/var/lib/pifog
ROLES="all hub sensorhub doorpi statuspi sensors powerpi powerhub buttonpi camerapi facewriter"

say() { printf 'pifog: %s\n' "$*"; }
die() {
  printf 'pifog: %s\n' "$*" >&2
  exit 1
}
# A command that touches the system: shown (on stderr, so that its output alone is captured), then run.
sys() {
  printf '  + %s\n' "$*" >&2
  "$@"
}

is_role() {
  for r in $ROLES; do [ "$r" = "$1" ] && return 0; done
  return 1
}

unit_name() { printf 'pifog-%s.service' "$1"; }
env_file() { printf '%s/%s.env' "$ETC_DIR" "$1"; }
data_dir() { printf '%s/%s' "$DATA_BASE" "$1"; }

# Root is needed on a real system; a fake root (a test) runs as anyone.
need_root() {
  if [ -z "$ROOT" ] && [ "$(id -u)" != 0 ]; then die "run it as root (sudo $0 ...)"; fi
  if [ -n "$ROOT" ] && [ ! -d "$ROOT" ]; then die "PIFOG_ROOT=$ROOT is not a directory"; fi
}
