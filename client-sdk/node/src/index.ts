// @bitrix24-service/client: the Node.js client of Bitrix24Service (proto/bitrix24/v1/bitrix24.proto).
export {
  Client,
  type ClientOptions,
  type CallOptions,
  type CallResult,
  type BatchCommandInput,
  type BatchCommands,
  type BatchOptions,
  type BatchItem,
  type GetAllOptions,
  type InstallOptions,
  type InstallResult,
  type PortalInfo,
  type Params,
  type Json,
  type Time,
} from "./client";
export { GetAllStream } from "./getall";
export { Portal, parsePortal, toPortalRef, type PortalArg } from "./portal";
export {
  Bitrix24Error,
  LimitError,
  PortalNeedsReinstall,
  errorFromStatus,
  LIMIT_REASONS,
  type Bitrix24ErrorFields,
  type StatusLike,
} from "./errors";
// The generated messages and service definitions, for callers that need the raw RPCs.
export * as pb from "./gen/bitrix24/v1/bitrix24";
export * as rpc from "./gen/google/rpc/error_details";
export * as rpcStatus from "./gen/google/rpc/status";
export * as health from "./gen/grpc/health/v1/health";
// grpc-js itself, so callers build credentials and metadata with the same copy the client uses.
export * as grpc from "@grpc/grpc-js";
