#!/usr/bin/env bash
# Regression detection, shown: `asv continuous` flags a deliberate 1.3x slowdown of the cell
# backend between two commits, in a throwaway clone (the repository itself is not touched).
#
#   bash scripts/asv_regression_demo.sh [DEMO_DIR]          # default /tmp/asvdemo (recreated)
#
# 1. git clone this repository into DEMO_DIR. Uncommitted files of the working tree (tracked
#    or untracked, not ignored) are copied over and committed there as "baseline", so the
#    demo measures the code as it is now (SNAPSHOT=0: the committed HEAD only).
# 2. Commit there the slowdown: CellRecurrent.forward (rnnbench/models/recurrent.py)
#    busy-waits 0.3x its own run time, i.e. every cell-backend forward pass takes 1.3x as
#    long; the fused backend is untouched (the control). Backward passes are not slowed,
#    so time_forward_backward of the cell backend moves by less than 1.3x.
# 3. asv continuous --factor 1.1 BASE HEAD in an asv-managed virtualenv (asv.conf.json:
#    torch==2.13.0 from the matrix, then rnnbench's wheel with its dependencies; the first
#    run builds the environment, several minutes; a rerun keeps it), over a slice of the kernel grid:
#    lstm and gru, fused and cell, uni, 1 layer, the throughput shape (8 benchmarks; the
#    millisecond latency shape drew false alarms on a loaded machine).
#
# Output: DEMO_DIR/continuous.log (and the terminal). Exit 0 when asv flagged every
# cell-backend time_forward benchmark; a flagged fused one (unchanged code) is reported as
# machine noise. CELLS="lstm gru" (default) picks the cells, ROUNDS=4 the asv rounds.
set -euo pipefail

REPO=$(cd "$(dirname "$0")/.." && pwd)
DEMO=${1:-/tmp/asvdemo}
PY=${PYTHON:-python3}
CELLS=${CELLS:-"lstm gru"}
REGEX="kernels\.Kernel\.time_forward(_backward)?\('(${CELLS// /|})', '(fused|cell)', 'uni', 1, 'throughput'\)"
ROUNDS=${ROUNDS:-4}     # asv processes per benchmark and commit, interleaved between the commits

# A virtualenv built by an earlier run of this script is kept (same path, so still valid).
keep=""
if [ -d "$DEMO/.asv/env" ]; then keep=$(mktemp -d); mv "$DEMO/.asv/env" "$keep/env"; fi
rm -rf "$DEMO"
git clone -q "$REPO" "$DEMO"
if [ -n "$keep" ]; then mkdir -p "$DEMO/.asv" && mv "$keep/env" "$DEMO/.asv/env" && rmdir "$keep"; fi
git -C "$DEMO" config user.email demo@rnnbench.invalid
git -C "$DEMO" config user.name "asv regression demo"

if [ "${SNAPSHOT:-1}" = 1 ]; then
  (cd "$REPO" && git ls-files -z -c -o --exclude-standard | tar --null -T - -cf -) | tar -C "$DEMO" -xf -
  git -C "$DEMO" add -A
  git -C "$DEMO" diff --cached --quiet || git -C "$DEMO" commit -q -m "baseline: working tree of $REPO"
fi
test -f "$DEMO/asv.conf.json" && test -f "$DEMO/benchmarks/kernels.py" \
  || { echo "demo: no asv suite in $DEMO (commit it, or run with SNAPSHOT=1)" >&2; exit 2; }

"$PY" - "$DEMO/rnnbench/models/recurrent.py" <<'EOF'
import re, sys
path = sys.argv[1]
src = open(path).read()
cls = src.index("class CellRecurrent")
m = re.compile(r"\n    def forward\(self, ").search(src, cls)
if m is None:
    sys.exit("demo: CellRecurrent.forward not found")
wrapper = '''
    def forward(self, *args, **kwargs):
        """DEMO ONLY (scripts/asv_regression_demo.sh): a deliberate 1.3x slowdown."""
        import time
        t0 = time.perf_counter()
        result = self._forward_unslowed(*args, **kwargs)
        end = time.perf_counter() + 0.3 * (time.perf_counter() - t0)
        while time.perf_counter() < end:   # busy-wait: exact, unlike sleep at sub-ms scale
            pass
        return result
'''
src = src[:m.start()] + wrapper + "\n    def _forward_unslowed(self, " + src[m.end():]
open(path, "w").write(src)
EOF
git -C "$DEMO" commit -q -am "DEMO: deliberate 1.3x slowdown of the cell backend's forward"
git -C "$DEMO" log --oneline -3

cd "$DEMO"
"$PY" -m asv machine --yes >/dev/null
set +e
"$PY" -m asv continuous --factor 1.1 -a rounds="$ROUNDS" -b "$REGEX" --show-stderr HEAD~1 HEAD 2>&1 \
  | tee continuous.log
set -e

# asv marks a benchmark that got slower by more than --factor (and significantly) with "+".
# Success: every cell-backend forward benchmark flagged. A flagged fused benchmark (the
# control, unchanged) is machine noise: reported, not fatal.
worse=$(grep -E "^\|?\s*\+\s.*kernels\.Kernel" continuous.log || true)
cell=$(grep -c "time_forward('[a-z]*', 'cell'" <<<"$worse" || true)
want=$(wc -w <<<"$CELLS")
fused=$(grep -c "'fused'" <<<"$worse" || true)
echo "demo: asv flagged $cell of $want cell-backend time_forward benchmarks as slower"
[ "$fused" -eq 0 ] || echo "demo: warning: $fused fused (unchanged) benchmark(s) flagged too: machine noise; rerun with more ROUNDS"
grep -q "PERFORMANCE DECREASED" continuous.log && [ "$cell" -ge "$want" ]
