#!/usr/bin/env bash
# Build a photo bank for training (nova3r_ros.synth.photo_textures) from two Debian
# packages: gimp-data (58 material patterns: wood, stone, fabric, paper, leather ...) and
# plasma-workspace-wallpapers (30 wallpapers, photographs and artwork; one image each).
# Needs apt-get (Debian mirror access); writes 128 px JPEG crops (about 3 MB) into DEST.
#   bash scripts/fetch_photo_textures.sh [DEST=.device_data/photo_textures] [CROPS=8]
set -euo pipefail
DEST=${1:-.device_data/photo_textures}
CROPS=${2:-8}
PY=${PYTHON:-python}
[ -x .venv/bin/python ] && PY=.venv/bin/python
TMP=$(mktemp -d)
trap 'rm -rf "$TMP"' EXIT
(cd "$TMP" && apt-get download gimp-data plasma-workspace-wallpapers >/dev/null)
for deb in "$TMP"/*.deb; do dpkg-deb -x "$deb" "$TMP/root"; done
mkdir -p "$TMP/src/wallpapers"
for d in "$TMP"/root/usr/share/wallpapers/*/contents/images; do
  # the widest image of each wallpaper (names are WIDTHxHEIGHT.ext)
  f=$(ls "$d" | sort -t x -k1,1n | tail -n 1)
  cp "$d/$f" "$TMP/src/wallpapers/$(basename "$(dirname "$(dirname "$d")")").${f##*.}"
done
rm -rf "$DEST"
PYTHONPATH=. "$PY" -m nova3r_ros.synth.photo_textures build --out "$DEST" --crops "$CROPS" \
  "$TMP/root/usr/share/gimp/2.0/patterns" "$TMP/src/wallpapers"
du -sh "$DEST"
