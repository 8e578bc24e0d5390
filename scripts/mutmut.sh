#!/usr/bin/env bash
# Mutation testing of the lab, the findings, the results and the Spec (pyproject's
# [tool.mutmut]): each mutant is a small change to the code that the tests must catch.
#
#   scripts/mutmut.sh                        every mutant (long: an hour or more on 2 cores)
#   scripts/mutmut.sh 'gradtui.result.*'     the mutants of one module (names are globs)
#
# Then: .venv/bin/mutmut results (the survivors), .venv/bin/mutmut show NAME (a diff).
# Needs: .venv/bin/pip install -e ".[test,mutation]". Work goes to mutants/ (ignored).
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-.venv/bin/python}"
MUTMUT="$(dirname "$PYTHON")/mutmut"
# Same floating-point results on any x86 CPU, as tests/conftest.py sets.
export MKL_CBWR=COMPATIBLE
# mutmut runs each mutant's tests in a fork of a process that has already run the numba
# kernels; numba's default OpenMP layer then kills the fork ("fork() called from a process
# already using GNU OpenMP") and every such mutant reads as suspicious. The workqueue
# layer survives the fork.
export NUMBA_THREADING_LAYER=workqueue
"$MUTMUT" run --max-children "${MUTMUT_CHILDREN:-2}" "$@"
"$MUTMUT" results
