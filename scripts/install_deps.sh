#!/usr/bin/env bash
# Installs the Debian packages rfcf needs to build, test and benchmark (only the missing ones).
set -euo pipefail
packages=(build-essential cmake ccache pkg-config libeigen3-dev catch2 libstb-dev nlohmann-json3-dev
          libcli11-dev libbenchmark-dev zlib1g-dev libjpeg62-turbo-dev libpng-dev
          libopenmpi-dev openmpi-bin python3 python3-numpy python3-torch python3-opencv)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""; [ "$(id -u)" -ne 0 ] && SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
  echo "all build dependencies are installed"
fi
