"""The GitHub Action: action.yml's install step run as a runner would, against a checkout."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

import yaml

from rundctl import __version__

ROOT = Path(__file__).resolve().parent.parent


def _checkout(target: Path) -> Path:
    """The files a clone of the repository has (what the runner checks out at the ref)."""
    listed = subprocess.run(["git", "ls-files", "-co", "--exclude-standard"], cwd=ROOT,
                            capture_output=True, text=True, check=True).stdout.split()
    for name in listed:
        source = ROOT / name
        if source.is_file():
            (target / name).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, target / name)
    return target


def _expand(text: str, inputs: dict[str, str]) -> str:
    """GitHub's ${{ inputs.x }} expressions, as the runner substitutes them."""
    return re.sub(r"\$\{\{\s*inputs\.([\w-]+)\s*\}\}", lambda m: inputs.get(m.group(1), ""),
                  text)


def test_action_yml_is_a_composite_action_with_documented_inputs() -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    assert action["runs"]["using"] == "composite"
    assert {"python-version", "endpoint", "auth", "flow", "profile", "env"} <= set(action["inputs"])
    assert all("description" in spec for spec in action["inputs"].values())
    run_steps = [s for s in action["runs"]["steps"] if "run" in s]
    assert run_steps and all(s.get("shell") == "bash" for s in run_steps)


def test_the_install_step_puts_a_working_rundctl_on_path(tmp_path: Path) -> None:
    action = yaml.safe_load((ROOT / "action.yml").read_text())
    inputs = {name: spec.get("default", "") for name, spec in action["inputs"].items()}
    inputs.update({"endpoint": "sandbox", "auth": "none", "env": "RUNDCTL_OUTPUT=json\n# c"})
    checkout = _checkout(tmp_path / "action")
    files = {name: tmp_path / name for name in ("path", "env", "output")}
    for path in files.values():
        path.write_text("")
    runner = {**os.environ, "GITHUB_ACTION_PATH": str(checkout), "RUNNER_TEMP": str(tmp_path),
              "RUNNER_OS": "Linux", "GITHUB_PATH": str(files["path"]),
              "GITHUB_ENV": str(files["env"]), "GITHUB_OUTPUT": str(files["output"]),
              "GITHUB_ACTIONS": "true"}
    for step in action["runs"]["steps"]:
        if "run" not in step:
            continue  # actions/setup-python: only with the python-version input
        env = {**runner, **{k: _expand(str(v), inputs) for k, v in step.get("env", {}).items()}}
        proc = subprocess.run(["bash", "-c", _expand(step["run"], inputs)], env=env,
                              capture_output=True, text=True, timeout=300, cwd=tmp_path)
        assert proc.returncode == 0, proc.stderr
    added = files["path"].read_text().split()
    assert added == [str(tmp_path / "rundctl-venv" / "bin")]
    later = {**os.environ, "PATH": os.pathsep.join([*added, "/usr/bin", "/bin"])}
    version = subprocess.run(["rundctl", "--version"], env=later, capture_output=True, text=True,
                             timeout=60)
    assert version.returncode == 0 and version.stdout.strip() == f"rundctl {__version__}"
    assert shutil.which("rundctl", path=later["PATH"]) == str(Path(added[0]) / "rundctl")
    assert files["env"].read_text().splitlines() == [
        "RUNDCTL_ENDPOINT=sandbox", "RUNDCTL_AUTH=none", "RUNDCTL_OUTPUT=json"]
    assert f"version={__version__}" in files["output"].read_text()


def test_the_readme_install_lines_point_at_real_things() -> None:
    readme = (ROOT / "README.md").read_text()
    assert "uses: OWNER/rundctl@v1" in readme
    assert "pip install" in readme and "git+https://github.com/OWNER/rundctl@" in readme
    assert (ROOT / "action.yml").is_file() and (ROOT / ".github/actions/install.sh").is_file()
    assert "pipx install rundctl" not in readme  # not on a package index
