// Client: a thin, typed wrapper of the generated grpc-js client of bitrix24.v1.Bitrix24Service.
// Every call carries a deadline (the client's default unless given), params and results are
// plain JSON values, and failures are thrown as Bitrix24Error (errors.ts).
import * as grpc from "@grpc/grpc-js";
import {
  Bitrix24ServiceClient,
  type BatchCommand,
  type BatchResponse,
  type BatchResult,
  type CallResponse,
  type InstallResponse,
  type ListPortalsResponse,
  type RemovePortalResponse,
  GetAllRequest_Format,
  portalInfo_KindToJSON,
  type InstallRequest,
  type Time,
} from "./gen/bitrix24/v1/bitrix24";
import { HealthClient, type HealthCheckResponse, healthCheckResponse_ServingStatusToJSON } from "./gen/grpc/health/v1/health";
import { toClientError } from "./errors";
import { GetAllStream } from "./getall";
import { toPortalRef, type PortalArg } from "./portal";

export type { Time };
/** Any JSON value. */
export type Json = any;
/** A JSON object of method parameters. */
export type Params = Record<string, Json>;

export interface ClientOptions {
  /** Default deadline of every RPC in seconds (default 60); Infinity for none. GetAll has none unless given. */
  timeout?: number;
  /** Channel credentials (default: insecure, plain-text HTTP/2). */
  credentials?: grpc.ChannelCredentials;
  /** Metadata sent with every RPC, e.g. {authorization: "Bearer ..."}. */
  metadata?: Record<string, string>;
  /** grpc-js channel options, e.g. {"grpc.max_receive_message_length": 8 << 20}. */
  channelOptions?: grpc.ChannelOptions;
}

export interface CallOptions {
  /** Deadline of this RPC in seconds (default: the client's timeout). */
  timeout?: number;
  /** Metadata added to the client's for this RPC. */
  metadata?: Record<string, string>;
  /** Cancels the RPC when aborted (the promise rejects with a CANCELLED Bitrix24Error). */
  signal?: AbortSignal;
}

export interface CallResult {
  /** The `result` of the envelope, any JSON value. */
  result: Json;
  /** `total` of list methods, when the portal sent it. */
  total?: number;
  /** `next` offset of list methods, when there are more pages. */
  next?: number;
  /** The `time` object of the response. */
  time?: Time;
}

/** A command of batch(): the method and its params (strings may hold `$result[key][...]`). */
export interface BatchCommandInput {
  method: string;
  params?: Params;
}

export type BatchCommands = Record<string, BatchCommandInput> | Array<BatchCommandInput & { key: string }>;

export interface BatchOptions extends CallOptions {
  /** Stop at the first failing command; later ones are reported as {notExecuted: true}. */
  halt?: boolean;
}

export type BatchItem =
  | CallResult
  | { error: { code: string; description: string } }
  | { notExecuted: true };

export interface GetAllOptions {
  /** Stop after this many items (default: all). */
  limit?: number;
  /** Resume from GetAllStream.cursor of an earlier, interrupted export (same method and params). */
  cursor?: string;
  /** Upper bound on ID ranges exported in parallel (1-16; 1 = ascending ID order; default: the gateway decides). */
  maxParallelRanges?: number;
  /** Deadline of the whole export in seconds (default: none). */
  timeout?: number;
  /** Metadata added to the client's for this RPC. */
  metadata?: Record<string, string>;
  /** Cancels the export when aborted (the loop ends without an error). */
  signal?: AbortSignal;
}

export interface InstallOptions extends CallOptions {
  /** Form fields and query string of the UI installation POST (AUTH_ID, REFRESH_ID, member_id, DOMAIN, ...). */
  uiFields?: Record<string, string>;
  /** Form fields of the ONAPPINSTALL event (event, auth[access_token], auth[member_id], ...). */
  onappinstallFields?: Record<string, string>;
  /** The app's client_id. */
  clientId: string;
  /** The app's client_secret. */
  clientSecret: string;
}

export interface InstallResult {
  memberId: string;
  domain: string;
  /** HTML the install page returns to finish a UI installation; "" for ONAPPINSTALL. */
  finishHtml: string;
}

export interface PortalInfo {
  /** member_id for OAuth portals; the configured name for webhooks. */
  id: string;
  domain: string;
  kind: "KIND_OAUTH" | "KIND_WEBHOOK" | "KIND_UNSPECIFIED" | string;
  /** Unix time the access token expires (OAuth only; 0 otherwise). */
  accessExpiresAt: number;
  needsReinstall: boolean;
}

/** Starts one unary RPC of a generated stub. */
type StartUnary<Res> = (
  metadata: grpc.Metadata,
  options: Partial<grpc.CallOptions>,
  callback: (err: grpc.ServiceError | null, value: Res) => void,
) => grpc.ClientUnaryCall;

/** Params as JSON: what JSON.stringify accepts, with its semantics (Dates become strings, undefined is dropped). */
function toJsonObject(params: unknown, what: string): Params | undefined {
  if (params === undefined || params === null) return undefined;
  if (typeof params !== "object" || Array.isArray(params)) {
    throw new TypeError(`${what} must be a JSON object, got ${Array.isArray(params) ? "an array" : typeof params}`);
  }
  return JSON.parse(JSON.stringify(params)) as Params;
}

function checkMethod(method: unknown, what: string): string {
  if (typeof method !== "string" || method === "") throw new TypeError(`${what} must be a non-empty string`);
  return method;
}

function envelope(r: { result?: Json; total?: number; next?: number; time?: Time }): CallResult {
  const out: CallResult = { result: r.result === undefined ? null : r.result };
  if (r.total !== undefined) out.total = r.total;
  if (r.next !== undefined) out.next = r.next;
  if (r.time !== undefined) out.time = r.time;
  return out;
}

function batchItem(r: BatchResult): BatchItem {
  if (r.error !== undefined) return { error: { code: r.error.code, description: r.error.description } };
  if (r.notExecuted) return { notExecuted: true };
  return envelope(r);
}

/** A client of one Bitrix24Service gateway. Thread-safe like the grpc-js client; close() when done. */
export class Client {
  private readonly stub: Bitrix24ServiceClient;
  private readonly healthStub: HealthClient;
  private readonly timeout: number;
  private readonly metadata: Record<string, string>;

  /** @param target the gateway's address, e.g. "127.0.0.1:50051" or "dns:///b24.example.com:443". */
  constructor(target: string, options: ClientOptions = {}) {
    const timeout = options.timeout ?? 60;
    if (typeof timeout !== "number" || !(timeout > 0)) {
      throw new TypeError(`timeout must be a positive number of seconds (or Infinity), got ${String(timeout)}`);
    }
    this.timeout = timeout;
    this.metadata = { ...(options.metadata ?? {}) };
    const credentials = options.credentials ?? grpc.credentials.createInsecure();
    this.stub = new Bitrix24ServiceClient(target, credentials, options.channelOptions ?? {});
    this.healthStub = new HealthClient(target, credentials, { channelOverride: this.stub.getChannel() });
  }

  /** Closes the channel; calls in flight fail with CANCELLED or UNAVAILABLE. */
  close(): void {
    this.stub.close();
  }

  /** Calls one REST method and returns its envelope. */
  async call(portal: PortalArg, method: string, params?: Params, options: CallOptions = {}): Promise<CallResult> {
    const request = {
      portal: toPortalRef(portal),
      method: checkMethod(method, "method"),
      params: toJsonObject(params, "params"),
    };
    return this.unary<CallResponse>((md, o, cb) => this.stub.call(request, md, o, cb), options).then(envelope);
  }

  /**
   * Runs commands through the portal's `batch` (more than 50 are split by the gateway).
   * Commands are {key: {method, params}} or [{key, method, params}]; later commands may
   * reference earlier ones as `$result[key][FIELD]`. Returns an object keyed like the
   * commands, in request order (JavaScript puts integer-like keys such as "1" first).
   */
  async batch(portal: PortalArg, commands: BatchCommands, options: BatchOptions = {}): Promise<Record<string, BatchItem>> {
    let list: Array<BatchCommandInput & { key: string }>;
    if (Array.isArray(commands)) {
      list = commands;
    } else if (commands !== null && typeof commands === "object") {
      list = Object.entries(commands).map(([key, c]) => ({ ...c, key }));
    } else {
      throw new TypeError("commands must be an object {key: {method, params}} or an array [{key, method, params}]");
    }
    const seen = new Set<string>();
    const wire: BatchCommand[] = list.map((c, i) => {
      if (c === null || typeof c !== "object") throw new TypeError(`command ${i} must be an object`);
      if (typeof c.key !== "string" || c.key === "") throw new TypeError(`command ${i} needs a non-empty string key`);
      if (seen.has(c.key)) throw new TypeError(`command key "${c.key}" is used twice`);
      seen.add(c.key);
      return { key: c.key, method: checkMethod(c.method, `method of command "${c.key}"`), params: toJsonObject(c.params, `params of command "${c.key}"`) };
    });
    const request = { portal: toPortalRef(portal), commands: wire, halt: options.halt ?? false };
    const response = await this.unary<BatchResponse>((md, o, cb) => this.stub.batch(request, md, o, cb), options);
    const out: Record<string, BatchItem> = {};
    for (const r of response.results) out[r.key] = batchItem(r);
    return out;
  }

  /**
   * Streams every item of a list method (crm.deal.list, crm.item.list, tasks.task.list, ...)
   * as parsed JSON objects: `for await (const deal of client.getAll(...))`. The stream
   * starts when the loop does; see GetAllStream for the cursor and flow control.
   */
  getAll<T = any>(portal: PortalArg, method: string, params?: Params, options: GetAllOptions = {}): GetAllStream<T> {
    const request = {
      portal: toPortalRef(portal),
      method: checkMethod(method, "method"),
      params: toJsonObject(params, "params"),
      limit: options.limit ?? 0,
      format: GetAllRequest_Format.FORMAT_JSON,
      cursor: options.cursor ?? "",
      maxParallelRanges: options.maxParallelRanges ?? 0,
    };
    if (!Number.isInteger(request.limit) || request.limit < 0) throw new TypeError("limit must be a non-negative integer");
    if (typeof request.cursor !== "string") throw new TypeError("cursor must be a string");
    const timeout = options.timeout ?? Infinity;
    this.callOptions(timeout); // refuses a bad timeout now rather than at the first iteration
    const stream: GetAllStream<T> = new GetAllStream<T>(() => {
      const call = this.stub.getAll(request, this.callMetadata(options.metadata), this.callOptions(timeout));
      options.signal?.addEventListener("abort", () => stream.cancel(), { once: true });
      return call;
    }, request.cursor);
    if (options.signal?.aborted) stream.cancel();
    return stream;
  }

  /** Stores a portal from an app installation (UI install POST or ONAPPINSTALL) and verifies its tokens. */
  async install(options: InstallOptions): Promise<InstallResult> {
    const { uiFields, onappinstallFields } = options;
    if ((uiFields === undefined) === (onappinstallFields === undefined)) {
      throw new TypeError("install() needs exactly one of uiFields and onappinstallFields");
    }
    const request: InstallRequest = {
      app: { clientId: options.clientId, clientSecret: options.clientSecret },
      ...(uiFields !== undefined ? { ui: { fields: { ...uiFields } } } : { onappinstall: { fields: { ...onappinstallFields! } } }),
    };
    return this.unary<InstallResponse>((md, o, cb) => this.stub.install(request, md, o, cb), options).then((r) => ({
      memberId: r.memberId,
      domain: r.domain,
      finishHtml: r.finishHtml,
    }));
  }

  /** The portals the gateway knows: installed apps and configured webhooks. */
  async listPortals(options: CallOptions = {}): Promise<PortalInfo[]> {
    return this.unary<ListPortalsResponse>((md, o, cb) => this.stub.listPortals({}, md, o, cb), options).then((r) =>
      r.portals.map((p) => ({
        id: p.id,
        domain: p.domain,
        kind: portalInfo_KindToJSON(p.kind),
        accessExpiresAt: p.accessExpiresAt,
        needsReinstall: p.needsReinstall,
      })),
    );
  }

  /** Forgets an installed portal; false when none with this member_id was stored. */
  async removePortal(memberId: string, options: CallOptions = {}): Promise<boolean> {
    const request = { memberId: checkMethod(memberId, "memberId") };
    return this.unary<RemovePortalResponse>((md, o, cb) => this.stub.removePortal(request, md, o, cb), options).then(
      (r) => r.removed,
    );
  }

  /** grpc.health.v1 Check: "SERVING", "NOT_SERVING", "SERVICE_UNKNOWN" or "UNKNOWN". */
  async health(service = "", options: CallOptions = {}): Promise<string> {
    const request = { service };
    return this.unary<HealthCheckResponse>((md, o, cb) => this.healthStub.check(request, md, o, cb), options).then((r) =>
      healthCheckResponse_ServingStatusToJSON(r.status),
    );
  }

  private callMetadata(extra?: Record<string, string>): grpc.Metadata {
    const md = new grpc.Metadata();
    for (const [k, v] of Object.entries({ ...this.metadata, ...(extra ?? {}) })) md.set(k, v);
    return md;
  }

  private callOptions(timeout: number): Partial<grpc.CallOptions> {
    if (typeof timeout !== "number" || !(timeout > 0)) {
      throw new TypeError(`timeout must be a positive number of seconds (or Infinity), got ${String(timeout)}`);
    }
    return timeout === Infinity ? {} : { deadline: new Date(Date.now() + timeout * 1000) };
  }

  private unary<Res>(start: StartUnary<Res>, options: CallOptions): Promise<Res> {
    const metadata = this.callMetadata(options.metadata);
    const callOptions = this.callOptions(options.timeout ?? this.timeout);
    const signal = options.signal;
    return new Promise<Res>((resolve, reject) => {
      if (signal?.aborted) {
        reject(signal.reason ?? new Error("aborted"));
        return;
      }
      const call = start(metadata, callOptions, (err, value) => {
        signal?.removeEventListener("abort", onAbort);
        if (err) reject(toClientError(err));
        else resolve(value);
      });
      function onAbort() {
        call.cancel();
      }
      signal?.addEventListener("abort", onAbort, { once: true });
    });
  }
}
