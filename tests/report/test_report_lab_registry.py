"""The course lab's tasks and their quoted times come from the task registry (Task.family,
Task.reference) through the run record: the report places lab rows by the record alone and
names no lab task and no quoted time itself."""
from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from .reporthelpers import make_runs, seeds

from rnnbench.report import tables
from rnnbench.tasks import TASKS
from rnnbench.tasks.lab import LAB_NOTES

REPORT = Path(tables.__file__).resolve().parent
LAB_TASKS = [n for n in TASKS.names() if TASKS.get(n).family == "course-lab"]
FACTS = {"task_kind": "many_to_one", "task_title": "A lab task no registry knows", "seq_len": None,
         "metric": "mse", "direction": "min", "solved_threshold": None, "solved_rule": None,
         "cell_title": "LSTM", "cell_citation": "Hochreiter & Schmidhuber 1997"}


def _strings(path: Path) -> list[str]:
    """Every string literal of a module (docstrings, f-string parts) and of the report's templates."""
    if path.suffix != ".py":
        return [path.read_text()]
    return [n.value for n in ast.walk(ast.parse(path.read_text())) if isinstance(n, ast.Constant)
            and isinstance(n.value, str)]


@pytest.mark.parametrize("path", sorted(p for p in REPORT.rglob("*") if p.suffix in (".py", ".j2")),
                         ids=lambda p: p.name)
def test_the_report_names_no_lab_task_and_no_quoted_time(path):
    assert {"addition", "airquality"} <= set(LAB_TASKS)     # the registry declares the lab (test_record.py)
    text = "\n".join(_strings(path))
    for name in LAB_TASKS:
        assert not re.search(rf"(?<![\w-]){re.escape(name)}(?![\w-])", text), (path.name, name)
        assert TASKS.get(name).reference["setting"] not in text
    assert LAB_NOTES not in text
    if path.suffix == ".py":   # no quoted time as a number (30 and 60 s are too common to tell)
        quoted = {TASKS.get(n).reference["seconds"] for n in LAB_TASKS} - {30.0, 60.0}
        numbers = {n.value for n in ast.walk(ast.parse(path.read_text()))
                   if isinstance(n, ast.Constant) and isinstance(n.value, (int, float))}
        assert not quoted & numbers, (path.name, quoted & numbers)


def test_lab_rows_are_placed_by_the_record_alone():
    """A task no registry knows is a lab row when its record says so, with the record's quoted time;
    a lab task's name is not one when its record says another family."""
    runs = make_runs(seeds([0.2, 0.4], task="made-up-lab-task", arch="lstm", train_seconds=21.0,
                           task_family="course-lab", reference_seconds=42.0, reference_source="someone's notes",
                           reference_setting="LSTM 8", **FACTS)
                     + seeds([0.9], task="addition", arch="lstm", task_family="seq2seq", reference_seconds=None,
                             reference_source=None, reference_setting=None, train_seconds=5.0))
    lt = tables.lab_table(runs).set_index("task")
    assert list(lt.index) == ["made-up-lab-task"]
    row = lt.loc["made-up-lab-task"]
    assert (row["reference_seconds"], row["ratio_to_reference"]) == (42.0, 0.5)
    assert (row["reference_source"], row["reference_setting"], row["task_title"]) == (
        "someone's notes", "LSTM 8", FACTS["task_title"])
