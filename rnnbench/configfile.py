"""Reading a run's config file (`--config FILE`, YAML or JSON) safely.

A config file is a mapping of RunConfig keys to scalars, with `task_params` and
`model_params` mappings of names to scalars: two levels, no lists. Anything else
is a UsageError naming the file (and the key), raised before anything is written:

- not a regular file, larger than MAX_BYTES (a run config is a few hundred bytes;
  the cap bounds the parse time), binary or wrongly encoded content;
- YAML tags that construct objects (safe loading), duplicate keys (YAML would keep
  the last silently; refused, naming the key), nesting deeper than the schema;
- a value the run would refuse (`check_values`): a file's value must be valid even
  where a command-line flag overrides it, or the file is wrong for every other use.

libyaml's C loader (CSafeLoader) is used where PyYAML has it: parsing is then about
10x faster than pure Python.
"""
from __future__ import annotations

import os
import stat
from pathlib import Path
from typing import Any

from .errors import UsageError

MAX_BYTES = 1 << 20                          # 1 MiB
PARAM_MAPPINGS = ("task_params", "model_params")
SCALARS = (str, int, float, bool, type(None))


def _loader():
    import yaml

    base = getattr(yaml, "CSafeLoader", yaml.SafeLoader)

    class Loader(base):
        """Safe loading that refuses a key given twice in one mapping."""

        def construct_mapping(self, node, deep=False):
            seen = set()
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue
                key = self.construct_object(key_node, deep=deep)
                try:
                    dup = key in seen
                except TypeError:   # unhashable: the base class reports it
                    break
                if dup:
                    line = key_node.start_mark.line + 1
                    raise UsageError(f"duplicate key {key!r} (line {line})")
                seen.add(key)
            return super().construct_mapping(node, deep=deep)

    return Loader


def read_bytes(path: str | Path) -> bytes:
    p = Path(path)
    if str(path).strip() == "":
        raise UsageError("--config is empty: give a YAML or JSON file")
    try:
        st = os.stat(p)
    except FileNotFoundError:
        raise UsageError(f"config file not found: {p}") from None
    except OSError as e:
        raise UsageError(f"cannot read config file {_short(p)}: {e.strerror or e}") from None
    if not stat.S_ISREG(st.st_mode):
        kind = "a directory" if stat.S_ISDIR(st.st_mode) else "not a regular file"
        raise UsageError(f"config file {p} is {kind}: give a YAML or JSON file")
    if st.st_size > MAX_BYTES:
        raise UsageError(f"config file {p} is {st.st_size:,} bytes, more than the {MAX_BYTES:,} a "
                         f"run config may have")
    try:
        with open(p, "rb") as f:
            data = f.read(MAX_BYTES + 1)
    except OSError as e:
        raise UsageError(f"cannot read config file {p}: {e.strerror or e}") from None
    if len(data) > MAX_BYTES:
        raise UsageError(f"config file {p} is more than the {MAX_BYTES:,} bytes a run config may have")
    return data


def load_file(path: str | Path) -> dict[str, Any]:
    """Read a YAML or JSON config file into a dict of the shape above (UsageError if not)."""
    import yaml

    p = Path(path)
    raw = read_bytes(p)
    if b"\0" in raw and not raw.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise UsageError(f"config file {p} is binary, not YAML/JSON text")
    try:
        data = yaml.load(raw, Loader=_loader())
    except UsageError as e:
        raise UsageError(f"config file {p}: {e}") from None
    except yaml.YAMLError as e:
        first = str(e).strip().splitlines()[0] if str(e).strip() else "parse error"
        if "flow level" in first or "nesting" in first:   # libyaml's depth limit
            raise UsageError(f"config file {p} is nested too deeply (a run config has two levels)") from None
        mark = getattr(e, "problem_mark", None)
        where = f" (line {mark.line + 1})" if mark is not None else ""
        raise UsageError(f"config file {p} is not valid YAML/JSON: {first}{where}") from None
    except RecursionError:
        raise UsageError(f"config file {p} is nested too deeply (a run config has two levels)") from None
    except (UnicodeDecodeError, ValueError) as e:
        raise UsageError(f"config file {p} is not YAML/JSON text ({type(e).__name__})") from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise UsageError(f"config file {p} must hold a mapping of keys, got {type(data).__name__}")
    check_shape(data, p)
    return data


def check_shape(data: dict, p) -> None:
    """Keys are strings; task_params/model_params map names to scalars; all else is a scalar
    (but seed, which may list the seeds of a group: `rnnbench train` trains them together)."""
    for key, value in data.items():
        if not isinstance(key, str):
            raise UsageError(f"config file {p}: key {key!r} is not a name")
        if key in PARAM_MAPPINGS:
            if value is None:
                data[key] = {}
                continue
            if not isinstance(value, dict):
                raise UsageError(f"config file {p}: {key} must be a mapping of names to values, "
                                 f"not a {_kind(value)}")
            for k, v in value.items():
                if not isinstance(k, str):
                    raise UsageError(f"config file {p}: {key} key {k!r} is not a name")
                if not isinstance(v, SCALARS):
                    raise UsageError(f"config file {p}: {key}.{k} must be a single value, "
                                     f"not a {_kind(v)}")
        elif key == "seed" and isinstance(value, list):     # a group of seeds (rnnbench train)
            if not value or not all(isinstance(v, int) and not isinstance(v, bool) and v >= 0 for v in value):
                raise UsageError(f"config file {p}: seed must be a non-negative integer or a list of them, "
                                 f"got {value!r}")
        elif not isinstance(value, SCALARS):
            raise UsageError(f"config file {p}: {key} must be a single value, not a {_kind(value)}")


def check_values(data: dict[str, Any], p, task: str | None = None) -> None:
    """The file's own values are valid (range, type, the task's parameters), whatever the
    command line overrides; `task` is the task the run trains (the command line's, if given)."""
    from .config import RunConfig
    from .tasks import TASKS

    try:
        cfg = RunConfig().updated(data, "the file")
        cfg.validate()
        name = task if task is not None else cfg.task
        if name in TASKS and data.get("task_params"):
            cls = TASKS.get(name)
            cls(cls.parse_params(data["task_params"]))   # the task's own checks; no data is made
    except UsageError as e:
        raise UsageError(f"config file {p}: {e}") from None


def _kind(v) -> str:
    return {list: "list", dict: "mapping", tuple: "list", set: "set"}.get(type(v), type(v).__name__)


def _short(p) -> str:
    s = str(p)
    return s if len(s) <= 80 else s[:40] + "..." + s[-30:]
