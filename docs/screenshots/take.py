"""Retake the README's screenshots (modeler.png, instance-view.png, home.png, tasks-422.png, contracts.png,
contract.png, instance-view-auto-layout.png, sign-in.png) with the browser tests. The Chinese labels need a CJK font (Debian: fonts-noto-cjk).

    .venv/bin/python docs/screenshots/take.py

Runs the browser tests that take them, against the real server and Debian's Chromium, with
LVYUE_SCREENSHOTS=1 so that they write into this folder instead of a temporary one.
"""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
TESTS = ["tests/browser/test_modeler.py::test_a_bad_timer_expression_is_shown_on_its_element_and_not_deployed",
         "tests/browser/test_instance_view.py::test_the_instance_view_marks_exactly_the_active_user_tasks",
         "tests/browser/test_home.py::test_signed_in_once_every_linked_page_opens_without_asking_again_and_loads_nothing_foreign",
         "tests/browser/test_tasks.py::test_a_party_completes_a_task_through_the_generated_form",
         "tests/browser/test_contracts.py::test_a_supervisor_lists_its_contracts_opens_one_and_confirms_a_red_alert",
         "tests/browser/test_auto_layout.py::test_a_running_instance_of_a_diagram_without_di_is_drawn_with_its_task_active",
         "tests/browser/test_password_sign_in.py::test_a_party_signs_in_with_a_password_works_and_signs_out"]

if __name__ == "__main__":
    env = dict(os.environ, LVYUE_SCREENSHOTS="1")
    sys.exit(subprocess.call([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *TESTS], cwd=ROOT, env=env))
