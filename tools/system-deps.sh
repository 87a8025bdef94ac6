#!/usr/bin/env bash
# Install the system packages that `make run` (app) or `make test` (test) needs, when missing.
#
#   tools/system-deps.sh app|test
#
# What is needed is listed in tools/system-deps.txt (libraries by soname, programs by name). This
# prints nothing and exits 0 when everything is there. Otherwise it installs the missing packages
# with apt-get when it can (Debian or Ubuntu, as root); where it cannot, it prints the exact
# packages to install and exits 1, so a missing library never surfaces later as a Qt abort.
set -euo pipefail
need=${1:?usage: tools/system-deps.sh app|test}
list="$(dirname "$0")/system-deps.txt"
ldconfig=$(command -v ldconfig || echo /sbin/ldconfig)

missing_packages() {
  local libs
  libs=$("$ldconfig" -p 2>/dev/null | awk 'NR > 1 {print $1}' || true)
  while read -r group kind name package; do
    case "$group" in ''|'#'*) continue ;; esac
    [ "$group" = app ] || [ "$need" = test ] || continue
    if [ "$kind" = lib ]; then
      grep -qxF "$name" <<<"$libs" || echo "$package"
    else
      command -v "$name" >/dev/null || echo "$package"
    fi
  done <"$list" | sort -u | xargs
}

packages=$(missing_packages)
[ -z "$packages" ] && exit 0

if command -v apt-get >/dev/null && [ "$(id -u)" = 0 ]; then
  echo "Installing system packages that Pegasus Desktop needs: $packages"
  # Wait for another apt or dpkg run (an unattended upgrade) instead of failing at once.
  apt-get -o DPkg::Lock::Timeout=300 update -qq
  # shellcheck disable=SC2086 - one word per package
  DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=300 install -y -qq >/dev/null \
    --no-install-recommends $packages
  still=$(missing_packages)
  if [ -n "$still" ]; then
    echo "These packages were installed but their libraries or programs are still missing: $still" >&2
    exit 1
  fi
  exit 0
fi

{
  echo "Pegasus Desktop needs these system packages, which are not installed: $packages"
  if command -v apt-get >/dev/null; then
    echo "Install them as root, then run make again:"
    echo "  sudo apt-get install $packages"
  else
    echo "These are Debian/Ubuntu package names; install your system's packages that provide the"
    echo "libraries and programs listed for them in tools/system-deps.txt, then run make again."
  fi
} >&2
exit 1
