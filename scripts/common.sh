# Shared by scripts/demo and scripts/test: Debian packages and the build. Sourced, not run.

# Packages gt needs to build, run and test (README, "Dependencies").
GT_PACKAGES="gcc make binutils cmake pkg-config git liblua5.4-dev libgit2-dev libsqlite3-dev \
lua-argparse lua-dkjson lua-busted libreadline-dev tmux lua-check"

# Installs the missing packages with apt-get when root; otherwise prints the one apt-get line
# that would and exits 1.
gt_ensure_packages() {
  local missing=""
  for pkg in $GT_PACKAGES; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
      missing="$missing $pkg"
    fi
  done
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "gt needs these Debian packages:$missing" >&2
    echo "install them with: sudo apt-get install -y$missing" >&2
    exit 1
  fi
  echo "installing:$missing" >&2
  apt-get update -qq >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >&2
}

# gt_build DIR [cmake options...]: configures and builds gt in DIR (relative to the checkout).
gt_build() {
  local dir="$1"; shift
  cmake -S "$GT_ROOT" -B "$GT_ROOT/$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" >/dev/null
  cmake --build "$GT_ROOT/$dir" -j "$(nproc)" >/dev/null
}
