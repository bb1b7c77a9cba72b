"""Requests from Python values and Python values from responses (shared by Client and AsyncClient)."""

from __future__ import annotations

import json
import math
from typing import Any, Dict, Iterator, List, Mapping, Optional, Sequence, Tuple, Union

from google.protobuf import struct_pb2

from bitrix24_service._pb import bitrix24_pb2 as pb
from bitrix24_service.portal import PortalLike, portal_ref

JSON = Any
Params = Optional[Mapping[str, JSON]]
#: {key: {"method": m, "params": {...}}}, {key: (method, params)}, {key: method}, or
#: [{"key": k, "method": m, "params": {...}}, ...]
BatchCommands = Union[
    Mapping[str, Union[Mapping[str, Any], Tuple[str, Params], Tuple[str], str]],
    Sequence[Mapping[str, Any]],
]

# Struct numbers are doubles: integers beyond 2**53 would silently change.
_MAX_EXACT_INT = 2**53


def _fill(value: struct_pb2.Value, obj: JSON, path: str) -> None:
    if obj is None:
        value.null_value = struct_pb2.NULL_VALUE
    elif isinstance(obj, bool):
        value.bool_value = obj
    elif isinstance(obj, str):
        value.string_value = obj
    elif isinstance(obj, int):
        if abs(obj) > _MAX_EXACT_INT:
            raise ValueError(
                f"{path}: the integer {obj} cannot be sent exactly (params travel as "
                "google.protobuf.Struct, whose numbers are doubles); pass it as a string"
            )
        value.number_value = obj
    elif isinstance(obj, float):
        if not math.isfinite(obj):
            raise ValueError(f"{path}: {obj} is not a JSON number")
        value.number_value = obj
    elif isinstance(obj, Mapping):
        fields = value.struct_value.fields
        value.struct_value.SetInParent()
        for k, v in obj.items():
            if not isinstance(k, str):
                raise TypeError(f"{path}: the key {k!r} is not a string (JSON object keys are strings)")
            _fill(fields[k], v, f"{path}[{k!r}]")
    elif isinstance(obj, (list, tuple)):
        value.list_value.SetInParent()
        for i, v in enumerate(obj):
            _fill(value.list_value.values.add(), v, f"{path}[{i}]")
    else:
        raise TypeError(f"{path}: a {type(obj).__name__} is not JSON (use str, int, float, bool, None, dict, list)")


def fill_struct(struct: struct_pb2.Struct, params: Params, what: str = "params") -> None:
    """Copies a JSON object (dict) into a google.protobuf.Struct field."""
    if params is None:
        return
    if not isinstance(params, Mapping):
        raise TypeError(f"{what} must be a dict (a JSON object), got {type(params).__name__}")
    struct.SetInParent()
    for k, v in params.items():
        if not isinstance(k, str):
            raise TypeError(f"{what}: the key {k!r} is not a string (JSON object keys are strings)")
        _fill(struct.fields[k], v, f"{what}[{k!r}]")


def from_value(value: struct_pb2.Value) -> JSON:
    """A google.protobuf.Value as plain Python (integral numbers become int)."""
    kind = value.WhichOneof("kind")
    if kind == "string_value":
        return value.string_value
    if kind == "number_value":
        n = value.number_value
        return int(n) if n.is_integer() and abs(n) <= _MAX_EXACT_INT else n
    if kind == "bool_value":
        return value.bool_value
    if kind == "struct_value":
        return from_struct(value.struct_value)
    if kind == "list_value":
        return [from_value(v) for v in value.list_value.values]
    return None  # null_value, or unset


def from_struct(struct: struct_pb2.Struct) -> Dict[str, JSON]:
    return {k: from_value(v) for k, v in struct.fields.items()}


def time_dict(t: pb.Time) -> Dict[str, Union[float, int]]:
    return {
        "start": t.start,
        "finish": t.finish,
        "duration": t.duration,
        "processing": t.processing,
        "operating": t.operating,
        "operating_reset_at": t.operating_reset_at,
    }


def _envelope(msg: Union[pb.CallResponse, pb.BatchResult], result: JSON) -> Dict[str, JSON]:
    out: Dict[str, JSON] = {"result": result}
    if msg.HasField("total"):
        out["total"] = msg.total
    if msg.HasField("next"):
        out["next"] = msg.next
    if msg.HasField("time"):
        out["time"] = time_dict(msg.time)
    return out


# ---- requests -------------------------------------------------------------------------------


def _check_method(method: Any) -> str:
    if not isinstance(method, str) or not method:
        raise TypeError(f"method must be a non-empty str (a REST method such as 'crm.deal.get'), got {method!r}")
    return method


def call_request(portal: PortalLike, method: str, params: Params) -> pb.CallRequest:
    req = pb.CallRequest(portal=portal_ref(portal), method=_check_method(method))
    fill_struct(req.params, params)
    return req


def call_result(resp: pb.CallResponse) -> Dict[str, JSON]:
    return _envelope(resp, from_value(resp.result))


def _commands(commands: BatchCommands) -> Iterator[Tuple[Any, Any, Any]]:
    """(key, method, params) of each command, checked by the caller."""
    if isinstance(commands, Mapping):
        for key, spec in commands.items():
            if isinstance(spec, str):
                yield key, spec, None
            elif isinstance(spec, Mapping):
                unknown = set(spec) - {"method", "params"}
                if unknown:
                    raise ValueError(
                        f"batch command {key!r}: unknown fields {sorted(unknown)} (use 'method', 'params')")
                yield key, spec.get("method"), spec.get("params")
            elif isinstance(spec, (tuple, list)) and 1 <= len(spec) <= 2:
                pair: Sequence[Any] = spec
                yield key, pair[0], pair[1] if len(pair) == 2 else None
            else:
                raise TypeError(
                    f"batch command {key!r} must be {{'method': m, 'params': {{...}}}} or (method, params), "
                    f"got {spec!r}"
                )
    elif isinstance(commands, (list, tuple)):
        for i, spec in enumerate(commands):
            if not isinstance(spec, Mapping):
                raise TypeError(f"batch command #{i} must be a dict with 'key', 'method', 'params', got {spec!r}")
            unknown = set(spec) - {"key", "method", "params"}
            if unknown:
                raise ValueError(
                    f"batch command #{i}: unknown fields {sorted(unknown)} (use 'key', 'method', 'params')")
            yield spec.get("key"), spec.get("method"), spec.get("params")
    else:
        raise TypeError(
            f"commands must be a dict {{key: command}} or a list of commands, got {type(commands).__name__}")


def batch_request(portal: PortalLike, commands: BatchCommands, halt: bool) -> pb.BatchRequest:
    req = pb.BatchRequest(portal=portal_ref(portal), halt=bool(halt))
    seen = set()
    for key, method, params in _commands(commands):
        if not isinstance(key, str) or not key:
            raise TypeError(f"a batch command key must be a non-empty str, got {key!r}")
        if key in seen:
            raise ValueError(f"batch command key {key!r} is used twice; results are reported by key")
        seen.add(key)
        cmd = req.commands.add(key=key, method=_check_method(method))
        fill_struct(cmd.params, params, f"params of batch command {key!r}")
    if not seen:
        raise ValueError("a batch needs at least one command")
    return req


class BatchResult(Dict[str, Dict[str, JSON]]):
    """Outcomes by command key, in request order: {"result", "total"?, "next"?, "time"?},
    {"error": {"code", "description"}} or {"not_executed": True}. ``http_requests`` is the number
    of HTTP batch requests the gateway sent (more than 50 commands are split)."""

    http_requests: int = 0


def batch_result(resp: pb.BatchResponse) -> BatchResult:
    out = BatchResult()
    out.http_requests = resp.http_requests
    for r in resp.results:
        outcome = r.WhichOneof("outcome")
        if outcome == "error":
            out[r.key] = {"error": {"code": r.error.code, "description": r.error.description}}
        elif outcome == "not_executed":
            out[r.key] = {"not_executed": True}
        else:
            out[r.key] = _envelope(r, from_value(r.result))
    return out


def get_all_request(
    portal: PortalLike, method: str, params: Params, limit: int, cursor: Optional[str], max_parallel_ranges: int
) -> pb.GetAllRequest:
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 0:
        raise ValueError(f"limit must be an int >= 0 (0 = all items), got {limit!r}")
    if isinstance(max_parallel_ranges, bool) or not isinstance(max_parallel_ranges, int):
        raise TypeError(f"max_parallel_ranges must be an int, got {max_parallel_ranges!r}")
    if cursor is not None and not isinstance(cursor, str):
        raise TypeError(f"cursor must be a str (GetAllIterator.cursor), got {type(cursor).__name__}")
    req = pb.GetAllRequest(
        portal=portal_ref(portal),
        method=_check_method(method),
        limit=limit,
        format=pb.GetAllRequest.FORMAT_JSON,
        cursor=cursor or "",
        max_parallel_ranges=max_parallel_ranges,
    )
    fill_struct(req.params, params)
    return req


def items_of(msg: pb.GetAllResponse) -> List[Union[bytes, struct_pb2.Struct]]:
    # FORMAT_JSON fills items_json; a gateway that answered with Structs is handled too.
    return list(msg.items_json) if msg.items_json else list(msg.items)


def decode_item(item: Union[bytes, struct_pb2.Struct]) -> JSON:
    if isinstance(item, bytes):
        return json.loads(item)  # exact integers, and the fastest decoding there is
    return from_struct(item)


def _form_fields(fields: Mapping[str, Any], what: str) -> Dict[str, str]:
    if not isinstance(fields, Mapping):
        raise TypeError(f"{what} must be a dict of form fields, got {type(fields).__name__}")
    out = {}
    for k, v in fields.items():
        if not isinstance(k, str):
            raise TypeError(f"{what}: the field name {k!r} is not a str")
        if isinstance(v, bool) or not isinstance(v, (str, int)):
            raise TypeError(f"{what}[{k!r}] must be a str (form fields are text), got {v!r}")
        out[k] = str(v)
    return out


def install_request(
    ui_fields: Optional[Mapping[str, Any]],
    onappinstall_fields: Optional[Mapping[str, Any]],
    client_id: str,
    client_secret: str,
) -> pb.InstallRequest:
    if (ui_fields is None) == (onappinstall_fields is None):
        raise ValueError(
            "give exactly one of ui_fields (the UI install POST merged with its query string) "
            "and onappinstall_fields (the ONAPPINSTALL event's form fields)"
        )
    if not isinstance(client_id, str) or not client_id or not isinstance(client_secret, str) or not client_secret:
        raise ValueError("client_id and client_secret of the app are required (non-empty str)")
    req = pb.InstallRequest(app=pb.AppCredentials(client_id=client_id, client_secret=client_secret))
    if ui_fields is not None:
        req.ui.fields.update(_form_fields(ui_fields, "ui_fields"))
        req.ui.SetInParent()
    else:
        req.onappinstall.fields.update(_form_fields(onappinstall_fields or {}, "onappinstall_fields"))
        req.onappinstall.SetInParent()
    return req


def install_result(resp: pb.InstallResponse) -> Dict[str, str]:
    return {"member_id": resp.member_id, "domain": resp.domain, "finish_html": resp.finish_html}


def portals_result(resp: pb.ListPortalsResponse) -> List[Dict[str, JSON]]:
    kinds = pb.PortalInfo.Kind
    return [
        {
            "id": p.id,
            "domain": p.domain,
            "kind": kinds.Name(p.kind).replace("KIND_", "", 1) if p.kind in kinds.values() else str(p.kind),
            "access_expires_at": p.access_expires_at,
            "needs_reinstall": p.needs_reinstall,
        }
        for p in resp.portals
    ]


def remove_portal_request(member_id: str) -> pb.RemovePortalRequest:
    if not isinstance(member_id, str) or not member_id:
        raise TypeError(f"member_id must be a non-empty str, got {member_id!r}")
    return pb.RemovePortalRequest(member_id=member_id)

