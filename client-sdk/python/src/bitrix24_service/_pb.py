"""The generated protobuf and gRPC modules (bitrix24_service._gen, built from proto/)."""

try:
    from bitrix24_service._gen.bitrix24.v1 import bitrix24_pb2, bitrix24_pb2_grpc
    from bitrix24_service._gen.google.rpc import error_details_pb2, status_pb2
except ImportError as e:  # pragma: no cover - only a broken or source-tree import gets here
    raise ImportError(
        "bitrix24_service._gen (the gRPC stubs generated from proto/) is missing: install the "
        "package with `pip install --no-build-isolation ./client-sdk/python` (its build runs "
        "client-sdk/generate.sh) instead of importing it from the source tree"
    ) from e

__all__ = ["bitrix24_pb2", "bitrix24_pb2_grpc", "error_details_pb2", "status_pb2"]
