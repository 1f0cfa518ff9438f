"""`rnnbench check-cell`'s checks (rnnbench/models/checks.py) pass on every cell of the zoo,
skipping exactly what a cell lacks: the checks hold a plugin's cell to what holds here."""
import pytest

from rnnbench.models import CELLS, cell_names, checks
from rnnbench.models.recurrent import FAST


@pytest.mark.parametrize("arch", cell_names())
def test_every_zoo_cell_passes_the_checks(arch):
    results = {r.check: r for r in checks.run(arch)}
    assert list(results) == list(checks.CHECKS)
    skipped = {c for c, r in results.items() if r.status == "skip"}
    expected = {c for c, absent in (("fused", CELLS.get(arch).fused is None), ("fast-path", arch not in FAST))
                if absent}
    assert skipped == expected, [r.line() for r in results.values()]
    assert all(r.status == "pass" for c, r in results.items() if c not in skipped), \
        [r.line() for r in results.values() if r.status == "fail"]
