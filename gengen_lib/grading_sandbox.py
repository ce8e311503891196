"""The grader's side of a submission's process: start it with limits, talk to it, stand in for its functions.

:class:`Submission` starts ``python -m gengen_lib.grading_worker`` in a fresh session and a
fresh temporary folder, runs the submission's cells there one by one, and hands out
:meth:`Submission.function` proxies. A proxy looks like the student's function to a checker
running in the grader's process: calling it sends the arguments as data, and the student's
process answers with the values its function returned. When the checker's inputs require
gradients, the answer stays attached to them through :class:`_RemoteCall`, whose backward
asks the student's process for the vector-Jacobian product, so the checkers' gradient tests
work unchanged.

Every wait has a deadline: an exercise (or a cell) has a budget of seconds, spent only while
the grader waits for the student's process (the grader's own work between requests is not
counted, so a busy machine does not fail a student). When the student's process runs past
it, dies (``os._exit``, a signal, the memory or CPU limit) or answers nonsense, the whole
session is killed and the proxies raise :class:`Stopped` with a one-line reason;
:meth:`Submission.start`, called again, starts a fresh process for the next exercise,
replaying the cells that ran.
"""

from __future__ import annotations

import inspect
import json
import os
import select
import shutil
import signal
import struct
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

import torch

from . import grading_wire as wire
from . import vae


@dataclass(frozen=True)
class Limits:
    """What one submission's process may use: wall seconds per cell or exercise, memory beyond the
    libraries (bytes), CPU seconds in all, processes (RLIMIT_NPROC: not enforced for root), file size."""

    seconds: float = 60.0
    memory: int = 2 << 30
    cpu: int = 1800
    nproc: int = 256
    fsize: int = 16 << 20
    startup_seconds: float = 120.0


class Stopped(Exception):
    """The student's process is gone or unusable; ``reason`` is one line for the feedback."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


class Submission:
    """One submission's code, running in its own process; ``cells`` are the code cells to run, in order."""

    def __init__(self, cells: list[str], limits: Limits):
        self.cells, self.limits = cells, limits
        self.skipped: dict[int, str] = {}  # cell index -> why it is not run
        self.errors: dict[int, str] = {}  # cell index -> the exception it raised
        self.names: set[str] = set()
        self.process: subprocess.Popen | None = None
        self.folder: str | None = None
        self.budget, self.left = limits.seconds, limits.seconds  # the current allowance, and what is left of it
        self.deadline = 0.0  # when the request under way must end
        self.stop_reason: str | None = None

    # -- the process ------------------------------------------------------------------

    def start(self) -> None:
        """A fresh process that has run every cell not skipped; a cell that hangs or kills it is skipped."""
        while True:
            self._spawn()
            try:
                self._request({"op": "names"})  # the libraries are imported: the limits start now
            except Stopped as stop:
                raise RuntimeError(f"the grader's own worker process did not start: {stop.reason}") from None
            cell = None
            try:
                for cell, code in enumerate(self.cells):
                    if cell in self.skipped:
                        continue
                    self.allow(self.limits.seconds)
                    answer, _ = self._request({"op": "exec", "code": code, "cell": cell})
                    if "error" in answer:
                        self.errors[cell] = str(answer["error"])[:300]
                cell = None
                self.allow(self.limits.seconds)
                self.names = set(self._request({"op": "names"})[0].get("names", []))
                return
            except Stopped as stop:
                if cell is None:  # its cells left something behind that stopped it: nothing to grade
                    self.names = set()
                    return
                self.skipped[cell] = stop.reason

    def _spawn(self) -> None:
        self.kill()
        self.folder = tempfile.mkdtemp(prefix="gengen-grade-")
        env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "HOME": self.folder, "TMPDIR": self.folder,
               "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "GENGEN_QUICK": os.environ.get("GENGEN_QUICK", ""),
               "PYTHONPATH": os.environ.get("PYTHONPATH", ""), "PYTHONDONTWRITEBYTECODE": "1"}  # fmt: skip
        limits = {"memory": self.limits.memory, "cpu": self.limits.cpu, "nproc": self.limits.nproc,
                  "fsize": self.limits.fsize}  # fmt: skip
        self.process = subprocess.Popen(
            [sys.executable, "-m", "gengen_lib.grading_worker", json.dumps(limits)],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
            cwd=self.folder, env=env, start_new_session=True,
        )  # fmt: skip
        os.set_blocking(self.process.stdin.fileno(), False)
        self.stop_reason = None
        self.allow(self.limits.startup_seconds)

    def allow(self, seconds: float) -> None:
        """Give the requests from now on ``seconds`` in all (a cell, or an exercise's calls)."""
        self.budget = self.left = seconds

    def kill(self) -> None:
        """End the process and everything in its session; remove its folder."""
        if self.process is not None:
            _kill_session(self.process.pid)
            self.process.wait()
            for pipe in (self.process.stdin, self.process.stdout):
                try:
                    pipe.close()
                except OSError:
                    pass
            self.process = None
        if self.folder:
            shutil.rmtree(self.folder, ignore_errors=True)
            self.folder = None

    # -- requests ----------------------------------------------------------------------

    def _request(self, header: dict, tensors: dict | None = None) -> tuple[dict, dict]:
        if self.stop_reason is not None:
            raise Stopped(self.stop_reason)
        start = time.monotonic()
        self.deadline = start + self.left
        try:
            return self._exchange(header, tensors)
        finally:
            self.left -= time.monotonic() - start

    def _exchange(self, header: dict, tensors: dict | None) -> tuple[dict, dict]:
        try:
            self._write(wire.pack(header, tensors))
            (size,) = struct.unpack(">Q", self._read(8))
            if size > wire.MAX_HEADER:
                raise wire.WireError("an answer larger than the protocol allows")
            text = self._read(size)
            (size,) = struct.unpack(">Q", self._read(8))
            if size > wire.MAX_BLOB:
                raise wire.WireError("an answer larger than the protocol allows")
            return wire.unpack(text, self._read(size))
        except TimeoutError:
            self._stop(f"ran longer than the {self.budget:g} s limit")
        except (BrokenPipeError, EOFError):
            self._stop(self._death())
        except wire.WireError as error:
            self._stop(f"its process sent {error}")

    def _stop(self, reason: str):
        self.stop_reason = reason
        self.kill()
        raise Stopped(reason)

    def _death(self) -> str:
        """Why the process ended, in one line."""
        try:
            code = self.process.wait(timeout=5)
        except subprocess.TimeoutExpired:
            return "its process closed the connection to the grader"
        if code < 0:
            name = signal.Signals(-code).name
            why = {"SIGKILL": " (the memory or CPU-time limit?)", "SIGXCPU": " (the CPU-time limit)",
                   "SIGSEGV": " (a crash)"}.get(name, "")  # fmt: skip
            return f"its process was killed by {name}{why}"
        return f"its process exited with status {code} (os._exit or a crash)"

    def _write(self, data: bytes) -> None:
        fd, view = self.process.stdin.fileno(), memoryview(data)
        while view:
            left = self.deadline - time.monotonic()
            if left <= 0 or not select.select([], [fd], [], left)[1]:
                raise TimeoutError
            try:
                view = view[os.write(fd, view[: 1 << 20]) :]
            except BlockingIOError:
                continue

    def _read(self, n: int) -> bytes:
        fd, chunks, left = self.process.stdout.fileno(), [], n
        while left:
            wait = self.deadline - time.monotonic()
            if wait <= 0 or not select.select([fd], [], [], wait)[0]:
                raise TimeoutError
            chunk = os.read(fd, min(left, 1 << 20))
            if not chunk:
                raise EOFError
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)

    # -- the student's functions -----------------------------------------------------------

    def function(self, name: str):
        """A stand-in for the student's function ``name``, callable by a checker in this process."""

        def proxy(*args):
            return self.call(name, args)

        proxy.__name__ = name
        return proxy

    def call(self, name: str, args: tuple):
        encoder = _ArgumentEncoder()
        trees = [encoder.argument(a, i) for i, a in enumerate(args)]
        leaves = list(encoder.tensors.items())
        grad_keys = [k for k, t in leaves if t.requires_grad and t.is_floating_point()] if torch.is_grad_enabled() \
            else []  # fmt: skip
        request = {"op": "call", "name": name, "args": trees, "requires_grad": grad_keys}
        if not grad_keys:
            return self._finish_call(request, encoder, {k: t.detach() for k, t in leaves})[0]
        holder = {}
        outputs = _RemoteCall.apply(self, request, encoder, holder, grad_keys, *[t for _, t in leaves])
        return _rebuild(holder["tree"], dict(zip(holder["keys"], outputs, strict=False)))

    def _finish_call(self, request: dict, encoder: _ArgumentEncoder, tensors: dict) -> tuple:
        answer, out = self._request(request, tensors)
        if "error" in answer:
            raise _student_exception(answer)
        for mirror, state in zip(encoder.mirrors, answer.get("mirrors", []), strict=False):
            _write_back(mirror, state, out)
        return wire.decode(answer["out"], out), answer, out

    def backward(self, call: int, grad_outputs: dict[str, torch.Tensor]) -> list[torch.Tensor | None]:
        encoder = wire.Encoder()
        keys = {k: encoder.tensor(g)["tensor"] for k, g in grad_outputs.items()}
        answer, out = self._request({"op": "backward", "call": call, "grad_outputs": keys}, encoder.tensors)
        if "error" in answer:
            raise RuntimeError(str(answer["error"])[:200])
        return [None if k is None else out[k] for k in answer["grads"]]


class _RemoteCall(torch.autograd.Function):
    """A student's function as one autograd node: forward asks for values, backward for gradients."""

    @staticmethod
    def forward(ctx, submission, request, encoder, holder, grad_keys, *leaves):
        tensors = dict(zip(encoder.tensors, leaves, strict=True))
        value, answer, out = submission._finish_call(request, encoder, tensors)
        keys = wire.tensor_keys(answer["out"])
        holder.update(tree=answer["out"], keys=keys)
        outputs = [out[k] for k in keys]
        differentiable = set(answer.get("requires_grad", [])) if answer.get("call") else set()
        dummy = torch.zeros(())
        ctx.mark_non_differentiable(dummy, *[o for k, o in zip(keys, outputs, strict=True) if k not in differentiable])
        ctx.submission, ctx.call, ctx.keys, ctx.differentiable = submission, answer.get("call"), keys, differentiable
        ctx.inputs = [(k in grad_keys, t.dtype) for k, t in tensors.items()]
        return (*outputs, dummy)

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, *grads):
        wanted = {k: g for k, g in zip(ctx.keys, grads, strict=False) if k in ctx.differentiable and g is not None}
        result = ctx.submission.backward(ctx.call, wanted) if wanted and ctx.call else []
        it = iter(result)
        per_input = []
        for needs, dtype in ctx.inputs:
            g = next(it, None) if needs else None
            per_input.append(None if g is None else g.to(dtype))
        return (None, None, None, None, None, *per_input)


class _ArgumentEncoder(wire.Encoder):
    """The grader's arguments: shared kinds, library functions, plain library objects, a VAE and its Adam."""

    def __init__(self) -> None:
        super().__init__()
        self.mirrors: list = []

    def argument(self, value, position: int):
        if isinstance(value, vae.VAE):
            self.mirrors.append(value)
            params = list(value.parameters())
            return {"vae": {"z_dim": value.z_dim, "hidden": value.encoder[0].out_features,
                            "params": [self.tensor(p.detach())["tensor"] for p in params],
                            "grads": [None if p.grad is None else self.tensor(p.grad.detach())["tensor"]
                                      for p in params]}}  # fmt: skip
        if isinstance(value, torch.optim.Adam):
            return self.adam(value)
        if (name := wire.library_name(value)) is not None:
            return {"function": name}
        if type(value).__module__.startswith("gengen_lib.") and not callable(getattr(value, "forward", None)) \
                and all(isinstance(v, torch.Tensor | int | float) for v in vars(value).values()):  # fmt: skip
            cls = type(value)
            return {"object": {"class": f"{cls.__module__}:{cls.__qualname__}",
                               "attrs": {k: self.encode(v) for k, v in vars(value).items()}}}  # fmt: skip
        tree = self.encode(value)
        if "opaque" in tree:
            raise TypeError(f"the grader cannot pass {type(value).__name__} to a submitted function")
        return tree

    def adam(self, optimizer: torch.optim.Adam) -> dict:
        models = [m for m in self.mirrors if isinstance(m, torch.nn.Module)]
        params = optimizer.param_groups[0]["params"] if len(optimizer.param_groups) == 1 else None
        model = next((i for i, m in enumerate(models) if params is not None and
                      [id(p) for p in m.parameters()] == [id(p) for p in params]), None)  # fmt: skip
        if model is None:
            raise TypeError("the grader can pass an Adam optimiser only after the model whose parameters it holds")
        accepted = inspect.signature(torch.optim.Adam).parameters
        hyper = {k: (list(v) if isinstance(v, tuple) else v) for k, v in optimizer.param_groups[0].items()
                 if k in accepted and k != "params"}  # fmt: skip
        state = [{k: self.tensor(v.detach())["tensor"] for k, v in optimizer.state.get(p, {}).items()
                  if torch.is_tensor(v)} for p in params]  # fmt: skip
        self.mirrors.append(optimizer)
        return {"adam": {"model": self.mirrors.index(models[model]), "hyper": hyper, "state": state}}


def _write_back(mirror, state: dict, tensors: dict) -> None:
    """Copy a mirrored model's parameters and gradients, or an optimiser's state, from the student's process."""
    if not isinstance(state, dict):
        raise wire.WireError("a malformed model state")
    if isinstance(mirror, torch.nn.Module):
        params = list(mirror.parameters())
        keys, grads = state.get("params", []), state.get("grads", [])
        if len(keys) != len(params) or len(grads) != len(params):
            raise ValueError("the model came back with a different number of parameters")
        with torch.no_grad():
            for p, key, grad in zip(params, keys, grads, strict=True):
                p.copy_(_same_shape(tensors[key], p))
                p.grad = None if grad is None else _same_shape(tensors[grad], p).clone()
        return
    params = mirror.param_groups[0]["params"]
    states = state.get("state", [])
    if len(states) != len(params):
        raise ValueError("the optimiser came back with a different number of parameters")
    for p, entries in zip(params, states, strict=True):
        slot = mirror.state[p]
        for name, key in entries.items():
            if name in ("step", "exp_avg", "exp_avg_sq", "max_exp_avg_sq"):
                reference = slot.get(name, p if name != "step" else torch.zeros(()))
                slot[name] = _same_shape(tensors[key], reference).clone()


def _same_shape(value: torch.Tensor, like: torch.Tensor) -> torch.Tensor:
    if value.shape != like.shape:
        raise ValueError(f"a tensor came back with shape {tuple(value.shape)} instead of {tuple(like.shape)}")
    return value.to(like.dtype)


def _rebuild(tree, tensors: dict):
    return wire.decode(tree, tensors)


def _student_exception(answer: dict) -> Exception:
    """The student's exception as the checker should see it: same class name, same message."""
    name = str(answer.get("type", "Exception"))
    name = name if name.isidentifier() else "Exception"
    message = str(answer.get("error", ""))
    message = message.split(": ", 1)[1] if message.startswith(name + ": ") else ("" if message == name else message)
    return type(name, (Exception,), {})(message)


def _kill_session(pid: int) -> None:
    """SIGKILL every process whose session is ``pid`` (the worker and whatever it forked)."""
    targets = [pid]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(fields[3]) == pid:  # field 6 of stat: the session id
                targets.append(int(entry))
    for target in targets:
        try:
            os.kill(target, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass
