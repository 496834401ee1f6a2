"""Runs a Dockerfile's build outside a container, so a test can prove its steps still work.

There is no container engine on these machines. The stages are replayed on the host under
a root folder: every absolute path of the image (``/app/.venv``, ``/src``) becomes the same
path under that folder, ``COPY`` copies from the build context (minus ``.dockerignore``'s
``**/`` patterns), ``ENV`` and ``WORKDIR`` apply, and ``RUN`` runs the same command with
bash. Only what this project's Dockerfile uses is understood; anything else fails loudly,
so a new instruction is noticed rather than skipped.
"""

import fnmatch
import os
import re
import shlex
import shutil
import subprocess
from dataclasses import dataclass, field
from pathlib import Path


@dataclass(frozen=True)
class Instruction:
    """One instruction: its keyword (upper case) and the rest of its line."""

    keyword: str
    args: str


@dataclass
class Stage:
    """A ``FROM ... AS name`` block."""

    base: str
    name: str
    instructions: list[Instruction] = field(default_factory=list)

    def all(self, keyword: str) -> list[Instruction]:
        """The stage's instructions of one keyword, in order."""
        return [i for i in self.instructions if i.keyword == keyword]


def parse(text: str) -> list[Stage]:
    """The stages of a Dockerfile, ``ARG`` defaults substituted into ``FROM``."""
    joined = re.sub(r"\\\n", " ", text)
    args: dict[str, str] = {}
    stages: list[Stage] = []
    for raw in joined.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        keyword, _, rest = line.partition(" ")
        keyword, rest = keyword.upper(), rest.strip()
        if keyword == "ARG" and not stages:
            name, _, default = rest.partition("=")
            args[name] = default
        elif keyword == "FROM":
            words = rest.split()
            base = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], words[0])
            name = words[2] if len(words) == 3 and words[1].upper() == "AS" else ""
            stages.append(Stage(base, name))
        else:
            stages[-1].instructions.append(Instruction(keyword, rest))
    return stages


def env_pairs(args: str) -> list[tuple[str, str]]:
    """``KEY=value KEY2=value2`` of an ENV instruction."""
    return [tuple(word.split("=", 1)) for word in shlex.split(args)]  # type: ignore[misc]


def copy_args(args: str) -> tuple[str | None, list[str], str]:
    """``--from`` (or None), the sources and the destination of a COPY."""
    words = shlex.split(args)
    source = None
    while words and words[0].startswith("--"):
        flag = words.pop(0)
        if flag.startswith("--from="):
            source = flag.split("=", 1)[1]
        else:
            raise ValueError(f"COPY flag not understood here: {flag}")
    return source, words[:-1], words[-1]


@dataclass
class Replay:
    """Replays stages under ``root``: the image's ``/`` is ``root``."""

    context: Path
    root: Path
    images: dict[str, Path]  # ``COPY --from=<image>``: the image's file -> a host file
    env: dict[str, str] = field(default_factory=dict)
    workdir: Path | None = None
    user: str | None = None
    cmd: list[str] | None = None

    def inside(self, path: str) -> Path:
        """An absolute path of the image, as a path under the root."""
        return self.root / path.lstrip("/")

    def _value(self, raw: str) -> str:
        parts = []
        for part in raw.split(":"):
            if part.startswith("$"):
                name = part.strip("${}")
                parts.append(self.env.get(name, os.environ.get(name, "")))
            elif part.startswith("/"):
                parts.append(str(self.inside(part)))
            else:
                parts.append(part)
        return ":".join(parts)

    def _ignored(self) -> list[str]:
        ignore = self.context / ".dockerignore"
        lines = ignore.read_text().splitlines() if ignore.exists() else []
        return [line[3:] for line in lines if line.startswith("**/")]

    def _copy_from_context(self, sources: list[str], destination: str) -> None:
        target = self.inside(destination) if destination.startswith("/") else None
        if target is None:
            assert self.workdir is not None, "a relative COPY needs a WORKDIR"
            target = self.workdir / destination
        patterns = self._ignored()
        for source in sources:
            path = self.context / source
            if path.is_dir():
                shutil.copytree(
                    path,
                    target,
                    dirs_exist_ok=True,
                    ignore=lambda _, names: [
                        n for n in names if any(fnmatch.fnmatch(n, p) for p in patterns)
                    ],
                )
            else:
                into = target if destination.endswith("/") or len(sources) > 1 else None
                if into is not None:
                    into.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, into / path.name)
                else:
                    target.parent.mkdir(parents=True, exist_ok=True)
                    shutil.copy2(path, target)

    def _copy_from_image(self, image: str, sources: list[str], destination: str) -> None:
        for source in sources:
            host = self.images.get(f"{image}:{source}")
            if host is None:
                raise ValueError(f"no host file stands for {source} of {image}")
            target = self.inside(destination)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.symlink_to(host)

    def run(self, stage: Stage, built: dict[str, "Replay"]) -> None:
        """Apply every instruction of ``stage``; ``built`` holds the earlier stages."""
        for instruction in stage.instructions:
            keyword, args = instruction.keyword, instruction.args
            if keyword == "ENV":
                for key, value in env_pairs(args):
                    self.env[key] = self._value(value)
            elif keyword == "WORKDIR":
                self.workdir = self.inside(args)
                self.workdir.mkdir(parents=True, exist_ok=True)
            elif keyword == "COPY":
                source, sources, destination = copy_args(args)
                if source is None:
                    self._copy_from_context(sources, destination)
                elif source in built:
                    # The same root holds every stage: a path copied to the same path is
                    # already there (a venv is not relocatable, so the paths must match).
                    assert sources == [destination], f"COPY --from={source} moves {sources}"
                else:
                    self._copy_from_image(source, sources, destination)
            elif keyword == "RUN":
                subprocess.run(
                    ["bash", "-euo", "pipefail", "-c", args],
                    cwd=self.workdir,
                    env=self.process_env(),
                    check=True,
                    capture_output=True,
                )
            elif keyword == "USER":
                self.user = args
            elif keyword == "CMD":
                self.cmd = list(shlex.split(args.strip("[]").replace(",", " ")))
            else:
                raise ValueError(f"instruction not understood here: {keyword}")

    def process_env(self) -> dict[str, str]:
        """The environment a process of the image sees (``/usr/local/bin`` first on PATH,
        as in the python images); nothing else of the host leaks in but its PATH."""
        env = {"PATH": os.environ["PATH"], "HOME": str(self.inside("/tmp"))}
        env.update(self.env)
        env["PATH"] = f"{self.inside('/usr/local/bin')}:{env['PATH']}"
        for cache in ("UV_CACHE_DIR", "XDG_CACHE_HOME"):  # uv's cache, as a build cache
            if cache in os.environ:
                env[cache] = os.environ[cache]
        env.setdefault("UV_CACHE_DIR", str(Path.home() / ".cache" / "uv"))
        return env


def replay(dockerfile: Path, context: Path, root: Path, images: dict[str, Path]) -> Replay:
    """Replay every stage of ``dockerfile`` under ``root``; returns the last stage's state."""
    built: dict[str, Replay] = {}
    last: Replay | None = None
    for stage in parse(dockerfile.read_text()):
        last = Replay(context, root, images)
        last.run(stage, built)
        built[stage.name] = last
    assert last is not None, "a Dockerfile without stages"
    return last
