"""Forbid a process, for good, to start other processes or programs: a seccomp filter (Linux, x86-64 and arm64).

After :func:`forbid_new_processes`, ``fork``, ``vfork``, ``execve``, ``execveat`` and a ``clone``
without ``CLONE_THREAD`` fail with EPERM (Python raises ``PermissionError``), and ``clone3``
fails with ENOSYS so that the C library falls back to ``clone`` for threads, which stay
allowed. Unlike ``RLIMIT_NPROC``, this holds for root too. Syscalls of another ABI (32-bit,
x32) are refused. The filter cannot be removed and is inherited by threads.
"""

from __future__ import annotations

import ctypes
import errno
import platform
import struct

_ARCHES = {  # machine -> (AUDIT_ARCH, {syscall: number})
    "x86_64": (0xC000003E, {"clone": 56, "fork": 57, "vfork": 58, "execve": 59, "execveat": 322, "clone3": 435}),
    "aarch64": (0xC00000B7, {"clone": 220, "execve": 221, "execveat": 281, "clone3": 435}),
}
_LD, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06  # BPF_LD|W|ABS, JMP|JEQ|K, JMP|JGE|K, JMP|JSET|K, RET|K
_ALLOW, _ERRNO = 0x7FFF0000, 0x00050000
_CLONE_THREAD = 0x00010000
_PR_SET_NO_NEW_PRIVS, _PR_SET_SECCOMP, _SECCOMP_MODE_FILTER = 38, 22, 2


def _program(arch: int, numbers: dict[str, int]) -> list[tuple[int, int, int, int]]:
    """The BPF instructions (code, jump if true, jump if false, k); jumps count instructions skipped."""
    deny, no_clone3 = _ERRNO | errno.EPERM, _ERRNO | errno.ENOSYS
    denied = [numbers[n] for n in ("fork", "vfork", "execve", "execveat") if n in numbers]
    code = [(_LD, 0, 0, 4), (_JEQ, 1, 0, arch), (_RET, 0, 0, deny), (_LD, 0, 0, 0),
            (_JGE, 0, 1, 0x40000000), (_RET, 0, 0, deny)]  # fmt: skip
    for number in denied:
        code += [(_JEQ, 0, 1, number), (_RET, 0, 0, deny)]
    code += [(_JEQ, 0, 1, numbers["clone3"]), (_RET, 0, 0, no_clone3),
             (_JEQ, 1, 0, numbers["clone"]), (_RET, 0, 0, _ALLOW),
             (_LD, 0, 0, 16), (_JSET, 0, 1, _CLONE_THREAD), (_RET, 0, 0, _ALLOW), (_RET, 0, 0, deny)]  # fmt: skip
    return code


def forbid_new_processes() -> bool:
    """Install the filter on this process; False (and nothing changed) where it is not supported."""
    machine = platform.machine()
    if machine not in _ARCHES or platform.system() != "Linux":
        return False
    arch, numbers = _ARCHES[machine]
    instructions = _program(arch, numbers)
    buffer = ctypes.create_string_buffer(b"".join(struct.pack("HBBI", *i) for i in instructions))

    class Program(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    program = Program(len(instructions), ctypes.addressof(buffer))
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl.argtypes = [ctypes.c_int, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong, ctypes.c_ulong]
    if libc.prctl(_PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        return False
    return libc.prctl(_PR_SET_SECCOMP, _SECCOMP_MODE_FILTER, ctypes.addressof(program), 0, 0) == 0
