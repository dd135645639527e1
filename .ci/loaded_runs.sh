#!/usr/bin/env bash
# Issue 15's reliability check: clean-clone runs of the CI command on one commit, each with the machine loaded
# by a busy loop of our own (one core of two), so a test that depends on an idle machine shows up.
#   bash .ci/loaded_runs.sh <commit> 1 2 3        # results appended to /tmp/loaded_runs.txt
set -u
repo=$(cd "$(dirname "$0")/.." && pwd)
commit=$1; shift
for i in "$@"; do
  d=/tmp/loaded_run_$i; rm -rf "$d"; git clone -q "$repo" "$d" && (cd "$d" && git checkout -q "$commit")
  ( while :; do :; done ) & busy=$!
  start=$(date +%s)
  (cd "$d" && CI=true PYTEST_ARGS="--durations=40" bash .ci/run) > "/tmp/loaded_run_$i.log" 2>&1
  rc=$?
  kill "$busy"
  echo "run $i commit $commit rc=$rc wall=$(( $(date +%s) - start ))s $(date)" | tee -a /tmp/loaded_runs.txt
done
