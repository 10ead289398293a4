"""The README is the front door: its two commands are the ones that work."""

import re

from conftest import ROOT


def readme_commands() -> list[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Two commands", 1)[1].split("\n## ", 1)[0]
    return [line for block in re.findall(r"```bash\n(.*?)```", section, re.S)
            for line in block.splitlines() if line and not line.startswith("#")]


def test_exactly_two_commands_one_starts_the_demo_one_runs_the_tests():
    demo, tests = readme_commands()
    assert demo.endswith("streamlit run app.py")
    assert tests.endswith("python -m pytest")


def test_ci_runs_the_readmes_test_command_verbatim():
    _, tests = readme_commands()
    ci_lines = (ROOT / ".ci" / "run").read_text().splitlines()
    assert tests in ci_lines


def test_module_table_names_every_module_and_nothing_else():
    text = (ROOT / "README.md").read_text()
    table = text.split("| module | job |", 1)[1].split("\n\n", 1)[0]
    listed = {name for cell in re.findall(r"^\| ([^|]+) \|", table, re.M) for name in re.findall(r"`([^`]+)`", cell)}
    modules = {".".join(p.relative_to(ROOT).with_suffix("").parts) for pkg in ("advdemo", "ui")
               for p in (ROOT / pkg).rglob("*.py") if p.stem != "__init__"}
    layers = {".".join(p.parent.relative_to(ROOT).parts) for p in (ROOT / "advdemo").glob("*/__init__.py")}
    assert listed == modules | layers | {"app.py"}
