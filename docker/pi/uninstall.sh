#!/bin/sh
# Takes away what docker/pi/install.sh installed for one role:
#
#   sudo docker/pi/uninstall.sh <role> [--purge]
#
# It stops and disables pifog-<role>.service, removes the unit and /etc/pifog/<role>.env, and keeps the role's data
# dir /var/lib/pifog/<role> (its flows, identity, history) unless --purge. When no PiFog role is left on the machine,
# it also removes the runtime and Node in /opt/pifog, and with --purge the user pifog and /var/lib/pifog.
# It leaves alone what other software may use too: the Debian packages and I²C (dtparam=i2c_arm=on in config.txt).
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=docker/pi/common.sh
. "$HERE/common.sh"

usage() {
  printf 'usage: %s <role> [--purge]\nroles: %s\n' "$0" "$ROLES" >&2
  exit 2
}

role=""
purge=no
while [ "$#" -gt 0 ]; do
  case "$1" in
    --purge) purge=yes; shift ;;
    -h | --help) usage ;;
    -*) printf 'pifog: unknown option %s\n' "$1" >&2; usage ;;
    *) [ -z "$role" ] || usage; role=$1; shift ;;
  esac
done
[ -n "$role" ] || usage
is_role "$role" || die "\"$role\" is not a role: one of $ROLES"
need_root

unit=$(unit_name "$role")
if [ -f "$ROOT$UNIT_DIR/$unit" ]; then
  sys systemctl disable --now "$unit" || say "could not stop $unit (was it running?)"
  rm -f "$ROOT$UNIT_DIR/$unit"
  sys systemctl daemon-reload
  sys systemctl reset-failed "$unit" 2>/dev/null || true
else
  say "$unit is not installed"
fi
rm -f "$ROOT$(env_file "$role")"

data=$(data_dir "$role")
if [ "$purge" = yes ]; then
  rm -rf "$ROOT$data"
  say "removed $data"
elif [ -d "$ROOT$data" ]; then
  say "kept $data (its flows, identity and history; --purge removes it)"
fi

# the last role gone: the runtime too
left=$(find "$ROOT$UNIT_DIR" -maxdepth 1 -name 'pifog-*.service' 2>/dev/null | wc -l)
if [ "$left" -eq 0 ]; then
  rm -rf "$ROOT/opt/pifog"
  rmdir "$ROOT$ETC_DIR" 2>/dev/null || true
  rm -f "$ROOT/etc/modules-load.d/pifog-i2c.conf"
  say "removed the runtime and Node (/opt/pifog): no PiFog role is left here"
  if [ "$purge" = yes ]; then
    rm -rf "$ROOT$DATA_BASE"
    if sys getent passwd "$PIFOG_USER" >/dev/null; then sys userdel "$PIFOG_USER"; fi
  fi
fi
say "PiFog $role is uninstalled"
