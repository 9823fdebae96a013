#!/bin/sh
# docker/compose.yml's "enrol" service: gives a simulated Pi its identity from the hub's CA without a person pairing
# it. In the hub's data dir ($PIFOG_DATA_DIR, where the hub made its CA on its first start): `pifog device add <id>`
# unless the device has a bundle there already; then the bundle (cert.pem, key.pem, ca.pem, hub.json) is copied to
# <out dir>/<id>/ (mode 0600), which the simulated Pi mounts read-only as PIFOG_IDENTITY. Running it again changes
# nothing. Run from the application directory (the image's WORKDIR, or a checkout after `npm run build`).
#   sh docker/sim-enrol.sh <out dir> <device id> <broker URL for its hub.json>
set -eu
if [ "$#" -ne 3 ]; then
  echo "usage: sim-enrol.sh <out dir> <device id> <broker URL>" >&2
  exit 2
fi
out=$1 id=$2 url=$3
data=${PIFOG_DATA_DIR:?PIFOG_DATA_DIR must name the hub data dir}
bundle="$data/identity/devices/$id"
if [ ! -f "$data/identity/ca.crt" ]; then
  echo "sim-enrol: no CA in $data/identity yet (the hub makes it on its first start)" >&2
  exit 1
fi
if [ ! -f "$bundle/cert.pem" ]; then
  node dist/nodes/lib/identity/cli.js device add "$id" --hub "$url"
fi
umask 077
mkdir -p "$out/$id"
for f in cert.pem key.pem ca.pem hub.json; do
  cp "$bundle/$f" "$out/$id/$f.tmp"
  chmod 600 "$out/$id/$f.tmp"
  mv "$out/$id/$f.tmp" "$out/$id/$f"
done
echo "sim-enrol: $id's identity is in $out/$id"
