"""What this kernel and this process allow: the capability report.

Each check looks at the real facility (a file the kernel exposes, or an
attempt that the kernel answers), because advertised features lie here: the
function tracer is listed in ``available_tracers`` but locked down, and bcc's
``support_kfunc()`` says yes where attaching fentry fails with EPERM.
"""

from __future__ import annotations

import ctypes
import errno
import os
from pathlib import Path

from lineprobe_agent.kernel_source import KernelHeadersMissing, export_for_bcc, find_kernel_headers
from lineprobe_agent.protocol import Capability, CapabilityReport

CAP_SYS_ADMIN = 21
CAP_PERFMON = 38
CAP_BPF = 39

TRACEFS_CANDIDATES = (Path("/sys/kernel/tracing"), Path("/sys/kernel/debug/tracing"))


def effective_capabilities() -> int:
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("CapEff:"):
            return int(line.split()[1], 16)
    return 0


def has_tracing_privileges() -> bool:
    caps = effective_capabilities()
    if os.geteuid() == 0 and caps & (1 << CAP_SYS_ADMIN):
        return True
    return bool(caps & (1 << CAP_BPF)) and bool(caps & (1 << CAP_PERFMON))


def tracefs_root() -> Path | None:
    for candidate in TRACEFS_CANDIDATES:
        if (candidate / "events").is_dir():
            return candidate
    return None


def _check_privileges() -> Capability:
    caps = effective_capabilities()
    names = [
        name
        for bit, name in (
            (CAP_SYS_ADMIN, "CAP_SYS_ADMIN"),
            (CAP_PERFMON, "CAP_PERFMON"),
            (CAP_BPF, "CAP_BPF"),
        )
        if caps & (1 << bit)
    ]
    ok = has_tracing_privileges()
    detail = f"euid {os.geteuid()}, effective capabilities: {', '.join(names) or 'none'}"
    if not ok:
        detail += "; run as root or grant CAP_BPF+CAP_PERFMON (and CAP_SYS_ADMIN for uprobes)"
    return Capability("privileges", ok, detail)


def _check_bcc() -> Capability:
    try:
        import bcc
    except ImportError as exc:
        return Capability(
            "bcc",
            False,
            f"cannot import bcc ({exc}); install Debian's python3-bpfcc and run `make setup`",
        )
    version = getattr(bcc, "__version__", "unknown version")
    return Capability("bcc", True, f"bcc {version} from {Path(bcc.__file__).parent}")


def _check_headers() -> Capability:
    try:
        headers = find_kernel_headers()
    except (KernelHeadersMissing, OSError) as exc:
        return Capability("kernel-headers", False, f"{exc}; install linux-headers-amd64")
    note = (
        "match the running kernel"
        if headers.matches_running_kernel
        else ("do NOT match the running kernel: only tracepoint arguments and UAPI types are safe")
    )
    return Capability("kernel-headers", True, f"{headers.path} ({headers.how}); {note}")


def _check_tracefs() -> Capability:
    root = tracefs_root()
    if root is None:
        return Capability(
            "tracefs",
            False,
            "tracefs is not mounted: `mount -t tracefs nodev /sys/kernel/tracing` "
            "(tracepoints, uprobes and USDT need it)",
        )
    return Capability("tracefs", True, f"mounted at {root}")


def _check_kprobes() -> Capability:
    root = tracefs_root()
    if root is not None and (root / "kprobe_events").exists():
        return Capability("kprobes", True, f"{root}/kprobe_events exists")
    if Path("/sys/bus/event_source/devices/kprobe").exists():
        return Capability("kprobes", True, "kprobe PMU present")
    return Capability(
        "kprobes",
        False,
        "kernel built without CONFIG_KPROBES: no kprobe_events and no kprobe PMU; "
        "lineprobe uses tracepoints instead",
    )


def _check_uprobes() -> Capability:
    if Path("/sys/bus/event_source/devices/uprobe").exists():
        return Capability("uprobes", True, "uprobe PMU present (fd-owned probes)")
    return Capability("uprobes", False, "no uprobe PMU: user-space probes and USDT unavailable")


def _check_perf_events() -> Capability:
    paranoid = Path("/proc/sys/kernel/perf_event_paranoid")
    level = paranoid.read_text().strip() if paranoid.exists() else "unknown"
    ok = Path("/sys/bus/event_source/devices/software").exists()
    return Capability(
        "perf-events", ok, f"software PMU {'present' if ok else 'absent'}; perf_event_paranoid={level}"
    )


def _check_btf() -> Capability:
    btf = Path("/sys/kernel/btf/vmlinux")
    if btf.exists():
        return Capability("btf", True, f"{btf} ({btf.stat().st_size // 1024} KiB)")
    return Capability("btf", False, "no /sys/kernel/btf/vmlinux: kernel struct offsets unknown")


def _check_function_tracer() -> Capability:
    root = tracefs_root()
    if root is None:
        return Capability("function-tracer", False, "tracefs not mounted")
    tracers = (
        (root / "available_tracers").read_text().split() if (root / "available_tracers").exists() else []
    )
    if "function" not in tracers:
        return Capability("function-tracer", False, "not built into this kernel")
    # Opening the filter file for append changes nothing; a locked-down kernel refuses it.
    try:
        fd = os.open(root / "set_ftrace_filter", os.O_WRONLY | os.O_APPEND)
        os.close(fd)
    except OSError as exc:
        reason = "refused (kernel lockdown)" if exc.errno == errno.EPERM else os.strerror(exc.errno or 0)
        return Capability("function-tracer", False, f"listed in available_tracers but {reason}")
    return Capability("function-tracer", True, "control files writable")


_KFUNC_PROBE = """
KFUNC_PROBE(do_sys_openat2)
{
    return 0;
}
"""


def _check_kfunc(bcc_ok: bool, headers_ok: bool) -> Capability:
    """Tries to attach an fentry program: bcc's own support_kfunc() is wrong on lockdown."""
    if not (bcc_ok and headers_ok and has_tracing_privileges()):
        return Capability("kfunc", False, "not checked: needs bcc, kernel headers and privileges")
    try:
        export_for_bcc(find_kernel_headers())
        from bcc import BPF
    except (ImportError, KernelHeadersMissing, OSError) as exc:
        return Capability("kfunc", False, f"not checked: {exc}")
    try:
        program = BPF(text=_KFUNC_PROBE.encode())
    except Exception as exc:  # bcc raises bare Exception for load and attach failures
        err = ctypes.get_errno()
        reason = os.strerror(err) if err else str(exc).splitlines()[0]
        return Capability("kfunc", False, f"fentry attach refused ({reason}); using tracepoints instead")
    program.cleanup()
    return Capability("kfunc", True, "fentry/fexit attach works")


def capability_report() -> CapabilityReport:
    bcc_cap = _check_bcc()
    headers_cap = _check_headers()
    caps = [
        _check_privileges(),
        bcc_cap,
        headers_cap,
        _check_perf_events(),
        _check_tracefs(),
        _check_uprobes(),
        _check_kprobes(),
        _check_kfunc(bcc_cap.available, headers_cap.available),
        _check_function_tracer(),
        _check_btf(),
    ]
    by_name = {c.name: c for c in caps}
    works: list[str] = []
    missing: list[str] = []
    base = ("privileges", "bcc", "kernel-headers")
    features = (
        ("CPU profiling (perf-event sampling with user and kernel stacks)", (*base, "perf-events")),
        ("system calls and block I/O (raw_syscalls and block tracepoints)", (*base, "tracefs")),
        ("heap leak tracking (uprobes on the C library's allocators)", (*base, "uprobes")),
    )
    for feature, needs in features:
        blockers = [n for n in needs if not by_name[n].available]
        if blockers:
            missing.append(f"{feature}: missing {', '.join(blockers)}")
        else:
            works.append(feature)
    works.append("resolving addresses to functions and source lines (no privileges needed)")
    for name in ("kprobes", "kfunc", "function-tracer"):
        if not by_name[name].available:
            missing.append(f"{name}: {by_name[name].detail}")
    return CapabilityReport(
        kernel_release=os.uname().release,
        capabilities=caps,
        works=works,
        missing=missing,
    )
