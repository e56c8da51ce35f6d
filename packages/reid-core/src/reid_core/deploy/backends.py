"""Inference backends: each runs one model's graph on float images ``[B, 3, H, W]`` in [0, 1].

Every backend has the same call: ``backend(images, camids=None) -> features`` with numpy float32
in and out. The normalization is inside the graph (see :mod:`reid_core.export`), and camera-aware
models take int64 ``camids``. The PyTorch backend runs the module; the others run an exported file.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from ..errors import ReidError

BACKENDS = ("torch", "onnxruntime", "openvino", "tensorrt")
PRECISIONS = ("fp32", "fp16", "int8")
#: the extra that installs each optional backend
EXTRAS = {"onnxruntime": "onnx", "openvino": "openvino", "tensorrt": "tensorrt"}


class BackendError(ReidError):
    """A backend that is not installed, cannot run here, or cannot run the model as asked."""


def require(module: str, backend: str) -> Any:
    """Import an optional backend's package, or say which extra installs it."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise BackendError(
            f'backend {backend!r} needs the package {module}: pip install "reid-core[{EXTRAS[backend]}]"'
        ) from e


def available(backend: str) -> bool:
    """Whether ``backend``'s package imports here (TensorRT also needs a GPU)."""
    modules = {"torch": "torch", "onnxruntime": "onnxruntime", "openvino": "openvino", "tensorrt": "tensorrt"}
    try:
        __import__(modules[backend])
    except ImportError:
        return False
    return backend != "tensorrt" or torch.cuda.is_available()


class TorchBackend:
    """The PyTorch module itself: channels_last on every device, fp16 autocast on CUDA."""

    name = "torch"

    def __init__(self, model: nn.Module, device: torch.device, precision: str = "fp32") -> None:
        if precision == "int8":
            raise BackendError("backend 'torch' has no int8 path: use backend='onnxruntime' or 'openvino'")
        if precision == "fp16" and device.type != "cuda":
            raise BackendError("backend 'torch' runs fp16 on CUDA only; on the CPU use backend='openvino' "
                               "(bf16 where the CPU has it) or precision='fp32'")
        self.model = model.eval().to(device)
        # channels_last is the faster convolution layout on CPUs too (oneDNN), and changes no value
        self.model.to(memory_format=torch.channels_last)
        self.device = device
        self.precision = precision
        self.camera_aware = bool(getattr(getattr(model, "meta", None), "camera_aware", False))

    @torch.no_grad()
    def __call__(self, images: np.ndarray, camids: np.ndarray | None = None) -> np.ndarray:
        x = torch.from_numpy(images).to(self.device).contiguous(memory_format=torch.channels_last)
        kwargs = {"camids": torch.from_numpy(camids).to(self.device)} if self.camera_aware else {}
        with torch.autocast(self.device.type, dtype=torch.float16, enabled=self.precision == "fp16"):
            out = self.model(x, **kwargs)
        return out.float().cpu().numpy()


class OnnxRuntimeBackend:
    """An ONNX file run by ONNX Runtime (CPU, or CUDA when the GPU build is installed)."""

    name = "onnxruntime"

    def __init__(self, path: str | os.PathLike, device: torch.device, threads: int | None = None) -> None:
        ort = require("onnxruntime", "onnxruntime")
        options = ort.SessionOptions()
        options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
        options.intra_op_num_threads = threads or torch.get_num_threads()
        providers = ["CPUExecutionProvider"]
        if device.type == "cuda":
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise BackendError("onnxruntime here has no CUDA provider: pip install onnxruntime-gpu, or device='cpu'")
            providers.insert(0, ("CUDAExecutionProvider", {"device_id": device.index or 0}))
        self.session = ort.InferenceSession(str(path), options, providers=providers)
        self.inputs = [i.name for i in self.session.get_inputs()]

    def __call__(self, images: np.ndarray, camids: np.ndarray | None = None) -> np.ndarray:
        feeds = {"images": images}
        if "camids" in self.inputs:
            feeds["camids"] = camids.astype(np.int64)
        return self.session.run(None, feeds)[0]


class OpenVINOBackend:
    """An ONNX file compiled by OpenVINO for the CPU (bf16 when asked for fp16 on a CPU that has it)."""

    name = "openvino"

    def __init__(self, path: str | os.PathLike, precision: str = "fp32", threads: int | None = None) -> None:
        ov = require("openvino", "openvino")
        core = ov.Core()
        config: dict[str, Any] = {"INFERENCE_NUM_THREADS": threads or torch.get_num_threads()}
        if precision == "fp32":
            # OpenVINO may lower f32 to bf16 on CPUs that have it: keep the exported precision
            config["INFERENCE_PRECISION_HINT"] = "f32"
        elif precision == "fp16":
            caps = core.get_property("CPU", "OPTIMIZATION_CAPABILITIES")
            config["INFERENCE_PRECISION_HINT"] = "bf16" if "BF16" in caps else ("f16" if "FP16" in caps else "f32")
        self.precision_hint = config.get("INFERENCE_PRECISION_HINT", "int8 graph")
        with keep_signal_stack():
            self.compiled = core.compile_model(str(path), "CPU", config)
            self.request = self.compiled.create_infer_request()
        self.inputs = [p.get_any_name() for p in self.compiled.inputs]

    def __call__(self, images: np.ndarray, camids: np.ndarray | None = None) -> np.ndarray:
        feeds = {"images": images}
        if "camids" in self.inputs:
            feeds["camids"] = camids.astype(np.int64)
        result = self.request.infer(feeds)
        return np.asarray(result[self.compiled.outputs[0]], dtype=np.float32)

    def __del__(self) -> None:
        try:
            with keep_signal_stack():
                self.__dict__.pop("request", None)
                self.__dict__.pop("compiled", None)
        except Exception:  # at interpreter exit this module's globals may be gone already
            pass


class _StackT(ctypes.Structure):
    # Linux's stack_t (other systems order the fields differently)
    _fields_ = [("ss_sp", ctypes.c_void_p), ("ss_flags", ctypes.c_int), ("ss_size", ctypes.c_size_t)]


@contextlib.contextmanager
def keep_signal_stack() -> Iterator[None]:
    """Give the calling thread back its own alternate signal stack (``sigaltstack``) afterwards.

    OpenVINO's CPU plugin points the thread that compiles a model at a signal stack of its own,
    and when the model is freed, back at the one it saw then. Two models freed in the order they
    were made leave the thread pointing at unmapped memory, and the next signal handled there (a
    DataLoader worker's SIGCHLD, Ctrl-C) kills the process with SIGSEGV. Linux only; elsewhere
    this does nothing.
    """
    if not sys.platform.startswith("linux"):
        yield
        return
    libc = ctypes.CDLL(None, use_errno=True)
    own = _StackT()
    if libc.sigaltstack(None, ctypes.byref(own)) != 0:
        yield
        return
    try:
        yield
    finally:
        if own.ss_sp is None:  # none before: turn off whatever was set
            own.ss_flags = 2  # SS_DISABLE
        libc.sigaltstack(ctypes.byref(own), None)


class TensorRTBackend:
    """A TensorRT engine built from the ONNX file, with a dynamic-batch optimization profile.

    Inputs and outputs stay torch CUDA tensors; TensorRT reads and writes them in place.
    """

    name = "tensorrt"

    def __init__(self, onnx_path: str | os.PathLike, engine_path: Path, device: torch.device, precision: str,
                 input_size: tuple[int, int], max_batch: int = 256) -> None:
        trt = require("tensorrt", "tensorrt")
        if device.type != "cuda" or not torch.cuda.is_available():
            raise BackendError("backend 'tensorrt' needs a CUDA GPU; on the CPU use 'onnxruntime' or 'openvino'")
        self.device = device
        self.logger = trt.Logger(trt.Logger.WARNING)
        if not engine_path.is_file():
            _build_engine(trt, self.logger, Path(onnx_path), engine_path, precision, input_size, max_batch)
        runtime = trt.Runtime(self.logger)
        self.engine = runtime.deserialize_cuda_engine(engine_path.read_bytes())
        if self.engine is None:
            raise BackendError(f"TensorRT could not read the engine {engine_path}; delete it to rebuild it")
        self.context = self.engine.create_execution_context()
        self.names = [self.engine.get_tensor_name(i) for i in range(self.engine.num_io_tensors)]
        self.max_batch = max_batch

    def __call__(self, images: np.ndarray, camids: np.ndarray | None = None) -> np.ndarray:
        if len(images) > self.max_batch:
            parts = [self(images[i : i + self.max_batch], None if camids is None else camids[i : i + self.max_batch])
                     for i in range(0, len(images), self.max_batch)]
            return np.concatenate(parts)
        x = torch.from_numpy(images).to(self.device)
        tensors = {"images": x}
        if "camids" in self.names:
            tensors["camids"] = torch.from_numpy(camids.astype(np.int64)).to(self.device)
        for name, t in tensors.items():
            self.context.set_input_shape(name, tuple(t.shape))
        shape = tuple(self.context.get_tensor_shape("features"))
        out = torch.empty(shape, dtype=torch.float32, device=self.device)
        tensors["features"] = out
        for name, t in tensors.items():
            self.context.set_tensor_address(name, t.data_ptr())
        stream = torch.cuda.current_stream(self.device)
        if not self.context.execute_async_v3(stream.cuda_stream):
            raise BackendError("TensorRT failed to run the engine")
        stream.synchronize()
        return out.cpu().numpy()


def _build_engine(trt: Any, logger: Any, onnx_path: Path, engine_path: Path, precision: str,
                  input_size: tuple[int, int], max_batch: int) -> None:
    # the precision is the ONNX file's own (fp16 weights, or int8 Q/DQ nodes): a strongly typed
    # network keeps it, where TensorRT has that mode; older releases take the builder flags instead
    strongly = getattr(trt.NetworkDefinitionCreationFlag, "STRONGLY_TYPED", None)
    flags = (1 << int(strongly)) if strongly is not None else 0
    builder = trt.Builder(logger)
    network = builder.create_network(flags)
    parser = trt.OnnxParser(network, logger)
    if not parser.parse_from_file(str(onnx_path)):
        errors = "; ".join(str(parser.get_error(i)) for i in range(parser.num_errors))
        raise BackendError(f"TensorRT cannot parse {onnx_path}: {errors}")
    config = builder.create_builder_config()
    if strongly is None:
        if precision == "fp16":
            config.set_flag(trt.BuilderFlag.FP16)
        elif precision == "int8":
            config.set_flag(trt.BuilderFlag.INT8)
    profile = builder.create_optimization_profile()
    h, w = input_size
    for i in range(network.num_inputs):
        tensor = network.get_input(i)
        if tensor.name == "images":
            profile.set_shape("images", (1, 3, h, w), (max(1, max_batch // 2), 3, h, w), (max_batch, 3, h, w))
        else:
            profile.set_shape(tensor.name, (1,), (max(1, max_batch // 2),), (max_batch,))
    config.add_optimization_profile(profile)
    serialized = builder.build_serialized_network(network, config)
    if serialized is None:
        raise BackendError(f"TensorRT could not build an engine from {onnx_path}")
    tmp = engine_path.with_name(engine_path.name + f".tmp{os.getpid()}")
    tmp.write_bytes(bytes(serialized))
    os.replace(tmp, engine_path)
