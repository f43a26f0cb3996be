"""The production install: the core package needs none of the sandbox's server dependencies.

The sandbox's packages come with the `crm_sync[sandbox]` extra. Each check runs a fresh Python in which those
packages cannot be imported, as in an install without the extra (dagster-webserver happens to bring starlette
and uvicorn along; the core must not lean on that either).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tomllib
from pathlib import Path

from crm_sync.sandbox.extra import INSTALL_HINT, SANDBOX_PACKAGES

ROOT = Path(__file__).resolve().parents[1]

# Every import of a sandbox package is recorded and refused; the script prints what was attempted.
IMPORT_EVERY_CORE_MODULE = """
import importlib, importlib.abc, json, pathlib, sys
BLOCKED = set(sys.argv[1].split(","))
attempts = []

class Refuse(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.partition(".")[0] in BLOCKED:
            attempts.append(name)
            raise ModuleNotFoundError(f"No module named {name!r} (blocked)", name=name)
        return None

sys.meta_path.insert(0, Refuse())
import crm_sync
root = pathlib.Path(crm_sync.__file__).parent
# Found on disk (pkgutil.walk_packages would import the sandbox's subpackages itself and hide the error).
core = [".".join(("crm_sync", *path.relative_to(root).with_suffix("").parts)).removesuffix(".__init__")
        for path in sorted(root.rglob("*.py")) if path.relative_to(root).parts[0] != "sandbox"]
core += ["crm_sync.sandbox.cli", "crm_sync.sandbox.process", "crm_sync.sandbox.extra"]  # what the CLI uses
for name in core:
    importlib.import_module(name)
from crm_sync.definitions import defs
keys = defs.resolve_asset_graph().get_all_asset_keys()
from crm_sync.cli import main
try:
    main(["--help"], standalone_mode=False)
except SystemExit:
    pass
print(json.dumps({"modules": len(core), "assets": len(keys), "attempts": attempts,
                  "loaded": sorted({m.partition(".")[0] for m in sys.modules} & BLOCKED)}))
"""

# The packages are absent as in a real install without the extra (None in sys.modules: import fails and
# importlib.util.find_spec answers None).
START_THE_SANDBOX = """
import json, sys
for name in sys.argv[1].split(","):
    sys.modules[name] = None
from click.testing import CliRunner
from crm_sync.cli import main
from crm_sync.sandbox.extra import SandboxExtraMissing
from crm_sync.sandbox.process import running_sandbox
data = sys.argv[2]
result = CliRunner().invoke(main, ["sandbox", "--data", data + "/cli", "--port", "0"])
try:
    with running_sandbox(data + "/runner"):
        raised = None
except SandboxExtraMissing as exc:
    raised = str(exc)
import os
print(json.dumps({"exit_code": result.exit_code, "output": result.output, "raised": raised,
                  "created": sorted(os.listdir(data))}))
"""


def _run(script: str, *args: str) -> dict:
    completed = subprocess.run([sys.executable, "-W", "ignore", "-c", script, ",".join(SANDBOX_PACKAGES), *args],
                               capture_output=True, text=True, timeout=240, cwd=ROOT)
    assert completed.returncode == 0, completed.stderr[-3000:]
    return json.loads(completed.stdout.strip().splitlines()[-1])


def test_core_package_imports_none_of_the_sandbox_dependencies() -> None:
    outcome = _run(IMPORT_EVERY_CORE_MODULE)
    assert outcome["attempts"] == [] and outcome["loaded"] == []
    assert outcome["modules"] > 50  # the walk really covered the package
    assert outcome["assets"] > 0  # and the Definitions were built


def test_starting_the_sandbox_without_the_extra_names_the_extra(tmp_path: Path) -> None:
    outcome = _run(START_THE_SANDBOX, str(tmp_path))
    assert outcome["exit_code"] == 1
    assert INSTALL_HINT in outcome["output"] and "lark" in outcome["output"]
    assert outcome["raised"] is not None and INSTALL_HINT in outcome["raised"]
    assert outcome["created"] == []  # refused before any directory or process


def test_the_sandbox_packages_are_an_extra_not_core_dependencies() -> None:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]

    def names(requirements: list[str]) -> set[str]:
        return {r.split(">")[0].split("=")[0].split("[")[0].split("<")[0].strip().lower() for r in requirements}

    assert names(project["dependencies"]).isdisjoint(SANDBOX_PACKAGES)
    assert names(project["optional-dependencies"]["sandbox"]) == set(SANDBOX_PACKAGES)
    assert "'.[sandbox,test]'" in (ROOT / "Makefile").read_text()  # `make test` / `make demo` install it
