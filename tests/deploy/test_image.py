"""The container image, built the way deploy/Dockerfile builds it, without a container engine.

The Dockerfile's stages are replayed on the host (tests/deploy/dockerfile.py): its own
``uv sync`` commands install the locked packages into a temporary folder, then every
command the image offers answers ``--help`` from that folder alone. A Dockerfile that no
longer builds, or an entry point that no longer starts, fails here.
"""

import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest

from tests.deploy.dockerfile import Replay, parse, replay

ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
WORKSPACE = tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["uv"]["workspace"]


def makefile_uv_version() -> str:
    found = re.search(r"^UV_VERSION := (\S+)$", (ROOT / "Makefile").read_text(), re.MULTILINE)
    assert found, "the Makefile pins uv's version"
    return found.group(1)


def uv_binary() -> Path:
    """The uv the Makefile installed (make bootstrap), standing for the uv image's."""
    stack = Path(os.environ.get("STACK_DIR", ROOT / ".stack"))
    uv = stack / "uv" / "bin" / "uv"
    assert uv.exists(), f"{uv} is missing: run make bootstrap"
    return uv


def console_scripts() -> list[str]:
    """Every command the workspace's packages install."""
    scripts: list[str] = []
    for member in WORKSPACE["members"]:
        project = tomllib.loads((ROOT / member / "pyproject.toml").read_text())["project"]
        scripts += sorted(project.get("scripts", {}))
    return scripts


@pytest.fixture(scope="module")
def image(tmp_path_factory: pytest.TempPathFactory) -> Replay:
    """The image's file system under a temporary root, built by the Dockerfile's steps."""
    root = tmp_path_factory.mktemp("rootfs")
    (root / "tmp").mkdir()
    uv_image = f"ghcr.io/astral-sh/uv:{makefile_uv_version()}"
    return replay(DOCKERFILE, ROOT, root, {f"{uv_image}:/uv": uv_binary()})


def run(image: Replay, *command: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        list(command),
        cwd=image.workdir,
        env=image.process_env(),
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_image_uses_the_uv_the_makefile_pins() -> None:
    build = parse(DOCKERFILE.read_text())[0]
    sources = [i.args for i in build.all("COPY") if "--from=ghcr.io/astral-sh/uv:" in i.args]
    assert sources == [f"--from=ghcr.io/astral-sh/uv:{makefile_uv_version()} /uv /usr/local/bin/uv"]


def test_the_image_installs_the_lockfile_frozen_without_dev_tools() -> None:
    build = parse(DOCKERFILE.read_text())[0]
    syncs = [i.args for i in build.all("RUN")]
    assert syncs, "the build stage installs something"
    for command in syncs:
        assert command.startswith("uv sync --frozen --no-dev --all-packages"), command


def test_the_runtime_stage_installs_nothing_and_runs_as_a_numeric_non_root_user() -> None:
    stages = parse(DOCKERFILE.read_text())
    runtime = stages[-1]
    assert runtime.base.endswith("-slim-bookworm"), "a slim base: no compilers in it"
    assert runtime.base == stages[0].base, "the venv is built against the same interpreter"
    assert runtime.all("RUN") == [], "nothing is installed (no compiler, no apt) at runtime"
    (user,) = runtime.all("USER")
    uid, _, gid = user.args.partition(":")
    assert uid.isdigit(), "numeric, so runAsNonRoot can check it"
    assert int(uid) > 0
    assert gid.isdigit()
    copies = [i.args for i in runtime.all("COPY")]
    assert copies == ["--from=build /app/.venv /app/.venv"], "only the venv is taken"


def test_the_workspace_is_installed_as_compiled_wheels_not_sources(image: Replay) -> None:
    venv = image.inside("/app/.venv")
    found = run(image, "python", "-c", "import fetcher, timeline_api; print(fetcher.__file__)")
    assert found.returncode == 0, found.stderr
    assert found.stdout.strip().startswith(str(venv)), found.stdout
    compiled = venv.glob("lib/python3*/site-packages/fetcher/__pycache__/app.cpython-*.pyc")
    assert list(compiled), "bytecode is compiled at build"


def test_every_command_of_the_image_answers_help_without_compiling_anything(
    image: Replay,
) -> None:
    venv = image.inside("/app/.venv")
    before = sorted(venv.rglob("*.pyc"))
    commands = [[script] for script in console_scripts()]
    assert {"fetcher", "matcher", "enricher", "timeline-api", "crm-admin"} <= {
        c[0] for c in commands
    }
    for command in list(commands):
        helped = run(image, *command, "--help")
        assert helped.returncode == 0, f"{command}: {helped.stderr}"
        assert "usage:" in helped.stdout, helped.stdout
        # Subcommands (``fetcher worker``, ``crm-admin bootstrap``) answer too.
        choices = re.search(r"\{([\w,-]+)\}", helped.stdout.split("\n\n")[0])
        for sub in choices.group(1).split(",") if choices else []:
            sub_help = run(image, *command, sub, "--help")
            assert sub_help.returncode == 0, f"{command} {sub}: {sub_help.stderr}"
    assert sorted(venv.rglob("*.pyc")) == before, "a command compiled modules at run time"


def test_the_image_starts_the_api_by_default(image: Replay) -> None:
    assert image.cmd == ["timeline-api"]
    assert image.user == "10001:10001"


def test_every_command_the_manifests_run_is_in_the_image(image: Replay) -> None:
    from tests.deploy.manifests import OVERLAYS, Rendered, render

    commands = {
        tuple(container["command"])
        for overlay in OVERLAYS
        for _, container in Rendered(overlay, render(overlay)).containers()
    }
    assert ("fetcher", "worker") in commands
    for command in sorted(commands):
        helped = run(image, *command, "--help")
        assert helped.returncode == 0, f"{command}: {helped.stderr}"
