// Errors of the gateway as JS exceptions. Every failed RPC carries a google.rpc.Status in
// the `grpc-status-details-bin` trailer whose details hold a google.rpc.ErrorInfo
// (proto/bitrix24/v1/bitrix24.proto header, docs/errors.md):
//   reason   the Bitrix24 error code ("ACCESS_DENIED") or a gateway reason ("HOST_NOT_ALLOWED");
//            "UNSPECIFIED" with domain "bitrix24" when the portal sent an empty code;
//   domain   "bitrix24" (the portal decided) or "bitrix24service" (the gateway decided);
//   metadata error_description, http_status, method, may_have_executed, needs_reinstall.
// errorFromStatus() is the one place that turns a status into an exception and picks its class.
import { Metadata, status as GrpcStatus } from "@grpc/grpc-js";
import { ErrorInfo, RetryInfo } from "./gen/google/rpc/error_details";
import { Status } from "./gen/google/rpc/status";

const ERROR_INFO_TYPE = "type.googleapis.com/google.rpc.ErrorInfo";
const RETRY_INFO_TYPE = "type.googleapis.com/google.rpc.RetryInfo";

/** Reasons that mean "a limit of the portal or of the caller's deadline", not a failure of the request. */
export const LIMIT_REASONS: ReadonlySet<string> = new Set([
  "QUERY_LIMIT_EXCEEDED",
  "OPERATION_TIME_LIMIT",
  "DEADLINE_BEFORE_SEND",
]);

/** What errorFromStatus() reads: a grpc-js ServiceError or StatusObject. */
export interface StatusLike {
  code: number;
  details?: string;
  metadata?: Metadata;
}

/** The fields of a Bitrix24Error, as errorFromStatus() decodes them. */
export interface Bitrix24ErrorFields {
  code: string;
  description: string;
  grpcCode: number;
  domain: string;
  metadata: Record<string, string>;
  mayHaveExecuted: boolean;
  needsReinstall: boolean;
  httpStatus?: number;
  method?: string;
  retryAfter?: number;
  details: string;
}

/** A failed call: a Bitrix24 error the portal sent, or one the gateway decided. */
export class Bitrix24Error extends Error {
  /** The Bitrix24 error code ("ACCESS_DENIED", "ERROR_NOT_FOUND") or a gateway reason
   * ("HOST_NOT_ALLOWED"); "" when the portal sent an empty code or the status had no ErrorInfo. */
  readonly code: string;
  /** The portal's error_description, else the status message. */
  readonly description: string;
  /** The gRPC status code (grpc.status.PERMISSION_DENIED, ...). */
  readonly grpcCode: number;
  /** "bitrix24" (the portal's error), "bitrix24service" (the gateway's), "" without ErrorInfo. */
  readonly domain: string;
  /** ErrorInfo.metadata as sent. */
  readonly metadata: Readonly<Record<string, string>>;
  /** True when a write was sent and its fate is unknown: do not blindly repeat it. */
  readonly mayHaveExecuted: boolean;
  /** True when the app must be reinstalled on the portal (always true for PortalNeedsReinstall). */
  readonly needsReinstall: boolean;
  /** The portal's HTTP status, when the gateway got an answer. */
  readonly httpStatus?: number;
  /** The REST method the error is about. */
  readonly method?: string;
  /** Seconds to wait before retrying (google.rpc.RetryInfo), when the gateway sent one. */
  readonly retryAfter?: number;
  /** The gRPC status message. */
  readonly details: string;

  constructor(fields: Bitrix24ErrorFields, options?: { cause?: unknown }) {
    const name = GrpcStatus[fields.grpcCode] ?? `gRPC status ${fields.grpcCode}`;
    const text = fields.details || fields.description;
    const prefix = fields.code && !text.includes(fields.code) ? `${fields.code}: ` : "";
    super(`${name}: ${prefix}${text}`, options);
    this.name = new.target.name;
    this.code = fields.code;
    this.description = fields.description;
    this.grpcCode = fields.grpcCode;
    this.domain = fields.domain;
    this.metadata = fields.metadata;
    this.mayHaveExecuted = fields.mayHaveExecuted;
    this.needsReinstall = fields.needsReinstall;
    if (fields.httpStatus !== undefined) this.httpStatus = fields.httpStatus;
    if (fields.method !== undefined) this.method = fields.method;
    if (fields.retryAfter !== undefined) this.retryAfter = fields.retryAfter;
    this.details = fields.details;
  }
}

/** A rate limit, the operating-time budget, or the deadline: retry later or with a longer timeout. */
export class LimitError extends Bitrix24Error {}

/** The portal's refresh token was rejected: the app must be installed on the portal again. */
export class PortalNeedsReinstall extends Bitrix24Error {}

function decodeDetails(metadata: Metadata | undefined): { info?: ErrorInfo; retryAfter?: number } {
  const raw = metadata?.get("grpc-status-details-bin")?.[0];
  if (raw === undefined || typeof raw === "string") return {};
  let status: Status;
  try {
    status = Status.decode(raw);
  } catch {
    return {}; // not a google.rpc.Status: classify by the gRPC code alone
  }
  const out: { info?: ErrorInfo; retryAfter?: number } = {};
  for (const any of status.details) {
    try {
      if (any.typeUrl === ERROR_INFO_TYPE && out.info === undefined) out.info = ErrorInfo.decode(any.value);
      if (any.typeUrl === RETRY_INFO_TYPE && out.retryAfter === undefined) {
        const delay = RetryInfo.decode(any.value).retryDelay;
        if (delay) out.retryAfter = delay.seconds + delay.nanos / 1e9;
      }
    } catch {
      // an undecodable detail is skipped; the others still count
    }
  }
  return out;
}

/**
 * Turns a failed gRPC status into a Bitrix24Error, a LimitError or a PortalNeedsReinstall.
 * The class: needs_reinstall = "true" → PortalNeedsReinstall; else a reason in LIMIT_REASONS
 * or the status DEADLINE_EXCEEDED → LimitError; else Bitrix24Error.
 */
export function errorFromStatus(status: StatusLike, cause?: unknown): Bitrix24Error {
  const { info, retryAfter } = decodeDetails(status.metadata);
  const metadata: Record<string, string> = { ...(info?.metadata ?? {}) };
  const domain = info?.domain ?? "";
  const reason = info?.reason ?? "";
  // ErrorInfo.reason may not be empty, so the gateway writes UNSPECIFIED for a portal's empty code.
  const code = domain === "bitrix24" && reason === "UNSPECIFIED" ? "" : reason;
  const details = status.details ?? "";
  const httpStatus = metadata.http_status !== undefined ? Number(metadata.http_status) : undefined;
  const fields: Bitrix24ErrorFields = {
    code,
    description: metadata.error_description || details,
    grpcCode: status.code,
    domain,
    metadata,
    mayHaveExecuted: metadata.may_have_executed === "true",
    needsReinstall: metadata.needs_reinstall === "true",
    httpStatus: httpStatus !== undefined && Number.isFinite(httpStatus) ? httpStatus : undefined,
    method: metadata.method,
    retryAfter,
    details,
  };
  const options = cause === undefined ? undefined : { cause };
  if (fields.needsReinstall) return new PortalNeedsReinstall(fields, options);
  if (LIMIT_REASONS.has(code) || status.code === GrpcStatus.DEADLINE_EXCEEDED) return new LimitError(fields, options);
  return new Bitrix24Error(fields, options);
}

/** A grpc-js ServiceError (code + metadata) as a Bitrix24Error; anything else unchanged. */
export function toClientError(err: unknown): unknown {
  if (err instanceof Bitrix24Error) return err;
  if (err instanceof Error && typeof (err as Partial<StatusLike>).code === "number" && "metadata" in err) {
    return errorFromStatus(err as unknown as StatusLike, err);
  }
  return err;
}
