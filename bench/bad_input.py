"""The hosted demo's bad-input and safety tests, counted per requirement.

Runs the tests that cover each bad-input case of the hosted demo, reads
pytest's JUnit report, and writes how many tests (and generated cases) each
requirement has, how many passed, and how long they took.

    python bench/bad_input.py
"""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import xml.etree.ElementTree as ET
from pathlib import Path

from common import ROOT, machine, report

#: requirement: the tests (pytest node ids, parametrized cases included) that check it.
REQUIREMENTS = {
    "URL parameters: garbage, huge, negative, NaN, Unicode, repeated, injection-like": [
        "tests/test_viewstate.py::test_bad_value_gives_notice_and_default",
        "tests/test_viewstate.py::test_repeated_parameters",
        "tests/test_viewstate.py::test_values_are_checked_against_each_other",
        "tests/test_viewstate.py::test_unknown_parameters_are_reported",
        "tests/test_app.py::test_bad_url_values_give_a_notice_and_defaults",
    ],
    "path-like values never reach the file system": [
        "tests/test_viewstate.py::test_url_values_never_reach_the_file_system",
        "tests/test_storage.py::test_entry_file_names_cannot_leave_the_store",
    ],
    "corrupt, truncated or foreign weights files are rejected by hash": [
        "tests/test_storage.py::test_hash_mismatch_is_rejected",
        "tests/test_storage.py::test_entry_claiming_another_model_is_rejected",
        "tests/test_storage.py::test_pickled_arrays_are_refused",
        "tests/test_hosted.py::test_corrupt_cached_models_are_rejected_and_the_page_keeps_working",
    ],
    "drawn or uploaded digits: empty canvas, uniform, 8000x8000, over the upload limit, not an image, "
    "truncated PNG, empty file": [
        "tests/test_digitize.py::test_bad_input_gets_one_clear_sentence",
        "tests/test_digitize.py::test_messages_name_no_paths",
        "tests/test_digitize.py::test_the_upload_limit_is_the_one_streamlit_enforces",
        "tests/test_browser_offline.py::test_bad_uploads_get_a_message_and_the_page_stays_usable",
    ],
    "uploaded digits in unusual formats: 16-bit, CMYK, palette, transparent, animated GIF, EXIF rotation": [
        "tests/test_digitize.py::test_unusual_formats_become_the_same_upright_digit",
    ],
    "missing data gives a clear message": [
        "tests/test_app.py::test_missing_data_gives_a_clear_message",
        "tests/test_app.py::test_without_training_data_the_train_button_says_how_to_get_it",
        "tests/test_data.py::test_a_damaged_shipped_copy_is_refused_with_instructions",
        "tests/test_cli.py::test_missing_data_folder_is_a_clear_error",
        "tests/test_data.py::test_missing_files_say_how_to_fix",
        "tests/test_data.py::test_offline_without_local_files_fails_fast_with_instructions",
    ],
    "training killed midway leaves no partial model": [
        "tests/test_hosted.py::test_training_killed_midway_leaves_no_partial_model",
        "tests/test_storage.py::test_crash_mid_write_leaves_the_old_file_and_no_temporary",
    ],
    "full disk during a cache write: clear error, nothing corrupted": [
        "tests/test_storage.py::test_full_disk_gives_a_clear_error_and_changes_nothing",
    ],
    "safety: no unsafe deserialization, no secrets, XSRF on": [
        "tests/test_hosted.py::test_no_unsafe_deserialization_no_secrets_and_xsrf_on",
    ],
}


def main() -> None:
    node_ids = [test for tests in REQUIREMENTS.values() for test in tests]
    with tempfile.TemporaryDirectory() as tmp:
        junit = Path(tmp) / "junit.xml"
        subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--junitxml={junit}",
                        *node_ids], cwd=ROOT, env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"})
        cases = ET.parse(junit).getroot().iter("testcase")
        results = []
        for case in cases:
            outcome = "failed" if case.find("failure") is not None or case.find("error") is not None else (
                "skipped" if case.find("skipped") is not None else "passed")
            path = case.get("classname", "").replace(".", "/") + ".py"
            results.append((f"{path}::{case.get('name', '').split('[')[0]}", outcome, float(case.get("time", 0))))
    rows = []
    for requirement, tests in REQUIREMENTS.items():
        mine = [r for r in results if r[0] in tests]
        rows.append({"requirement": requirement, "tests": tests, "cases": len(mine),
                     "passed": sum(r[1] == "passed" for r in mine),
                     "failed": sum(r[1] == "failed" for r in mine),
                     "seconds": round(sum(r[2] for r in mine), 1)})
    report("bad_input", {"machine": machine(), "requirements": rows,
                         "cases": sum(r["cases"] for r in rows), "passed": sum(r["passed"] for r in rows)})


if __name__ == "__main__":
    main()
