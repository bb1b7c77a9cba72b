"""grpc.health.v1.Health/Check without generated code.

Debian's python3-grpcio ships no grpc_health module, and grpc-proto (health.proto) is not a
dependency of this package, so the two tiny messages are declared here in a private pool.
"""

from __future__ import annotations

from typing import Any, Type

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from google.protobuf.message import Message

HEALTH_CHECK_METHOD = "/grpc.health.v1.Health/Check"

_F = descriptor_pb2.FieldDescriptorProto


def _classes() -> Any:
    file = descriptor_pb2.FileDescriptorProto(
        name="bitrix24_service/grpc/health/v1/health.proto", package="grpc.health.v1", syntax="proto3"
    )
    req = file.message_type.add(name="HealthCheckRequest")
    req.field.add(name="service", number=1, type=_F.TYPE_STRING, label=_F.LABEL_OPTIONAL)
    resp = file.message_type.add(name="HealthCheckResponse")
    status = resp.enum_type.add(name="ServingStatus")
    for number, name in enumerate(("UNKNOWN", "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN")):
        status.value.add(name=name, number=number)
    resp.field.add(
        name="status",
        number=1,
        type=_F.TYPE_ENUM,
        type_name=".grpc.health.v1.HealthCheckResponse.ServingStatus",
        label=_F.LABEL_OPTIONAL,
    )
    pool = descriptor_pool.DescriptorPool()
    pool.Add(file)
    get_class = getattr(message_factory, "GetMessageClass", None)  # protobuf >= 4.22
    if get_class is None:
        get_class = message_factory.MessageFactory(pool).GetPrototype
    return (
        get_class(pool.FindMessageTypeByName("grpc.health.v1.HealthCheckRequest")),
        get_class(pool.FindMessageTypeByName("grpc.health.v1.HealthCheckResponse")),
    )


HealthCheckRequest: Type[Message]
HealthCheckResponse: Type[Message]
HealthCheckRequest, HealthCheckResponse = _classes()


def status_name(response: Message) -> str:
    enum = HealthCheckResponse.DESCRIPTOR.enum_types_by_name["ServingStatus"]
    status: int = getattr(response, "status")
    value = enum.values_by_number.get(status)
    return str(value.name) if value is not None else str(status)
