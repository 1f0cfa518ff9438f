"""The report renders in headless Chromium without script or console errors, every section shown.

Skipped where no Chromium is installed (Debian: `apt-get install chromium`; CI installs it).
The report is the synthetic `quick`-grid one of conftest.py; set RNNBENCH_REPORT_RESULTS to
a real results directory to check that one instead. RNNBENCH_TEST_ARTIFACTS (a folder)
keeps the screenshot.
"""
from __future__ import annotations

import os
import re
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from rnnbench.report import build
from rnnbench.report.html import SECTIONS

CHROMIUM = next((p for p in map(shutil.which, ("chromium", "chromium-browser", "google-chrome")) if p), None)
pytestmark = pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium is not installed "
                                                          "(Debian: apt-get install chromium)")
# Without the background-networking flags Chromium waits on a closed network; the resolver
# rule makes any fetch the page might attempt fail loudly (a console error) instead.
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync",
         "--disable-extensions", "--host-resolver-rules=MAP * ~NOTFOUND", "--enable-logging=stderr", "--v=0")


def chromium(tmp: Path, url: str, *args: str) -> subprocess.CompletedProcess:
    profile = tmp / f"profile-{len(list(tmp.glob('profile-*')))}"
    return subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={profile}", *args, url],
                          capture_output=True, text=True, timeout=180)


def console_errors(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines()
            if "CONSOLE" in line or "Uncaught" in line or "Failed to load resource" in line or "net::ERR_" in line]


@pytest.fixture(scope="module")
def report(tmp_path_factory, request) -> Path:
    real = os.environ.get("RNNBENCH_REPORT_RESULTS")
    if real:
        return build(real, tmp_path_factory.mktemp("real-report"))
    return request.getfixturevalue("quick_report") / "index.html"


def test_renders_without_errors_and_shows_every_section(report, tmp_path):
    run = chromium(tmp_path, report.as_uri() + "#selftest", "--dump-dom", "--virtual-time-budget=5000")
    assert run.returncode == 0, run.stderr[-2000:]
    dom = run.stdout
    assert 'data-ready="1"' in dom, "the page's script did not run to its end"
    assert 'data-selftest="sorted-ok"' in dom, "sorting a table by a column failed"
    assert re.search(r'id="js-errors"[^>]*data-count="0"', dom), re.findall(r"script error: [^<]*", dom)
    assert console_errors(run.stderr) == []
    for k, (sid, _, title) in enumerate(SECTIONS):
        m = re.search(rf'<section id="{sid}"[^>]*>\s*<h2>(\d+)\. ([^<]+)</h2>', dom)
        assert m, f"section {sid} missing"
        assert (int(m.group(1)), m.group(2)) == (k + 1, title)


def test_a_script_error_would_be_caught(report, tmp_path):
    """The check above can fail: an injected error shows up in the page's error list."""
    bad = tmp_path / "bad.html"
    bad.write_text(report.read_text().replace("</body>", "<script>notDefinedAnywhere();</script></body>"))
    run = chromium(tmp_path, bad.as_uri(), "--dump-dom")
    assert re.search(r'id="js-errors"[^>]*data-count="1"', run.stdout)
    assert "notDefinedAnywhere" in run.stdout
    assert console_errors(run.stderr), "the console error is also visible on stderr"


def test_screenshot(report, tmp_path):
    shot = tmp_path / "report.png"
    run = chromium(tmp_path, report.as_uri(), f"--screenshot={shot}", "--window-size=1400,16000",
                   "--hide-scrollbars", "--virtual-time-budget=5000")
    assert run.returncode == 0 and shot.is_file(), run.stderr[-2000:]
    head = shot.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", head[16:24])
    assert (width, height) == (1400, 16000)
    assert shot.stat().st_size > 100_000, "a nearly blank page"
    keep = os.environ.get("RNNBENCH_TEST_ARTIFACTS")
    if keep:
        Path(keep).mkdir(parents=True, exist_ok=True)
        shutil.copy(shot, Path(keep) / "report.png")
