"""Finding kernel headers for bcc's compiler.

bcc compiles BPF C against kernel headers. Headers matching the running
kernel (``/lib/modules/$(uname -r)/build``) are always preferred. Where none
exist, as on kernels built outside the distribution, Debian's
``linux-headers-*`` packages still compile programs that only use tracepoint
arguments and UAPI types, which is all lineprobe's programs use. bcc wants
them as ONE tree, but Debian splits them in two halves (``-common`` and the
architecture's): we overlay both as a tree of symlinks in a cache folder,
never writing into ``/lib/modules``, and point ``BCC_KERNEL_SOURCE`` at it.
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

DEFAULT_CACHE = Path("/var/cache/lineprobe")


@dataclass(frozen=True)
class KernelHeaders:
    path: Path
    matches_running_kernel: bool
    how: str


class KernelHeadersMissing(RuntimeError):
    pass


def running_release() -> str:
    return os.uname().release


def _debian_header_pairs(src: Path) -> list[tuple[str, Path, Path]]:
    """(version, common half, arch half) for each Debian headers package installed."""
    pairs = []
    for arch_dir in sorted(src.glob("linux-headers-*-amd64")):
        m = re.fullmatch(r"linux-headers-(.+)-amd64", arch_dir.name)
        if not m:
            continue
        common = src / f"linux-headers-{m.group(1)}-common"
        if common.is_dir():
            pairs.append((m.group(1), common, arch_dir))
    return pairs


def _version_key(version: str) -> tuple[int, ...]:
    return tuple(int(x) for x in re.findall(r"\d+", version))


def _merge_tree(common: Path, arch: Path, dest: Path) -> None:
    """Overlay ``arch`` on ``common`` as symlinks in ``dest``, atomically."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=dest.name + ".", dir=dest.parent))
    try:
        for half in (common, arch):
            for root, dirs, files in os.walk(half, followlinks=False):
                rel = Path(root).relative_to(half)
                (staging / rel).mkdir(parents=True, exist_ok=True)
                for name in files + [d for d in dirs if (Path(root) / d).is_symlink()]:
                    target = staging / rel / name
                    if target.is_symlink() or target.exists():
                        target.unlink()
                    source = Path(root) / name
                    # Keep relative symlinks of the package (e.g. scripts -> ../kbuild)
                    # pointing where they pointed.
                    target.symlink_to(source.resolve() if source.is_symlink() else source)
        os.replace(staging, dest)
    except OSError:
        shutil.rmtree(staging, ignore_errors=True)
        if not dest.is_dir():
            raise


def find_kernel_headers(cache_dir: Path | None = None) -> KernelHeaders:
    """Headers bcc should compile against; raises KernelHeadersMissing with a fix."""
    release = running_release()
    explicit = os.environ.get("BCC_KERNEL_SOURCE")
    if explicit and Path(explicit, "include").is_dir():
        return KernelHeaders(Path(explicit), False, "BCC_KERNEL_SOURCE")
    for sub in ("build", "source"):
        candidate = Path("/lib/modules", release, sub)
        if (candidate / "include").is_dir():
            return KernelHeaders(candidate, True, f"/lib/modules/{release}/{sub}")
    pairs = _debian_header_pairs(Path("/usr/src"))
    if not pairs:
        raise KernelHeadersMissing(
            f"no kernel headers for {release}: neither /lib/modules/{release}/build nor "
            "Debian's linux-headers packages under /usr/src"
        )
    version, common, arch = max(pairs, key=lambda p: _version_key(p[0]))
    root = cache_dir or Path(os.environ.get("LINEPROBE_KERNEL_CACHE", DEFAULT_CACHE))
    dest = root / "kernel-source" / f"{version}-amd64"
    if not (dest / "include" / "linux").is_dir():
        _merge_tree(common, arch, dest)
    return KernelHeaders(dest, version.split("-")[0] == release.split("-")[0], f"Debian {version}")


def export_for_bcc(headers: KernelHeaders) -> None:
    """Point bcc at ``headers``; must run before bcc compiles anything."""
    if not headers.how.startswith("/lib/modules"):
        os.environ["BCC_KERNEL_SOURCE"] = str(headers.path)
