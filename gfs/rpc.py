"""gRPC plumbing shared by every server and client: the secret, channels, errors.

Every call carries the cluster secret in metadata; every server refuses calls without it
(UNAUTHENTICATED). Domain errors travel as status codes with a one-line message and are
turned back into the same GfsError subclass on the client side.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from concurrent import futures
from typing import Any, NoReturn

import grpc

from gfs import errors

logger = logging.getLogger(__name__)

SECRET_METADATA_KEY = "x-minimr-secret"
FRAME_BYTES = 1024 * 1024  # ~1 MiB pieces: fast on loopback gRPC and sockets alike
MAX_MESSAGE_BYTES = 64 * 1024 * 1024
CHANNEL_OPTIONS = [
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.enable_retries", 0),
]

_ERROR_CODES: list[tuple[type[errors.GfsError], grpc.StatusCode]] = [
    (errors.NotFound, grpc.StatusCode.NOT_FOUND),
    (errors.AlreadyExists, grpc.StatusCode.ALREADY_EXISTS),
    (errors.InvalidPath, grpc.StatusCode.INVALID_ARGUMENT),
    (errors.LeaseError, grpc.StatusCode.PERMISSION_DENIED),
    (errors.NoDatanodes, grpc.StatusCode.RESOURCE_EXHAUSTED),
    (errors.DataUnavailable, grpc.StatusCode.DATA_LOSS),
    (errors.Unavailable, grpc.StatusCode.UNAVAILABLE),
]
# Codes shared by several error classes carry the class name as a prefix of the details.
_PREFIXED = (
    errors.NotADirectory,
    errors.IsADirectory,
    errors.DirectoryNotEmpty,
    errors.ConfigError,
)


class _AuthInterceptor(grpc.ServerInterceptor):
    def __init__(self, secret: str) -> None:
        self._secret = secret.encode()

    def intercept_service(self, continuation: Callable[..., Any], details: Any) -> Any:
        supplied = ""
        for key, value in details.invocation_metadata or ():
            if key == SECRET_METADATA_KEY:
                supplied = value
        handler = continuation(details)
        if handler is None or hmac.compare_digest(supplied.encode(), self._secret):
            return handler

        def deny(_request: Any, context: grpc.ServicerContext) -> NoReturn:
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong cluster secret")
            raise AssertionError("unreachable")

        if handler.request_streaming and handler.response_streaming:
            return grpc.stream_stream_rpc_method_handler(deny)
        if handler.request_streaming:
            return grpc.stream_unary_rpc_method_handler(deny)
        if handler.response_streaming:
            return grpc.unary_stream_rpc_method_handler(deny)
        return grpc.unary_unary_rpc_method_handler(deny)


def make_server(secret: str, max_workers: int = 32) -> grpc.Server:
    return grpc.server(
        futures.ThreadPoolExecutor(max_workers=max_workers, thread_name_prefix="rpc"),
        interceptors=[_AuthInterceptor(secret)],
        # Without this, two servers could bind the same port and split its traffic.
        options=[*CHANNEL_OPTIONS, ("grpc.so_reuseport", 0)],
    )


def bind(server: grpc.Server, listen: str) -> int:
    """Bind `host:port` (port 0 picks a free one); return the bound port."""
    try:
        port = server.add_insecure_port(listen)
    except RuntimeError:  # newer grpcio raises instead of returning 0
        port = 0
    if port == 0:
        raise errors.Unavailable(f"cannot listen on {listen}")
    return port


class _SecretMetadata(
    grpc.UnaryUnaryClientInterceptor,
    grpc.UnaryStreamClientInterceptor,
    grpc.StreamUnaryClientInterceptor,
    grpc.StreamStreamClientInterceptor,
):
    def __init__(self, secret: str) -> None:
        self._pair = (SECRET_METADATA_KEY, secret)

    def _details(self, details: Any) -> Any:
        metadata = list(details.metadata or []) + [self._pair]
        return details._replace(metadata=metadata)

    def intercept_unary_unary(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_unary_stream(self, continuation: Any, details: Any, request: Any) -> Any:
        return continuation(self._details(details), request)

    def intercept_stream_unary(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)

    def intercept_stream_stream(self, continuation: Any, details: Any, requests: Any) -> Any:
        return continuation(self._details(details), requests)


def channel(address: str, secret: str) -> grpc.Channel:
    """A channel to `address` whose every call carries the cluster secret."""
    raw = grpc.insecure_channel(address, options=CHANNEL_OPTIONS)
    return grpc.intercept_channel(raw, _SecretMetadata(secret))


def abort(context: grpc.ServicerContext, exc: errors.GfsError) -> NoReturn:
    """Send a domain error to the caller as a status code plus one line."""
    for cls, code in _ERROR_CODES:
        if isinstance(exc, cls):
            context.abort(code, str(exc))
    if isinstance(exc, _PREFIXED):
        context.abort(grpc.StatusCode.FAILED_PRECONDITION, f"{type(exc).__name__}: {exc}")
    context.abort(grpc.StatusCode.FAILED_PRECONDITION, str(exc))
    raise AssertionError("unreachable")


def error_from_rpc(err: grpc.RpcError, what: str = "") -> errors.GfsError:
    """Turn a failed call back into the GfsError the server raised."""
    code = err.code() if hasattr(err, "code") else None
    details = (err.details() if hasattr(err, "details") else None) or str(code)
    for cls, cls_code in _ERROR_CODES:
        if code == cls_code:
            return cls(details)
    if code == grpc.StatusCode.UNAUTHENTICATED:
        return errors.GfsError(f"{what or 'call'} refused: {details}")
    if code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return errors.Unavailable(f"{what or 'call'} timed out")
    if code == grpc.StatusCode.FAILED_PRECONDITION:
        for cls in _PREFIXED:
            prefix = f"{cls.__name__}: "
            if details.startswith(prefix):
                return cls(details[len(prefix) :])
    return errors.GfsError(details)


def is_unreachable(err: grpc.RpcError) -> bool:
    """True for failures that say nothing about the request itself (retry elsewhere)."""
    code = err.code() if hasattr(err, "code") else None
    return code in (
        grpc.StatusCode.UNAVAILABLE,
        grpc.StatusCode.DEADLINE_EXCEEDED,
        grpc.StatusCode.CANCELLED,
        grpc.StatusCode.UNKNOWN,
        grpc.StatusCode.INTERNAL,
    )
