#!/usr/bin/env bash
# `make test` (what CI runs): set-up, then every jest suite, with the static checks beside them.
#
#  1. Set-up: npm packages (`make deps`), the web UI (the browser suites serve it) and the guest
#     image, built side by side. Set-up must leave the tree as it found it (hack/tree-state.sh).
#  2. The suites (hack/test-summary.ts --streams: two jest processes) and, at the same time and
#     at a lower CPU priority (nice 10), the checks: type checks, the code-generation drift
#     check, the linters, the format check and the component boundaries. None of them writes
#     to the tree. On this 2-core machine they took 85 s of wall time before the suites; beside
#     them they use the CPU the suites leave idle while they wait (leases, restarts, guests).
#  3. The checks' output is printed when they end (usually long before the suites' summary);
#     a failed check fails the run, but the suites go on, so everything they started is cleaned
#     up as usual.
set -euo pipefail
cd "$(dirname "$0")/.."

work=$(mktemp -d)
check_pid=
cleanup() {
  [[ -n $check_pid ]] && kill -- -"$check_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

bash hack/tree-state.sh >"$work/tree-before"
make --no-print-directory deps
bash hack/guest-image/build.sh >"$work/image.log" 2>&1 &
image_pid=$!
make --no-print-directory web
if ! wait "$image_pid"; then
  cat "$work/image.log" >&2
  echo "make test: make image failed" >&2
  exit 1
fi
bash hack/tree-state.sh --unchanged "$work/tree-before"

# The checks in their own process group (setsid), so an interrupted run stops all of them. Their
# output and result are printed when they end, usually long before the suites' summary.
CHECKS=(typecheck typecheck-web verify-codegen lint format-check boundaries)
setsid bash -c '
  if nice -n 10 make --no-print-directory -k -j2 --output-sync=target "$@" >"$0/checks.log" 2>&1; then
    cat "$0/checks.log"
    echo "make test: checks passed ($*)"
    echo 0 >"$0/checks.rc"
  else
    { cat "$0/checks.log"; echo "make test: checks failed ($*): output above; the suites go on, and the run will fail"; } >&2
    echo 1 >"$0/checks.rc"
  fi' "$work" "${CHECKS[@]}" &
check_pid=$!

tests_rc=0
QX_GUEST_IMAGE="$(tail -n 1 "$work/image.log")" node_modules/.bin/tsx hack/test-summary.ts --ci --streams || tests_rc=$?

wait "$check_pid" || true
check_pid=
if [[ $(cat "$work/checks.rc" 2>/dev/null) != 0 ]]; then
  echo "make test: failed: the checks failed (their output is above)" >&2
  exit 1
fi
exit "$tests_rc"
