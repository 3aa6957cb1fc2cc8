"""Tensor blocks through shared memory when the server runs on this host (tensor.proto, SharedMemory).

Large request blocks are written into regions the server created for this caller (mapped with
numpy.memmap) and sent as SharedSlice references; replies come back the same way when the call
announces this host's boot id. A server on another host, or one without the service, gets every
block inline, as before.
"""
import threading
import time

import grpc
import numpy as np

from ._stubs import tensor_pb2, tensor_pb2_grpc

ACCEPT_HEADER = "x-conceptsuite-shm-accept"
MIN_SHARED_BYTES = 64 << 10
REGION_BYTES = 64 << 20
_POOLED = 8
_INLINE_FOR = 60.0


def boot_id():
    try:
        with open("/proc/sys/kernel/random/boot_id") as f:
            return f.read().strip()
    except OSError:
        return None


def _blocks(message):
    """The TensorBlocks of a message: itself, or its set singular TensorBlock fields."""
    if message.DESCRIPTOR.full_name == "conceptsuite.v1.TensorBlock":
        return [message]
    out = []
    for f in message.DESCRIPTOR.fields:
        if (f.message_type is not None and f.message_type.full_name == "conceptsuite.v1.TensorBlock"
                and f.label != f.LABEL_REPEATED and message.HasField(f.name)):
            out.append(getattr(message, f.name))
    return out


class _Region:
    def __init__(self, info):
        self.info = info
        self.map = np.memmap(info.path, dtype=np.uint8, mode="r+", shape=(info.bytes,))
        self.used = 0


class _Reply:
    """A reply stream whose slices are copied out of the server's regions; its regions are released as it moves on."""

    def __init__(self, link, call):
        self._link, self._call, self._open = link, call, {}

    def __iter__(self):
        return self

    def __next__(self):
        try:
            message = next(self._call)
        except BaseException:
            self._release()
            raise
        for b in _blocks(message):
            if b.HasField("shared"):
                self._resolve(b)
        return message

    def _resolve(self, block):
        s = block.shared
        region = self._open.get(s.region)
        if region is None:
            self._release()  # the server fills one region before it opens the next
            name = s.path.rsplit("/", 1)[-1]
            if name != s.region or not name.startswith("conceptsuite-shm-"):
                raise RuntimeError(f"a reply named region {s.region} at {s.path}, not a region file")
            region = self._open[s.region] = np.memmap(s.path, dtype=np.uint8, mode="r")
        data = region[s.offset:s.offset + s.length].tobytes()
        block.ClearField("shared")
        block.tensor.data = data
        self._link.shared_bytes += s.length

    def _release(self):
        names, self._open = list(self._open), {}
        for n in names:
            self._link._release(n)

    def __getattr__(self, name):  # cancel(), code(), details(), ... of the underlying call
        return getattr(self._call, name)


class SharedMemoryLink(grpc.StreamUnaryClientInterceptor, grpc.StreamStreamClientInterceptor, grpc.UnaryStreamClientInterceptor):
    """The shared-memory path for one channel: grpc.intercept_channel(base, SharedMemoryLink(base))."""

    def __init__(self, base_channel):
        self._regions = tensor_pb2_grpc.SharedMemoryStub(base_channel)
        self._free = []
        self._lock = threading.Lock()
        self._inline_until = 0.0
        self._boot = boot_id()
        self.inline_reason = None
        self.shared_bytes = 0

    # Requests ---------------------------------------------------------------------------------
    def _take(self, nbytes):
        while True:
            with self._lock:
                if time.monotonic() < self._inline_until:
                    return None
                r = self._free.pop() if self._free else None
            if r is None:
                break
            # A pooled region serves while its lease has 30 s left; others are given back.
            if r.info.bytes >= nbytes and r.info.expires_unix_ms / 1000 - time.time() > 30:
                r.used = 0
                return r
            self._release(r.info.region)
        try:
            info = self._regions.CreateRegion(tensor_pb2.CreateRegionRequest(bytes=max(REGION_BYTES, nbytes)))
        except grpc.RpcError as e:
            return self._inline(f"CreateRegion answered {e.code().name}: {e.details()}")
        if not info.boot_id or info.boot_id != self._boot:
            self._release(info.region)
            return self._inline("the server runs on another host (boot id differs)")
        try:
            return _Region(info)
        except OSError as e:
            self._release(info.region)
            return self._inline(f"cannot map the server's region file {info.path}: {e}")

    def _inline(self, reason):
        self.inline_reason = reason
        with self._lock:
            self._inline_until = time.monotonic() + _INLINE_FOR
        return None

    def _release(self, name):
        try:
            self._regions.ReleaseRegion(tensor_pb2.RegionRequest(region=name), timeout=10)
        except grpc.RpcError:
            pass  # its lease ends it anyway

    def _requests(self, iterator, held):
        current, inline = None, False
        for message in iterator:
            for b in _blocks(message):
                n = len(b.tensor.data)
                if inline or n < MIN_SHARED_BYTES or b.HasField("shared"):
                    continue
                if current is None or current.info.bytes - current.used < n:
                    current = self._take(n)
                    if current is None:
                        inline = True
                        continue
                    held.append(current)
                offset = current.used
                current.map[offset:offset + n] = np.frombuffer(b.tensor.data, dtype=np.uint8)
                current.used = (offset + n + 63) & ~63
                b.tensor.data = b""
                b.shared.region, b.shared.offset, b.shared.length = current.info.region, offset, n
                self.shared_bytes += n
            yield message

    def _return(self, held):
        extra = []
        with self._lock:
            for r in held:
                (self._free if len(self._free) < _POOLED else extra).append(r)
        held.clear()
        for r in extra:
            self._release(r.info.region)

    def _accepting(self, details):
        if self._boot is None:
            return details
        return details._replace(metadata=list(details.metadata or []) + [(ACCEPT_HEADER, self._boot)])

    def intercept_stream_unary(self, continuation, details, request_iterator):
        held = []
        response = continuation(details, self._requests(request_iterator, held))
        response.add_done_callback(lambda _: self._return(held))
        return response

    def intercept_stream_stream(self, continuation, details, request_iterator):
        held = []
        call = continuation(self._accepting(details), self._requests(request_iterator, held))
        call.add_done_callback(lambda _: self._return(held))
        return _Reply(self, call)

    def intercept_unary_stream(self, continuation, details, request):
        return _Reply(self, continuation(self._accepting(details), request))

    def close(self):
        with self._lock:
            free, self._free = self._free, []
        for r in free:
            self._release(r.info.region)
