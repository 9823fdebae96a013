#!/bin/sh
# PiFog on a Raspberry Pi (Raspberry Pi OS bookworm, or any Debian with systemd): one role as a systemd service.
#
#   sudo docker/pi/install.sh <role> [--hub-url http://hub.local:1880] [--mqtt-url mqtts://hub.local:8883]
#        [--device-id <id>] [--http-port <port>] [--hardware auto|pi|sim] [--source <checkout>]
#
# From a checkout of PiFog (the default source is the checkout this script is in). It installs, each step only when
# it is not done yet, so running it again gives the same result:
#   - Debian packages: the build tools for the native addons, ffmpeg for the camera and the hub, xz-utils;
#   - Node 20 in /opt/pifog/node-v<version>-linux-<arch> (/opt/pifog/node points at it), from nodejs.org for arm64,
#     armv7l and x64. A Pi Zero / Zero W / Pi 1 is ARMv6 (armv6l), for which nodejs.org builds nothing: it gets the
#     armv6l build of the Node project's unofficial-builds (unofficial-builds.nodejs.org), checked against its
#     SHASUMS256.txt. Set PIFOG_NODE_VERSION for another 20.x;
#   - the runtime in /opt/pifog/app (owned by root, read-only to the service): the checkout's dist/ when it was built
#     there (`npm ci && npm run build`, best on a bigger machine for a Pi Zero), else built here; then its production
#     dependencies (`npm ci --omit=dev`);
#   - the system user `pifog`, in the groups gpio, i2c and video (those that exist here);
#   - I²C (dtparam=i2c_arm=on in config.txt, i2c-dev loaded at boot) for the roles on I²C: statuspi (Sense HAT),
#     powerpi (UPS HAT). A change there takes effect after a reboot: it says so;
#   - /etc/pifog/<role>.env (the role's PIFOG_* settings; lines you add below its marker are kept),
#     the data dir /var/lib/pifog/<role> (0700, the user's), and /etc/systemd/system/pifog-<role>.service, enabled
#     and (re)started.
# docker/pi/uninstall.sh <role> [--purge] takes it away again.
set -eu

HERE=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=docker/pi/common.sh
. "$HERE/common.sh"

NODE_VERSION=${PIFOG_NODE_VERSION:-20.20.2}

usage() {
  cat >&2 <<EOF
usage: $0 <role> [--hub-url URL] [--mqtt-url URL] [--device-id ID] [--http-port PORT] [--hardware auto|pi|sim] [--source DIR]
roles: $ROLES
EOF
  exit 2
}

role=""
hub_url=""
mqtt_url=""
device_id=""
http_port=""
hardware="auto"
source_dir=$(cd "$HERE/../.." && pwd)
while [ "$#" -gt 0 ]; do
  case "$1" in
    --hub-url) [ "$#" -ge 2 ] || usage; hub_url=$2; shift 2 ;;
    --mqtt-url) [ "$#" -ge 2 ] || usage; mqtt_url=$2; shift 2 ;;
    --device-id) [ "$#" -ge 2 ] || usage; device_id=$2; shift 2 ;;
    --http-port) [ "$#" -ge 2 ] || usage; http_port=$2; shift 2 ;;
    --hardware) [ "$#" -ge 2 ] || usage; hardware=$2; shift 2 ;;
    --source) [ "$#" -ge 2 ] || usage; source_dir=$2; shift 2 ;;
    -h | --help) usage ;;
    -*) printf 'pifog: unknown option %s\n' "$1" >&2; usage ;;
    *) [ -z "$role" ] || usage; role=$1; shift ;;
  esac
done
[ -n "$role" ] || usage
is_role "$role" || die "\"$role\" is not a role: one of $ROLES"

# What goes into the environment file is checked here (one line each, nothing a shell or systemd would read
# differently); the runtime checks the rest when it starts.
nl='
'
cr=$(printf '\r')
for value in "$hub_url" "$mqtt_url" "$device_id" "$http_port" "$hardware" "$source_dir"; do
  case "$value" in *"$nl"* | *"$cr"*) die "an option's value has a line break in it: refused" ;; esac
done
case "$hardware" in auto | pi | sim) ;; *) die "--hardware must be auto, pi or sim, not \"$hardware\"" ;; esac
if [ -n "$device_id" ]; then
  printf '%s' "$device_id" | grep -Eq '^[A-Za-z0-9_.-]{1,64}$' || die "--device-id must be one topic level (letters, digits, _ . -), not \"$device_id\""
fi
if [ -n "$hub_url" ]; then
  printf '%s' "$hub_url" | grep -Eq '^https?://[A-Za-z0-9.:_-]+(:[0-9]+)?/?$' || die "--hub-url must be the hub's HTTP address, like http://hub.local:1880, not \"$hub_url\""
  case "$role" in all | hub) die "--hub-url is for a Pi that pairs with a hub; $role is the hub itself" ;; esac
fi
if [ -n "$mqtt_url" ]; then
  printf '%s' "$mqtt_url" | grep -Eq '^(mqtts?|wss?)://[A-Za-z0-9.:_/-]+$' || die "--mqtt-url must be mqtt://, mqtts://, ws:// or wss:// and a host (no user or password: those go in the env file by hand), not \"$mqtt_url\""
fi
if [ -n "$http_port" ]; then
  printf '%s' "$http_port" | grep -Eq '^[0-9]{1,5}$' && [ "$http_port" -le 65535 ] || die "--http-port must be a port number, not \"$http_port\""
fi
[ -f "$source_dir/package.json" ] && [ -d "$source_dir/nodes" ] && [ -d "$source_dir/flows" ] || die "$source_dir is not a PiFog checkout (--source)"

need_root

# ---- what the role needs from the machine: groups, devices (systemd's device policy), I²C, packages
# GPIO is the kernel's sysfs interface (/sys/class/gpio, through onoff): those roles must not have /sys read-only
# (ProtectKernelTunables), and need no device node. The Sense HAT: I²C sensors and the LED matrix's framebuffer.
# The camera programs (rpicam-*) use several kinds of device (video4linux, media, dma_heap): not narrowed.
role_groups=""
i2c=no
devices="private"
case "$role" in
  doorpi | buttonpi) role_groups="gpio"; devices="gpio" ;;
  statuspi) role_groups="i2c video"; devices="i2c fb"; i2c=yes ;;
  powerpi) role_groups="i2c"; devices="i2c"; i2c=yes ;;
  camerapi) role_groups="video"; devices="any" ;;
esac

packages="ca-certificates curl xz-utils python3 make g++"
case "$role" in all | hub | camerapi) packages="$packages ffmpeg" ;; esac

# ---- 1. Debian packages
say "installing Debian packages: $packages"
sys apt-get update -qq
# shellcheck disable=SC2086
sys env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $packages
if [ "$role" = camerapi ] && ! command -v rpicam-still >/dev/null 2>&1 && ! command -v libcamera-still >/dev/null 2>&1; then
  # Raspberry Pi OS's own repository has it (Lite images may lack it); Debian has none: then the camera is simulated
  sys env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends rpicam-apps-lite ||
    say "rpicam-apps-lite could not be installed: without rpicam-still/rpicam-vid the camera node says it is unavailable"
fi

# ---- 2. Node 20 for this processor
arch=${PIFOG_ARCH:-$(uname -m)}
node_base="https://nodejs.org/dist/v$NODE_VERSION"
case "$arch" in
  aarch64 | arm64) node_arch=arm64 ;;
  armv7l) node_arch=armv7l ;;
  armv6l)
    # ARMv6 (Pi Zero, Zero W, Pi 1): no official Node 20 build; the Node project's unofficial-builds has one
    node_arch=armv6l
    node_base="https://unofficial-builds.nodejs.org/download/release/v$NODE_VERSION"
    ;;
  x86_64 | amd64) node_arch=x64 ;;
  *) die "no Node $NODE_VERSION build for processor $arch" ;;
esac
node_name="node-v$NODE_VERSION-linux-$node_arch"
if [ -f "$ROOT/opt/pifog/$node_name/.pifog-complete" ]; then
  say "Node $NODE_VERSION ($node_arch) is installed"
else
  say "installing Node $NODE_VERSION for $arch from $node_base"
  tmp=$(mktemp -d)
  trap 'rm -rf "$tmp"' EXIT
  sys curl -fsSL --retry 3 -o "$tmp/$node_name.tar.xz" "$node_base/$node_name.tar.xz"
  sys curl -fsSL --retry 3 -o "$tmp/SHASUMS256.txt" "$node_base/SHASUMS256.txt"
  sum=$(sys sha256sum "$tmp/$node_name.tar.xz")
  sum=${sum%% *}
  grep -q "^$sum  $node_name.tar.xz\$" "$tmp/SHASUMS256.txt" || die "$node_name.tar.xz does not match $node_base/SHASUMS256.txt"
  mkdir -p "$ROOT/opt/pifog"
  rm -rf "$ROOT/opt/pifog/$node_name"
  sys tar -xJf "$tmp/$node_name.tar.xz" -C "$ROOT/opt/pifog" --no-same-owner
  mkdir -p "$ROOT/opt/pifog/$node_name"
  : >"$ROOT/opt/pifog/$node_name/.pifog-complete"
fi
ln -sfn "$node_name" "$ROOT$NODE_LINK"

# ---- 3. the runtime: the checkout's files (its dist/ when built), then the production dependencies
say "installing the runtime in $APP_DIR from $source_dir"
stage="$ROOT$APP_DIR.new"
rm -rf "$stage"
mkdir -p "$stage/docker"
for f in package.json package-lock.json tsconfig.json settings.ts; do cp "$source_dir/$f" "$stage/"; done
cp -R "$source_dir/nodes" "$source_dir/flows" "$stage/"
cp "$source_dir/docker/tsconfig.image.json" "$stage/docker/"
if [ -f "$source_dir/dist/nodes/lib/runtime/cli.js" ]; then
  mkdir -p "$stage/dist"
  cp -R "$source_dir/dist/nodes" "$source_dir/dist/settings.js" "$stage/dist/"
fi
# the same dependencies as last time: keep them (npm ci would only do it again)
if [ -d "$ROOT$APP_DIR/node_modules" ] && cmp -s "$ROOT$APP_DIR/package-lock.json" "$stage/package-lock.json" && [ -f "$ROOT$APP_DIR/.pifog-deps-complete" ]; then
  mv "$ROOT$APP_DIR/node_modules" "$stage/node_modules"
  : >"$stage/.pifog-deps-complete"
fi
rm -rf "$ROOT$APP_DIR"
mv "$stage" "$ROOT$APP_DIR"
npm_in_app() { (cd "$ROOT$APP_DIR" && PATH="$ROOT$NODE_LINK/bin:$PATH" sys npm "$@" --no-audit --no-fund); }
if [ ! -f "$ROOT$APP_DIR/dist/nodes/lib/runtime/cli.js" ]; then
  # built here: the dev dependencies (TypeScript) first. On a Pi Zero this takes long: build on a bigger machine.
  say "building the runtime (no dist/ in $source_dir)"
  npm_in_app ci
  (cd "$ROOT$APP_DIR" && PATH="$ROOT$NODE_LINK/bin:$PATH" sys npx tsc -p docker/tsconfig.image.json)
  (cd "$ROOT$APP_DIR" && PATH="$ROOT$NODE_LINK/bin:$PATH" sys node dist/nodes/lib/build/copy-assets.js)
  npm_in_app prune --omit=dev
  : >"$ROOT$APP_DIR/.pifog-deps-complete"
elif [ ! -f "$ROOT$APP_DIR/.pifog-deps-complete" ]; then
  # native addons (better-sqlite3, epoll, i2c-bus) compile here when there is no prebuilt binary (always on ARMv6)
  npm_in_app ci --omit=dev
  : >"$ROOT$APP_DIR/.pifog-deps-complete"
fi

# ---- 4. the user
if sys getent passwd "$PIFOG_USER" >/dev/null; then
  say "user $PIFOG_USER exists"
else
  sys useradd --system --user-group --home-dir "$DATA_BASE" --no-create-home --shell /usr/sbin/nologin "$PIFOG_USER"
fi
wanted=""
for g in gpio i2c video; do
  if sys getent group "$g" >/dev/null; then
    wanted="$wanted $g"
  else
    say "no group $g on this machine (not a Raspberry Pi OS?): $PIFOG_USER is not added to it"
  fi
done
have=" $(sys id -nG "$PIFOG_USER") "
missing=""
for g in $wanted; do
  case "$have" in *" $g "*) ;; *) missing="${missing:+$missing,}$g" ;; esac
done
[ -z "$missing" ] || sys usermod -a -G "$missing" "$PIFOG_USER"
# the unit's SupplementaryGroups: the role's groups that exist
unit_groups=""
for g in $role_groups; do
  case " $wanted " in *" $g "*) unit_groups="${unit_groups:+$unit_groups }$g" ;; esac
done

# ---- 5. I²C for the roles on it
reboot_needed=no
if [ "$i2c" = yes ]; then
  config="$ROOT/boot/firmware/config.txt"
  [ -f "$config" ] || config="$ROOT/boot/config.txt"
  if [ ! -f "$config" ]; then
    say "no config.txt in /boot/firmware or /boot: enable I²C yourself (raspi-config nonint do_i2c 0)"
  elif grep -Eq '^[[:space:]]*dtparam=i2c_arm=on[[:space:]]*$' "$config"; then
    say "I²C is enabled in ${config#"$ROOT"}"
  elif grep -Eq '^[[:space:]]*#?[[:space:]]*dtparam=i2c_arm=' "$config"; then
    # the commented (or "off") line Raspberry Pi OS ships, turned on where it stands
    sed -i -E '0,/^[[:space:]]*#?[[:space:]]*dtparam=i2c_arm=.*/s//dtparam=i2c_arm=on/' "$config"
    reboot_needed=yes
  else
    # under [all]: the file may end inside a section for one model ([cm4], [pi5]...)
    printf '\n[all]\n# PiFog: I2C for the Sense HAT and the UPS HAT\ndtparam=i2c_arm=on\n' >>"$config"
    reboot_needed=yes
  fi
  mkdir -p "$ROOT/etc/modules-load.d"
  printf '# PiFog: /dev/i2c-* for the Sense HAT and the UPS HAT\ni2c-dev\n' >"$ROOT/etc/modules-load.d/pifog-i2c.conf"
fi

# ---- 6. the data dir, the environment file, the unit
data=$(data_dir "$role")
mkdir -p "$ROOT$data"
chmod 700 "$ROOT$data"
sys chown "$PIFOG_USER:$PIFOG_USER" "$ROOT$DATA_BASE" "$ROOT$data"

envf="$ROOT$(env_file "$role")"
marker="# --- your own settings (PIFOG_ADMIN_PASSWORD, ...) below this line are kept when the installer runs again ---"
kept=""
if [ -f "$envf" ] && grep -qxF "$marker" "$envf"; then
  kept=$(awk -v m="$marker" 'after { print } $0 == m { after = 1 }' "$envf")
fi
mkdir -p "$ROOT$ETC_DIR"
chmod 755 "$ROOT$ETC_DIR"
umask 077
{
  printf '# PiFog %s: written by docker/pi/install.sh (it rewrites the lines above the marker)\n' "$role"
  printf 'PIFOG_ROLE=%s\n' "$role"
  [ -z "$device_id" ] || printf 'PIFOG_DEVICE_ID=%s\n' "$device_id"
  printf 'PIFOG_DATA_DIR=%s\n' "$data"
  printf 'PIFOG_HARDWARE=%s\n' "$hardware"
  [ -z "$hub_url" ] || printf 'PIFOG_HUB_URL=%s\n' "${hub_url%/}"
  [ -z "$mqtt_url" ] || printf 'PIFOG_MQTT_URL=%s\n' "$mqtt_url"
  [ -z "$http_port" ] || printf 'PIFOG_HTTP_PORT=%s\n' "$http_port"
  printf '%s\n' "$marker"
  [ -z "$kept" ] || printf '%s\n' "$kept"
} >"$envf.new"
chmod 600 "$envf.new"
mv "$envf.new" "$envf"
umask 022

unit="$ROOT$UNIT_DIR/$(unit_name "$role")"
mkdir -p "$ROOT$UNIT_DIR"
{
  cat <<EOF
# PiFog $role: written by docker/pi/install.sh; docker/pi/uninstall.sh $role removes it
[Unit]
Description=PiFog $role
After=network-online.target
Wants=network-online.target

[Service]
Type=simple
User=$PIFOG_USER
Group=$PIFOG_USER
EOF
  [ -z "$unit_groups" ] || printf 'SupplementaryGroups=%s\n' "$unit_groups"
  cat <<EOF
EnvironmentFile=$(env_file "$role")
WorkingDirectory=$APP_DIR
ExecStart=$NODE_LINK/bin/node $APP_DIR/dist/nodes/lib/runtime/cli.js
# after an error that escapes PiFog drives its outputs safe and exits non-zero, to be started again
Restart=always
RestartSec=2
TimeoutStopSec=15
StandardOutput=journal
StandardError=journal
SyslogIdentifier=pifog-$role
UMask=0077
# hardening: nothing but the data dir is writable, no privileges to gain, no capabilities at all (ports > 1024)
NoNewPrivileges=yes
ProtectSystem=strict
ReadWritePaths=$data
ProtectHome=yes
PrivateTmp=yes
ProtectControlGroups=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictRealtime=yes
RestrictNamespaces=yes
LockPersonality=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6 AF_NETLINK
CapabilityBoundingSet=
AmbientCapabilities=
EOF
  case "$devices" in
    private) printf '# no hardware: no devices at all, /sys read-only\nPrivateDevices=yes\nProtectKernelTunables=yes\nProtectClock=yes\n' ;;
    gpio) printf '# GPIO through sysfs (/sys/class/gpio must stay writable: no ProtectKernelTunables); no other devices\nDevicePolicy=closed\nDeviceAllow=char-gpiochip rw\nDeviceAllow=/dev/gpiomem rw\nProtectClock=yes\n' ;;
    i2c) printf '# the I2C bus only\nDevicePolicy=closed\nDeviceAllow=char-i2c rw\nProtectKernelTunables=yes\nProtectClock=yes\n' ;;
    "i2c fb") printf '# the Sense HAT: its I2C sensors and its LED matrix (a framebuffer)\nDevicePolicy=closed\nDeviceAllow=char-i2c rw\nDeviceAllow=char-fb rw\nProtectKernelTunables=yes\nProtectClock=yes\n' ;;
    any)
      # no ProtectClock either: its rule for the RTC would turn the device policy into an allow-list
      printf '# the camera programs use video4linux, media and dma_heap devices: the group video decides\nProtectKernelTunables=yes\n'
      ;;
  esac
  cat <<EOF

[Install]
WantedBy=multi-user.target
EOF
} >"$unit.new"
chmod 644 "$unit.new"
mv "$unit.new" "$unit"

sys systemctl daemon-reload
sys systemctl enable "$(unit_name "$role")"
sys systemctl restart "$(unit_name "$role")"

say "PiFog $role is installed: systemctl status $(unit_name "$role"); journalctl -u $(unit_name "$role") -f"
say "its settings: $(env_file "$role"); its data: $data"
if [ -n "$hub_url" ]; then say "it pairs with $hub_url: the code it prints is in the journal (journalctl -u $(unit_name "$role"))"; fi
if [ "$reboot_needed" = yes ]; then say "I²C was enabled in ${config#"$ROOT"}: reboot for it to take effect (sudo reboot)"; fi
