// Helpers shared by the tests: google.rpc.Status trailers, a fake gateway, small utilities.
import { grpc, pb, rpc, rpcStatus } from "@bitrix24-service/client";

/** grpc-status-details-bin bytes: a google.rpc.Status with an ErrorInfo (and a RetryInfo). */
export function statusDetails({ code, message = "", reason, domain, metadata = {}, retrySeconds, extra = [] }) {
  const details = [...extra];
  if (reason !== undefined) {
    details.push({
      typeUrl: "type.googleapis.com/google.rpc.ErrorInfo",
      value: Buffer.from(rpc.ErrorInfo.encode({ reason, domain: domain ?? "", metadata }).finish()),
    });
  }
  if (retrySeconds !== undefined) {
    details.push({
      typeUrl: "type.googleapis.com/google.rpc.RetryInfo",
      value: Buffer.from(rpc.RetryInfo.encode({ retryDelay: { seconds: retrySeconds, nanos: 0 } }).finish()),
    });
  }
  return Buffer.from(rpcStatus.Status.encode({ code, message, details }).finish());
}

/** A grpc-js StatusObject as the gateway sends it (trailer metadata with the details). */
export function gatewayStatus(fields) {
  const metadata = new grpc.Metadata();
  if (fields.rawDetails !== undefined) metadata.set("grpc-status-details-bin", fields.rawDetails);
  else if (fields.reason !== undefined || fields.retrySeconds !== undefined) {
    metadata.set("grpc-status-details-bin", statusDetails({ ...fields, message: fields.details }));
  }
  return { code: fields.code, details: fields.details ?? "", metadata };
}

/**
 * A fake Bitrix24Service on 127.0.0.1 built from the generated service definition:
 * `handlers` maps the definition's method names (call, batch, getAll, ...) to grpc-js
 * handlers; `calls` records every RPC path it served.
 */
export async function startFakeGateway(handlers) {
  const server = new grpc.Server();
  const calls = [];
  const impl = {};
  for (const [name, def] of Object.entries(pb.Bitrix24ServiceService)) {
    impl[name] = (call, callback) => {
      calls.push({ path: def.path, request: call.request, metadata: call.metadata });
      const handler = handlers[name];
      if (!handler) {
        const err = { code: grpc.status.UNIMPLEMENTED, details: `fake gateway: no handler for ${name}` };
        return def.responseStream ? call.emit("error", err) : callback(err);
      }
      return handler(call, callback);
    };
  }
  server.addService(pb.Bitrix24ServiceService, impl);
  const port = await new Promise((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  return {
    target: `127.0.0.1:${port}`,
    calls,
    stop: () => new Promise((resolve) => server.tryShutdown(() => resolve())),
    forceStop: () => server.forceShutdown(),
  };
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Waits until `predicate()` is true (polling), or fails after `ms`. */
export async function waitFor(predicate, ms, what) {
  const end = Date.now() + ms;
  while (!predicate()) {
    if (Date.now() > end) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(10);
  }
}
