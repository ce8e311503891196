"""The process that runs ONE submission's code for the grader: ``python -m gengen_lib.grading_worker LIMITS``.

It never grades. It limits itself (memory, CPU time, processes, file size: ``LIMITS`` is a
JSON object from :mod:`gengen_lib.grading_sandbox`), moves the submission's prints away from
the protocol pipe, then answers the grader's requests on stdin/stdout, one frame each
(:mod:`gengen_lib.grading_wire`):

* ``exec``: run one code cell of the submission in its namespace;
* ``names``: the callables the namespace now defines;
* ``call``: call one of them on the grader's inputs and send back what it returned, plus,
  when inputs require gradients, a call id under which the graph is kept;
* ``backward``: the gradients of a kept call's outputs (weighted by the grader's
  ``grad_outputs``) with respect to its inputs.

Everything it sends is data; what it computes is trusted by nobody. An exception in the
submission's code (``SystemExit`` included) becomes an ``error`` answer with its one-line text.
"""

from __future__ import annotations

import collections
import json
import os
import resource
import signal
import struct
import sys

import torch

from . import grading_wire as wire
from . import vae
from .grading_seccomp import forbid_new_processes

KEPT_CALLS = 256  # graphs kept for backward requests, most recent first


class Worker:
    def __init__(self, proto_in, proto_out) -> None:
        self.proto_in, self.proto_out = proto_in, proto_out
        self.namespace: dict = {"__name__": "__main__"}
        self.calls: collections.OrderedDict[int, tuple[list, list]] = collections.OrderedDict()
        self.next_call = 0

    def serve(self) -> None:
        while True:
            header = self.proto_in.read(8)
            if len(header) < 8:
                return
            text = self.proto_in.read(struct.unpack(">Q", header)[0])
            blob = self.proto_in.read(struct.unpack(">Q", self.proto_in.read(8))[0])
            request, tensors = wire.unpack(text, blob)
            try:
                answer, out_tensors = getattr(self, "op_" + request["op"])(request, tensors)
            except BaseException as error:  # the submission's exceptions, SystemExit included
                answer, out_tensors = {"error": _one_line(error), "type": type(error).__name__[:60]}, {}
            self.send(answer, out_tensors)

    def send(self, answer: dict, tensors: dict) -> None:
        try:
            frame = wire.pack(answer, tensors)
        except Exception as error:
            frame = wire.pack({"error": f"its result could not be sent ({_one_line(error)})", "type": "TypeError"})
        self.proto_out.write(frame)
        self.proto_out.flush()

    def op_exec(self, request: dict, tensors: dict) -> tuple[dict, dict]:
        exec(compile(request["code"], f"<cell {request['cell']}>", "exec"), self.namespace)  # noqa: S102
        return {"ok": True}, {}

    def op_names(self, request: dict, tensors: dict) -> tuple[dict, dict]:
        return {"names": sorted(k for k, v in list(self.namespace.items()) if callable(v) and isinstance(k, str))}, {}

    def op_call(self, request: dict, tensors: dict) -> tuple[dict, dict]:
        fn = self.namespace.get(request["name"])
        if not callable(fn):
            raise NameError(f"{request['name']} is not defined")
        for key in request["requires_grad"]:
            tensors[key] = tensors[key].requires_grad_(True)
        mirrors: list = []
        args = [_decode_argument(tree, tensors, mirrors) for tree in request["args"]]
        inputs = [tensors[key] for key in request["requires_grad"]]
        with torch.enable_grad():
            out = fn(*args)
        encoder = wire.Encoder()
        tree = encoder.encode(out)
        answer = {"out": tree, "mirrors": [_read_back(m, encoder) for m in mirrors]}
        outputs = {k: t for k, t in encoder.tensors.items() if t.requires_grad and t.is_floating_point()}
        answer["requires_grad"] = sorted(outputs)
        if inputs and outputs:
            self.next_call += 1
            self.calls[self.next_call] = (inputs, request["requires_grad"], outputs)
            while len(self.calls) > KEPT_CALLS:
                self.calls.popitem(last=False)
            answer["call"] = self.next_call
        return answer, encoder.tensors

    def op_backward(self, request: dict, tensors: dict) -> tuple[dict, dict]:
        if request["call"] not in self.calls:
            raise RuntimeError("the graph of that call is no longer kept")
        inputs, keys, outputs = self.calls[request["call"]]
        names = [k for k in outputs if k in request["grad_outputs"]]
        grads = torch.autograd.grad([outputs[k] for k in names], inputs,
                                    [tensors[request["grad_outputs"][k]].to(outputs[k]) for k in names],
                                    allow_unused=True, retain_graph=True)  # fmt: skip
        encoder = wire.Encoder()
        answer = {"grads": [None if g is None else encoder.tensor(g.detach())["tensor"] for g in grads]}
        return answer, encoder.tensors


def _decode_argument(tree, tensors: dict, mirrors: list):
    """The grader's argument: the shared kinds, library functions, plain objects, and mirrored model/optimiser."""
    kind = next(iter(tree)) if isinstance(tree, dict) and len(tree) == 1 else None
    content = tree.get(kind) if kind else None
    if kind == "function":
        return wire.resolve(content)
    if kind == "object":
        cls = wire.resolve(content["class"])
        obj = cls.__new__(cls)
        obj.__dict__.update({k: wire.decode(v, tensors) for k, v in content["attrs"].items()})
        return obj
    if kind == "vae":
        with torch.device("meta"):  # no random initialisation: every parameter is copied in
            model = vae.VAE(content["z_dim"], content["hidden"])
        model = model.to_empty(device="cpu")
        with torch.no_grad():
            for p, key, grad in zip(model.parameters(), content["params"], content["grads"], strict=True):
                p.copy_(tensors[key])
                p.grad = None if grad is None else tensors[grad].clone()
        mirrors.append(model)
        return model
    if kind == "adam":
        model = mirrors[content["model"]]
        optimizer = torch.optim.Adam(model.parameters(), **content["hyper"])
        state = {i: {k: tensors[v] for k, v in s.items()} for i, s in enumerate(content["state"]) if s}
        group = dict(content["hyper"], params=list(range(len(content["state"]))))
        optimizer.load_state_dict({"state": state, "param_groups": [group]})
        mirrors.append(optimizer)
        return optimizer
    return wire.decode(tree, tensors)


def _read_back(mirror, encoder: wire.Encoder) -> dict:
    """A mirrored model's parameters and gradients, or an optimiser's state, after the call."""
    if isinstance(mirror, torch.nn.Module):
        return {"params": [encoder.tensor(p.detach())["tensor"] for p in mirror.parameters()],
                "grads": [None if p.grad is None else encoder.tensor(p.grad.detach())["tensor"]
                          for p in mirror.parameters()]}  # fmt: skip
    params = mirror.param_groups[0]["params"]
    return {"state": [{k: encoder.tensor(v.detach())["tensor"] for k, v in mirror.state.get(p, {}).items()
                       if torch.is_tensor(v)} for p in params]}  # fmt: skip


def _one_line(error: BaseException) -> str:
    lines = str(error).strip().splitlines()
    message = lines[0][:200] if lines else ""
    return f"{type(error).__name__}: {message}" if message else type(error).__name__


def _limit_self(limits: dict) -> None:
    """Lower this process's limits (inherited by anything it starts): memory, CPU, processes, file size."""
    vm_size = int(next(line.split()[1] for line in open("/proc/self/status") if line.startswith("VmSize"))) * 1024
    for name, value in (("RLIMIT_AS", vm_size + limits["memory"]), ("RLIMIT_CPU", limits["cpu"]),
                        ("RLIMIT_NPROC", limits["nproc"]), ("RLIMIT_FSIZE", limits["fsize"]),
                        ("RLIMIT_CORE", 0)):  # fmt: skip
        resource.setrlimit(getattr(resource, name), (value, value))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a file too large is an OSError, not a kill


def _warm_up() -> None:
    """Import what a first optimiser step and a first backward pass import, before the limits apply."""
    model = torch.nn.Linear(2, 1)
    optimizer = torch.optim.Adam(model.parameters())
    model(torch.ones(1, 2)).sum().backward()
    optimizer.step()


def main() -> None:
    limits = json.loads(sys.argv[1])
    proto_in = os.fdopen(os.dup(0), "rb", buffering=0)
    proto_out = os.fdopen(os.dup(1), "wb")
    devnull = os.open(os.devnull, os.O_RDONLY)
    log = os.open("output.txt", os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
    os.dup2(devnull, 0)
    os.dup2(log, 1)
    os.dup2(log, 2)
    sys.stdout = sys.stderr = open(1, "w", closefd=False)
    torch.set_num_threads(1)
    _warm_up()
    _limit_self(limits)
    forbid_new_processes()  # where Linux supports it: no fork or exec, root included
    Worker(_Reader(proto_in), proto_out).serve()


class _Reader:
    """Reads exactly n bytes from an unbuffered pipe (short reads repeated)."""

    def __init__(self, raw) -> None:
        self.raw = raw

    def read(self, n: int) -> bytes:
        chunks, left = [], n
        while left:
            chunk = self.raw.read(min(left, 1 << 20))
            if not chunk:
                break
            chunks.append(chunk)
            left -= len(chunk)
        return b"".join(chunks)


if __name__ == "__main__":
    main()
