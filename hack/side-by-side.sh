#!/usr/bin/env bash
# Runs make targets at the same time, each with its output in a file of its
# own, and prints every output whole when all have ended, then a summary.
# Exits 1 if any target failed. make test runs its long suites this way:
# they wait on leases, renewal times and pods much more than they compute.
#
#   hack/side-by-side.sh MAKE [-n NICE] TARGET... [-n NICE] TARGET...
#
# MAKE is the make command line (word-split), for example
# "make --no-print-directory TEST_DEPS=". The targets after "-n NICE" run
# with that niceness (inherited by what they start: the control planes, the
# managers, the node), those before any -n at the caller's: the suite that
# needs the CPU most gets it first, and the others take what it leaves.
#
# SIDE_BY_SIDE_LOGS: the directory for the outputs (default: a new temporary
# one, deleted at the end).
set -uo pipefail

read -r -a make_cmd <<< "$1"
shift

logs=${SIDE_BY_SIDE_LOGS:-}
if [[ -z "$logs" ]]; then
  logs=$(mktemp -d)
  trap 'rm -rf "$logs"' EXIT
else
  mkdir -p "$logs"
fi

targets=() pids=()
nice=0
start=$(date +%s)
while (($#)); do
  if [[ "$1" == -n ]]; then
    nice=$2
    shift 2
    continue
  fi
  t=$1
  shift
  targets+=("$t")
  (
    s=$(date +%s)
    rc=0
    nice -n "$nice" "${make_cmd[@]}" "$t" > "$logs/$t.log" 2>&1 < /dev/null || rc=$?
    echo "$rc $(($(date +%s) - s))" > "$logs/$t.rc"
    echo "side-by-side: $t ended after $(($(date +%s) - s)) s, exit $rc" >&2
  ) &
  pids+=($!)
  echo "side-by-side: started make $t (nice $nice), output in the end" >&2
done

# An interrupt or a termination reaches the make processes (they are in
# this process group); wait for them, so that their cleanup (the node's
# "down" included) runs and their output is printed.
trap 'echo "side-by-side: interrupted, waiting for the suites to stop" >&2' INT TERM
for pid in "${pids[@]}"; do
  while ! wait "$pid"; do kill -0 "$pid" 2>/dev/null || break; done
done

failed=()
summary=()
for t in "${targets[@]}"; do
  read -r rc secs < "$logs/$t.rc" 2>/dev/null || { rc=1 secs=?; }
  echo
  echo "==================== make $t: exit $rc after $secs s ===================="
  cat "$logs/$t.log"
  summary+=("$(printf '  %-18s exit %s after %s s' "$t" "$rc" "$secs")")
  [[ "$rc" == 0 ]] || failed+=("$t")
done
echo
echo "side-by-side: $(($(date +%s) - start)) s in all"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "side-by-side: FAILED: ${failed[*]} (their output is above)"
  exit 1
fi
