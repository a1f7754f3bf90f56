"""Retake the README's screenshots (modeler.png, instance-view.png) with the browser tests.

    .venv/bin/python docs/screenshots/take.py

Runs the two browser tests that take them, against the real server and Debian's Chromium, with
LVYUE_SCREENSHOTS=1 so that they write into this folder instead of a temporary one.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ["tests/browser/test_modeler.py::test_a_bad_timer_expression_is_shown_on_its_element_and_not_deployed",
         "tests/browser/test_instance_view.py::test_the_instance_view_marks_exactly_the_active_user_tasks"]

if __name__ == "__main__":
    env = dict(os.environ, LVYUE_SCREENSHOTS="1")
    sys.exit(subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS], cwd=ROOT, env=env))
