"""lineprobe's JVMTI agent (``lineprobe_jvmti.c``), compiled on first need for the JDK it serves.

The agent's source ships with lineprobe; it is built against the ``jvmti.h`` of the JDK that
runs the target (``<java.home>/include``, from the ``java`` executable's real path), with the
system's C compiler, into the cache folder (``LINEPROBE_CACHE_DIR``, by default
``~/.cache/lineprobe``), under a name that holds the source's digest: built once per source
and JDK, and built afresh when either changes. What stops a build (no compiler, a JRE without
headers) is said in words; lineprobe then names Java methods from the JVM's perf map alone.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

SOURCE = Path(__file__).with_name("lineprobe_jvmti.c")
CFLAGS = ["-O2", "-g", "-Wall", "-Wextra", "-Werror", "-fPIC", "-shared", "-fstack-protector-strong"]


@dataclass(frozen=True)
class AgentBuild:
    library: Path | None
    problem: str | None = None


def java_home(java: str) -> Path:
    """The JDK of a ``java`` executable, a path or a name on ``PATH``
    (``/usr/lib/jvm/java-17-openjdk-amd64``)."""
    found = java if os.sep in java else shutil.which(java) or java
    return Path(os.path.realpath(found)).parent.parent


def cache_folder() -> Path:
    configured = os.environ.get("LINEPROBE_CACHE_DIR")
    return Path(configured) if configured else Path.home() / ".cache" / "lineprobe"


def built_agent(java: str) -> AgentBuild:
    """The agent built for the JDK of ``java`` (built now if it is not yet)."""
    home = java_home(java)
    include = home / "include"
    if not (include / "jvmti.h").is_file():
        return AgentBuild(None, f"{home} has no include/jvmti.h (a JRE, not a JDK): no Java lines")
    compiler = os.environ.get("CC") or shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        return AgentBuild(None, "no C compiler (cc) to build lineprobe's JVMTI agent: no Java lines")
    source = SOURCE.read_bytes()
    digest = hashlib.sha256(source + str(home).encode()).hexdigest()[:16]
    library = cache_folder() / "jvmti" / f"lineprobe_jvmti-{digest}.so"
    if library.is_file():
        return AgentBuild(library)
    library.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=library.parent) as scratch:
        built = Path(scratch) / library.name
        try:
            done = subprocess.run(
                [compiler, *CFLAGS, f"-I{include}", f"-I{include / 'linux'}", "-o", str(built), str(SOURCE)],
                capture_output=True,
                text=True,
            )
        except OSError as exc:
            return AgentBuild(None, f"lineprobe's JVMTI agent did not build: {compiler}: {exc.strerror}")
        if done.returncode != 0:
            said = done.stderr.strip().splitlines()
            return AgentBuild(
                None, f"lineprobe's JVMTI agent did not build: {said[-1] if said else done.returncode}"
            )
        built.chmod(0o755)  # the JVM loads it as its own user
        os.replace(built, library)
    return AgentBuild(library)
