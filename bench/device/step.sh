# Sourced by the device scripts. `step NAME COMMAND [ARGS...]` runs the command in a subshell with errexit (a failing
# line stops its step only), records a failure in the caller's array `failed` instead of stopping, and prints the time.
# errexit is off around the subshell: in a `cmd || rc=$?` list bash would ignore it inside the subshell too.
step() {
  local name=$1 rc start=$SECONDS
  shift
  echo "== $name"
  set +e
  ( set -euo pipefail; "$@" )
  rc=$?
  set -e
  if [ "$rc" -ne 0 ]; then
    echo "== $name FAILED (exit $rc)" >&2
    failed+=("$name")
  else
    echo "== $name done in $((SECONDS - start)) s"
  fi
}
