# Shared by scripts/demo and scripts/test: Debian packages and the build. Sourced, not run.

# Packages gt needs to build, run and test (README, "Dependencies").
GT_PACKAGES="gcc make binutils cmake pkg-config git liblua5.4-dev libgit2-dev libsqlite3-dev \
lua-argparse lua-dkjson lua-busted libedit-dev tmux lua-check"
# The install test (tests/functional/install_spec.lua): dpkg-shlibdeps for the .deb, man for gt.1.
GT_PACKAGES="$GT_PACKAGES dpkg-dev man-db"
# A ledger on a server (docs/design.md §3.7): libpq to build against (gt loads it when a town
# uses a server), and the server the tests start a throwaway copy of.
GT_PACKAGES="$GT_PACKAGES libpq-dev postgresql-15"

# gt_since T0: the time since T0 (an $EPOCHREALTIME), as "38 ms", "2.4 s" or "41 s".
gt_since() {
  local us=$(( ${EPOCHREALTIME/[.,]/} - ${1/[.,]/} ))
  if [ "$us" -lt 1000000 ]; then
    printf '%d ms' $((us / 1000))
  elif [ "$us" -lt 10000000 ]; then
    printf '%d.%d s' $((us / 1000000)) $((us / 100000 % 10))
  else
    printf '%d s' $((us / 1000000))
  fi
}

# gt_phase NAME COMMAND [ARGS...]: runs a phase of the script, then prints how long it took
# ("build (release): 41 s"), or that it failed, and fails (its output was shown). set -e does
# not apply inside COMMAND (a shell function): it returns its first failure itself.
gt_phase() {
  local name="$1" t0=$EPOCHREALTIME status=0
  shift
  "$@" || status=$?
  if [ "$status" -ne 0 ]; then
    echo "$name: failed after $(gt_since "$t0")" >&2
    return "$status"
  fi
  echo "$name: $(gt_since "$t0")"
}

# gt_quietly COMMAND [ARGS...]: runs a command with its output kept aside, shown only if it fails.
gt_quietly() {
  local log status=0
  log=$(mktemp)
  "$@" >"$log" 2>&1 || status=$?
  [ "$status" -eq 0 ] || cat "$log" >&2
  rm -f "$log"
  return "$status"
}

# Installs the missing packages with apt-get when root, saying which in one line (apt's output
# only if it fails); otherwise prints the one apt-get line that would and fails.
gt_ensure_packages() {
  local installed missing=""
  # One dpkg-query for all of them: "<name> install ok installed" for those installed.
  installed=" $({ dpkg-query -W -f='${Package} ${Status}\n' $GT_PACKAGES 2>/dev/null || true; } |
    awk '$4 == "installed" { printf "%s ", $1 }')"
  for pkg in $GT_PACKAGES; do
    case "$installed" in
      *" $pkg "*) ;;
      *) missing="$missing $pkg" ;;
    esac
  done
  [ -z "$missing" ] && return 0
  if [ "$(id -u)" -ne 0 ]; then
    echo "gt needs these Debian packages:$missing" >&2
    echo "install them with: sudo apt-get install -y$missing" >&2
    return 1
  fi
  echo "installing:$missing"
  gt_quietly apt-get update -q &&
    DEBIAN_FRONTEND=noninteractive gt_quietly apt-get install -y -q $missing
}

# gt_build DIR [cmake options...]: configures and builds gt in DIR (relative to the checkout);
# the compiler's output is shown only if the build fails.
gt_build() {
  local dir="$1"; shift
  gt_quietly cmake -S "$GT_ROOT" -B "$GT_ROOT/$dir" -DCMAKE_BUILD_TYPE=RelWithDebInfo "$@" &&
    gt_quietly cmake --build "$GT_ROOT/$dir" -j "$(nproc)"
}
