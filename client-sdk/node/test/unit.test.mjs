// Unit tests of the package as built (dist/, imported by its name): portal parsing, error
// classification, the proto/wrapper agreement, JSON mapping, batch shapes and GetAll's
// cursor, cancellation and flow control against an in-process fake gateway.
// No C++ binaries needed: `npm run test:unit`.
import { test, describe, before, after } from "node:test";
import assert from "node:assert/strict";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import {
  Bitrix24Error,
  Client,
  GetAllStream,
  LimitError,
  Portal,
  PortalNeedsReinstall,
  errorFromStatus,
  grpc,
  parsePortal,
  pb,
  toPortalRef,
} from "@bitrix24-service/client";
import { gatewayStatus, sleep, startFakeGateway, waitFor } from "./helpers.mjs";

const PROTO = fileURLToPath(new URL("../../../proto/bitrix24/v1/bitrix24.proto", import.meta.url));

describe("portal argument", () => {
  const hex = "0123456789abcdefABCDEF0123456789";
  const rows = [
    ["https://example.bitrix24.com/rest/1/abc123/", { webhookUrl: "https://example.bitrix24.com/rest/1/abc123/" }],
    ["http://127.0.0.1:8080/rest/1/code/", { webhookUrl: "http://127.0.0.1:8080/rest/1/code/" }],
    [hex, { memberId: hex }],
    ["d4c330da1b4abfd983ae1bcc0a4ca3bd", { memberId: "d4c330da1b4abfd983ae1bcc0a4ca3bd" }],
    [hex.slice(1), { name: hex.slice(1) }], // 31 digits
    [hex + "0", { name: hex + "0" }], // 33 digits
    ["0123456789abcdef0123456789abcdeg", { name: "0123456789abcdef0123456789abcdeg" }],
    ["sandbox", { name: "sandbox" }],
    ["ftp://example.com/", { name: "ftp://example.com/" }],
    ["HTTPS://EXAMPLE.COM/", { name: "HTTPS://EXAMPLE.COM/" }], // like the C++ client: the prefix is case-sensitive
    ["", { name: "" }],
  ];
  for (const [text, want] of rows) {
    test(`parsePortal(${JSON.stringify(text)})`, () => assert.deepEqual(parsePortal(text), want));
  }
  test("explicit constructors bypass parsing", () => {
    assert.deepEqual(Portal.named(hex), { name: hex });
    assert.deepEqual(Portal.member("abc"), { memberId: "abc" });
    assert.deepEqual(Portal.webhook("https://x.bitrix24.com/rest/1/c/"), { webhookUrl: "https://x.bitrix24.com/rest/1/c/" });
  });
  test("a PortalRef object must set exactly one field", () => {
    assert.deepEqual(toPortalRef({ name: "a" }), { name: "a" });
    assert.throws(() => toPortalRef({}), /exactly one of memberId, webhookUrl, name; got none/);
    assert.throws(() => toPortalRef({ name: "a", memberId: "b" }), /got memberId, name/);
    assert.throws(() => toPortalRef(null), TypeError);
    assert.throws(() => toPortalRef(42), TypeError);
  });
});

describe("errorFromStatus: one classification, a table", () => {
  const S = grpc.status;
  // [what, status fields, expected class, expected fields]
  const rows = [
    [
      "a Bitrix24 error",
      { code: S.PERMISSION_DENIED, details: "Bitrix24 ACCESS_DENIED from crm.deal.delete: Access denied!", reason: "ACCESS_DENIED", domain: "bitrix24",
        metadata: { error_description: "Access denied!", http_status: "403", method: "crm.deal.delete" } },
      Bitrix24Error,
      { code: "ACCESS_DENIED", description: "Access denied!", domain: "bitrix24", mayHaveExecuted: false, needsReinstall: false,
        httpStatus: 403, method: "crm.deal.delete", grpcCode: S.PERMISSION_DENIED,
        message: "PERMISSION_DENIED: Bitrix24 ACCESS_DENIED from crm.deal.delete: Access denied!" },
    ],
    [
      "the portal's empty code (UNSPECIFIED in domain bitrix24) is shown as \"\"",
      { code: S.NOT_FOUND, details: "Bitrix24 error from crm.deal.get: Not found", reason: "UNSPECIFIED", domain: "bitrix24",
        metadata: { error_description: "Not found", http_status: "400" } },
      Bitrix24Error,
      { code: "", description: "Not found", domain: "bitrix24", httpStatus: 400, message: "NOT_FOUND: Bitrix24 error from crm.deal.get: Not found" },
    ],
    [
      "UNSPECIFIED of the gateway's own domain stays a code",
      { code: S.INTERNAL, details: "x", reason: "UNSPECIFIED", domain: "bitrix24service" },
      Bitrix24Error,
      { code: "UNSPECIFIED", description: "x", domain: "bitrix24service", message: "INTERNAL: UNSPECIFIED: x" },
    ],
    [
      "no details at all: code \"\", description = the status message",
      { code: S.UNAVAILABLE, details: "No connection established" },
      Bitrix24Error,
      { code: "", description: "No connection established", domain: "", metadata: {}, httpStatus: undefined, method: undefined,
        message: "UNAVAILABLE: No connection established" },
    ],
    [
      "details that are not a google.rpc.Status are ignored",
      { code: S.INTERNAL, details: "boom", rawDetails: Buffer.from([0xff, 0xff, 0xff, 0x01]) },
      Bitrix24Error,
      { code: "", domain: "" },
    ],
    [
      "an empty error_description falls back to the status message",
      { code: S.INVALID_ARGUMENT, details: "host evil.example.com is not in security.allowed_hosts", reason: "HOST_NOT_ALLOWED",
        domain: "bitrix24service", metadata: { error_description: "" } },
      Bitrix24Error,
      { code: "HOST_NOT_ALLOWED", description: "host evil.example.com is not in security.allowed_hosts" },
    ],
    [
      "may_have_executed = \"true\"",
      { code: S.UNAVAILABLE, details: "connection reset; crm.deal.add changes data and may have been executed, so it was not retried",
        reason: "UPSTREAM_UNREACHABLE", domain: "bitrix24service", metadata: { may_have_executed: "true", method: "crm.deal.add" } },
      Bitrix24Error,
      { code: "UPSTREAM_UNREACHABLE", mayHaveExecuted: true, method: "crm.deal.add" },
    ],
    [
      "may_have_executed other than \"true\" is false",
      { code: S.UNAVAILABLE, details: "x", reason: "UPSTREAM_UNREACHABLE", domain: "bitrix24service", metadata: { may_have_executed: "TRUE" } },
      Bitrix24Error,
      { mayHaveExecuted: false },
    ],
    [
      "QUERY_LIMIT_EXCEEDED is a limit",
      { code: S.UNAVAILABLE, details: "Too many requests", reason: "QUERY_LIMIT_EXCEEDED", domain: "bitrix24", retrySeconds: 2 },
      LimitError,
      { code: "QUERY_LIMIT_EXCEEDED", retryAfter: 2 },
    ],
    [
      "OPERATION_TIME_LIMIT is a limit",
      { code: S.RESOURCE_EXHAUSTED, details: "method crm.deal.list has spent its operating-time budget", reason: "OPERATION_TIME_LIMIT",
        domain: "bitrix24service" },
      LimitError,
      { code: "OPERATION_TIME_LIMIT", retryAfter: undefined },
    ],
    [
      "DEADLINE_BEFORE_SEND is a limit",
      { code: S.DEADLINE_EXCEEDED, details: "crm.deal.add cannot be sent before the deadline", reason: "DEADLINE_BEFORE_SEND",
        domain: "bitrix24service" },
      LimitError,
      { code: "DEADLINE_BEFORE_SEND", mayHaveExecuted: false },
    ],
    [
      "DEADLINE_EXCEEDED without details (the client's own deadline) is a limit",
      { code: S.DEADLINE_EXCEEDED, details: "Deadline exceeded after 0.101s" },
      LimitError,
      { code: "", grpcCode: S.DEADLINE_EXCEEDED },
    ],
    [
      "a write in flight at the deadline: a limit that may have executed",
      { code: S.DEADLINE_EXCEEDED, details: "x", reason: "UPSTREAM_TIMEOUT", domain: "bitrix24service", metadata: { may_have_executed: "true" } },
      LimitError,
      { code: "UPSTREAM_TIMEOUT", mayHaveExecuted: true },
    ],
    [
      "RESOURCE_EXHAUSTED with another reason is not a limit",
      { code: S.RESOURCE_EXHAUSTED, details: "x", reason: "RESULT_TOO_LARGE", domain: "bitrix24service" },
      Bitrix24Error,
      { code: "RESULT_TOO_LARGE" },
    ],
    [
      "needs_reinstall = \"true\"",
      { code: S.FAILED_PRECONDITION, details: "portal abc must be reinstalled: the OAuth server rejected its refresh token",
        reason: "invalid_grant", domain: "bitrix24service", metadata: { needs_reinstall: "true", error_description: "Invalid refresh token" } },
      PortalNeedsReinstall,
      { code: "invalid_grant", needsReinstall: true, description: "Invalid refresh token" },
    ],
    [
      "needs_reinstall wins over a limit",
      { code: S.DEADLINE_EXCEEDED, details: "x", reason: "QUERY_LIMIT_EXCEEDED", domain: "bitrix24", metadata: { needs_reinstall: "true" } },
      PortalNeedsReinstall,
      { needsReinstall: true },
    ],
    [
      "a non-numeric http_status is left out",
      { code: S.UNAVAILABLE, details: "x", reason: "UPSTREAM_BAD_RESPONSE", domain: "bitrix24service", metadata: { http_status: "n/a" } },
      Bitrix24Error,
      { httpStatus: undefined, metadata: { http_status: "n/a" } },
    ],
  ];
  for (const [what, fields, cls, want] of rows) {
    test(what, () => {
      const err = errorFromStatus(gatewayStatus(fields));
      assert.ok(err instanceof Bitrix24Error, "every error is a Bitrix24Error");
      assert.ok(err instanceof Error);
      assert.equal(err.constructor, cls, `class: got ${err.constructor.name}, want ${cls.name}`);
      assert.equal(err.name, cls.name);
      for (const [k, v] of Object.entries(want)) assert.deepEqual(err[k], v, `field ${k}`);
    });
  }
  test("other detail types next to ErrorInfo are skipped", () => {
    const err = errorFromStatus(
      gatewayStatus({ code: grpc.status.NOT_FOUND, details: "d", reason: "ERROR_NOT_FOUND", domain: "bitrix24",
        extra: [{ typeUrl: "type.googleapis.com/google.rpc.DebugInfo", value: Buffer.from([1, 2, 3]) }] }),
    );
    assert.equal(err.code, "ERROR_NOT_FOUND");
  });
});

describe("proto and package agree", () => {
  const definition = pb.Bitrix24ServiceService;

  test("every rpc of bitrix24.v1.Bitrix24Service in the proto is in the generated definition", { skip: !existsSync(PROTO) && "no proto/ here" }, () => {
    const text = readFileSync(PROTO, "utf8").replace(/\/\/.*$/gm, "");
    const service = text.match(/service\s+Bitrix24Service\s*\{([\s\S]*?)\n\}/);
    assert.ok(service, "service Bitrix24Service not found in the proto");
    const rpcs = [...service[1].matchAll(/\brpc\s+(\w+)\s*\(/g)].map((m) => m[1]).sort();
    const generated = Object.values(definition).map((d) => d.path.replace("/bitrix24.v1.Bitrix24Service/", "")).sort();
    assert.deepEqual(generated, rpcs, "src/gen is stale: run npm run build");
  });

  test("every rpc of the generated definition has a wrapper method on Client", () => {
    const missing = Object.keys(definition).filter((name) => typeof Client.prototype[name] !== "function");
    assert.deepEqual(missing, [], `Client lacks wrappers for ${missing.join(", ")}`);
    assert.ok(Object.keys(definition).length >= 6);
  });

  // How each wrapper is invoked; a new rpc needs a wrapper and a row here.
  const invoke = {
    call: (c) => c.call("sandbox", "crm.deal.get", { id: 1 }),
    batch: (c) => c.batch("sandbox", { a: { method: "profile" } }),
    getAll: async (c) => {
      for await (const _ of c.getAll("sandbox", "crm.deal.list")) void _;
    },
    install: (c) => c.install({ uiFields: { AUTH_ID: "x" }, clientId: "id", clientSecret: "secret" }),
    listPortals: (c) => c.listPortals(),
    removePortal: (c) => c.removePortal("0123456789abcdef0123456789abcdef"),
  };

  test("every wrapper sends its own rpc", async () => {
    // Every rpc answers its response type's defaults (decoded from no bytes); streams end at once.
    const fake = await startFakeGateway(
      Object.fromEntries(Object.entries(definition).map(([name, def]) => [
        name, def.responseStream ? (call) => call.end() : (call, cb) => cb(null, def.responseDeserialize(Buffer.alloc(0))),
      ])),
    );
    const client = new Client(fake.target, { timeout: 5 });
    try {
      for (const [name, def] of Object.entries(definition)) {
        assert.ok(invoke[name], `no invocation of Client.${name} in this test: add one`);
        const before = fake.calls.length;
        await invoke[name](client);
        assert.deepEqual(fake.calls.slice(before).map((c) => c.path), [def.path], `Client.${name} sent the wrong rpc`);
      }
    } finally {
      client.close();
      await fake.stop();
    }
  });
});

describe("against a fake gateway", () => {
  let fake, client;
  const handlers = {};
  before(async () => {
    fake = await startFakeGateway(
      Object.fromEntries(Object.keys(pb.Bitrix24ServiceService).map((k) => [k, (call, cb) => handlers[k](call, cb)])),
    );
    client = new Client(fake.target, { timeout: 5, metadata: { "x-team": "crm" } });
  });
  after(async () => {
    client.close();
    fake.forceStop();
  });

  test("params go as JSON, results come back as plain values", async () => {
    handlers.call = (call, cb) =>
      cb(null, { result: call.request.params, total: 3, next: 50, time: { start: 1, finish: 2, duration: 1, processing: 0.5, operating: 0, operatingResetAt: 7 } });
    const r = await client.call("sandbox", "crm.deal.list", {
      a: 1, b: "x", c: [1, null, { d: true }], e: { f: 1.5 }, when: new Date(0), gone: undefined,
    });
    assert.deepEqual(r, {
      result: { a: 1, b: "x", c: [1, null, { d: true }], e: { f: 1.5 }, when: "1970-01-01T00:00:00.000Z" },
      total: 3, next: 50,
      time: { start: 1, finish: 2, duration: 1, processing: 0.5, operating: 0, operatingResetAt: 7 },
    });
    for (const value of ["text", 42, [1, "2"], null, false]) {
      handlers.call = (call, cb) => cb(null, { result: value });
      assert.deepEqual(await client.call("sandbox", "m"), { result: value });
    }
    await assert.rejects(client.call("sandbox", "m", [1, 2]), /params must be a JSON object, got an array/);
    await assert.rejects(client.call("sandbox", "m", { n: 1n }), /BigInt/);
    await assert.rejects(client.call("sandbox", ""), /method must be a non-empty string/);
  });

  test("metadata: the client's and the call's", async () => {
    handlers.call = (call, cb) => cb(null, { result: { team: call.metadata.get("x-team"), req: call.metadata.get("x-request-id") } });
    const r = await client.call("sandbox", "m", {}, { metadata: { "x-request-id": "r1" } });
    assert.deepEqual(r.result, { team: ["crm"], req: ["r1"] });
  });

  test("a failed call throws the classified error with the trailer's details", async () => {
    handlers.call = (call, cb) =>
      cb(gatewayStatus({ code: grpc.status.PERMISSION_DENIED, details: "Bitrix24 ACCESS_DENIED from crm.deal.delete: Access denied!",
        reason: "ACCESS_DENIED", domain: "bitrix24", metadata: { error_description: "Access denied!", http_status: "403" } }));
    const err = await client.call("sandbox", "crm.deal.delete", { id: 1 }).catch((e) => e);
    assert.ok(err instanceof Bitrix24Error && !(err instanceof LimitError));
    assert.equal(err.code, "ACCESS_DENIED");
    assert.equal(err.description, "Access denied!");
    assert.equal(err.httpStatus, 403);
    assert.equal(err.cause.code, grpc.status.PERMISSION_DENIED, "the grpc-js error is the cause");
  });

  test("the client's deadline: LimitError", async () => {
    handlers.call = () => {}; // never answers
    const t0 = Date.now();
    const err = await client.call("sandbox", "m", {}, { timeout: 0.2 }).catch((e) => e);
    assert.ok(err instanceof LimitError, `got ${err}`);
    assert.equal(err.grpcCode, grpc.status.DEADLINE_EXCEEDED);
    assert.equal(err.code, "");
    assert.ok(Date.now() - t0 < 3000);
  });

  test("an AbortSignal cancels a call", async () => {
    handlers.call = () => {};
    const ac = new AbortController();
    setTimeout(() => ac.abort(), 50);
    const err = await client.call("sandbox", "m", {}, { signal: ac.signal }).catch((e) => e);
    assert.ok(err instanceof Bitrix24Error);
    assert.equal(err.grpcCode, grpc.status.CANCELLED);
  });

  test("batch: both command shapes, results in request order", async () => {
    let seen;
    handlers.batch = (call, cb) => {
      seen = call.request;
      cb(null, {
        results: [
          { key: "z", result: { ID: "5" }, total: 3, time: { start: 1, finish: 1, duration: 0, processing: 0, operating: 0, operatingResetAt: 0 } },
          { key: "a", error: { code: "", description: "Not found" } },
          { key: "m", notExecuted: true },
          { key: "n", result: null },
        ],
        httpRequests: 1,
      });
    };
    const want = {
      z: { result: { ID: "5" }, total: 3, time: { start: 1, finish: 1, duration: 0, processing: 0, operating: 0, operatingResetAt: 0 } },
      a: { error: { code: "", description: "Not found" } },
      m: { notExecuted: true },
      n: { result: null },
    };
    const commands = [
      { key: "z", method: "crm.deal.get", params: { id: 5 } },
      { key: "a", method: "crm.deal.get", params: { id: "$result[z][ID]" } },
      { key: "m", method: "crm.deal.delete" },
      { key: "n", method: "x" },
    ];
    const r1 = await client.batch("sandbox", commands, { halt: true });
    assert.deepEqual(r1, want);
    assert.deepEqual(Object.keys(r1), ["z", "a", "m", "n"]);
    assert.equal(seen.halt, true);
    assert.deepEqual(seen.commands.map((c) => [c.key, c.method, c.params]), [
      ["z", "crm.deal.get", { id: 5 }], ["a", "crm.deal.get", { id: "$result[z][ID]" }], ["m", "crm.deal.delete", undefined], ["n", "x", undefined],
    ]);
    const asObject = Object.fromEntries(commands.map(({ key, ...c }) => [key, c]));
    const first = seen;
    assert.deepEqual(await client.batch("sandbox", asObject), want);
    assert.deepEqual(seen.commands, first.commands, "both shapes send the same commands");
    assert.equal(seen.halt, false);
    const before = fake.calls.length;
    await assert.rejects(client.batch("sandbox", [{ key: "a", method: "m" }, { key: "a", method: "m" }]), /command key "a" is used twice/);
    await assert.rejects(client.batch("sandbox", [{ method: "m" }]), /command 0 needs a non-empty string key/);
    await assert.rejects(client.batch("sandbox", { a: { params: {} } }), /method of command "a" must be a non-empty string/);
    assert.equal(fake.calls.length, before, "invalid commands are refused before any RPC");
  });

  test("install needs exactly one payload", async () => {
    await assert.rejects(client.install({ clientId: "a", clientSecret: "b" }), /exactly one of uiFields and onappinstallFields/);
    await assert.rejects(client.install({ uiFields: {}, onappinstallFields: {}, clientId: "a", clientSecret: "b" }), TypeError);
  });

  // GetAll: messages of `per` items with IDs counting up; every third message has an empty
  // cursor (a chunk split for size), the others cursor "c<i>".
  const PER = 10;
  const cursorOf = (i) => (i % 3 === 1 ? "" : `c${i}`);
  function streamingHandler({ messages, itemBytes = 20, stats, failAfter }) {
    return (call) => {
      stats.request = call.request;
      stats.written = 0;
      stats.cancelled = false;
      call.on("cancelled", () => (stats.cancelled = true));
      let i = 0;
      const pad = "x".repeat(itemBytes);
      const writeMore = () => {
        while (i < messages && !stats.cancelled) {
          if (failAfter !== undefined && i === failAfter) {
            call.emit("error", gatewayStatus({ code: grpc.status.RESOURCE_EXHAUSTED, details: "an item of the list would be a 5000000-byte gRPC message",
              reason: "RESULT_TOO_LARGE", domain: "bitrix24service" }));
            return;
          }
          const items = [];
          for (let j = 0; j < PER; j++) items.push(Buffer.from(JSON.stringify({ ID: String(i * PER + j + 1), pad })));
          const more = call.write({ items: [], itemsJson: items, cursor: cursorOf(i), itemsSent: (i + 1) * PER, httpRequests: i + 1 });
          i++;
          stats.written = i;
          if (!more) return call.once("drain", writeMore);
        }
        if (!stats.cancelled) call.end();
      };
      writeMore();
    };
  }

  test("getAll: items, cursor published with the last item of each message, counters", async () => {
    const stats = {};
    handlers.getAll = streamingHandler({ messages: 7, stats });
    const s = client.getAll("sandbox", "crm.deal.list", { select: ["ID"] }, { cursor: "start", limit: 70, maxParallelRanges: 2 });
    assert.ok(s instanceof GetAllStream);
    assert.equal(s.cursor, "start");
    let n = 0;
    let expected = "start";
    for await (const item of s) {
      const i = Math.floor(n / PER), last = n % PER === PER - 1;
      assert.equal(item.ID, String(n + 1));
      if (last && cursorOf(i)) expected = cursorOf(i);
      assert.equal(s.cursor, expected, `cursor after item ${n + 1}`);
      assert.equal(s.itemsSent, (i + 1) * PER);
      assert.equal(s.httpRequests, i + 1);
      n++;
    }
    assert.equal(n, 70);
    assert.equal(s.cursor, "c6");
    assert.deepEqual(
      { method: stats.request.method, params: stats.request.params, limit: stats.request.limit, cursor: stats.request.cursor,
        format: stats.request.format, maxParallelRanges: stats.request.maxParallelRanges },
      { method: "crm.deal.list", params: { select: ["ID"] }, limit: 70, cursor: "start", format: 1, maxParallelRanges: 2 },
    );
    assert.throws(() => s[Symbol.asyncIterator](), /can be iterated only once/);
  });

  test("getAll honours flow control: a slow consumer pauses the stream", async () => {
    const stats = {};
    const messages = 1000; // 1000 x 10 x ~2 KB = 20 MB if it were all buffered
    handlers.getAll = streamingHandler({ messages, itemBytes: 2000, stats });
    const s = client.getAll("sandbox", "crm.deal.list");
    let n = 0, whilePaused;
    for await (const item of s) {
      if (n === 0) {
        await sleep(400); // a slow consumer: the gateway must stop being able to write
        whilePaused = stats.written;
      }
      assert.equal(item.ID, String(n + 1));
      n++;
    }
    assert.equal(n, messages * PER);
    assert.ok(whilePaused < 100, `the fake gateway wrote ${whilePaused} of ${messages} messages while the consumer held the first item`);
  });

  test("breaking out of for-await cancels the stream", async () => {
    const stats = {};
    handlers.getAll = streamingHandler({ messages: 1000, itemBytes: 2000, stats });
    const s = client.getAll("sandbox", "crm.deal.list");
    let n = 0;
    for await (const _ of s) if (++n === 15) break;
    await waitFor(() => stats.cancelled, 3000, "the server to see the cancellation");
    assert.ok(s.isCancelled);
    assert.equal(s.cursor, "c0", "the first message was consumed completely, the second not");
  });

  test("cancel() while the loop waits ends it without an error", async () => {
    const stats = {};
    handlers.getAll = (call) => {
      call.on("cancelled", () => (stats.cancelled = true));
      call.write({ items: [], itemsJson: [Buffer.from('{"ID":"1"}')], cursor: "c0", itemsSent: 1, httpRequests: 1 });
      // then nothing: the gateway waits for the portal
    };
    const s = client.getAll("sandbox", "crm.deal.list");
    const got = [];
    setTimeout(() => s.cancel(), 200);
    for await (const item of s) got.push(item.ID);
    assert.deepEqual(got, ["1"]);
    await waitFor(() => stats.cancelled, 3000, "the server to see the cancellation");
  });

  test("an AbortSignal ends a GetAll loop", async () => {
    const stats = {};
    handlers.getAll = streamingHandler({ messages: 1000, itemBytes: 2000, stats });
    const ac = new AbortController();
    let n = 0;
    for await (const _ of client.getAll("sandbox", "crm.deal.list", {}, { signal: ac.signal })) if (++n === 5) ac.abort();
    assert.ok(n >= 5 && n < 10000);
    await waitFor(() => stats.cancelled, 3000, "the server to see the cancellation");
  });

  test("a stream that fails throws the classified error after the items before it", async () => {
    const stats = {};
    handlers.getAll = streamingHandler({ messages: 5, stats, failAfter: 3 });
    const s = client.getAll("sandbox", "crm.deal.list");
    const ids = [];
    const err = await (async () => {
      for await (const item of s) ids.push(item.ID);
    })().catch((e) => e);
    assert.ok(err instanceof Bitrix24Error, `got ${err}`);
    assert.equal(err.code, "RESULT_TOO_LARGE");
    assert.equal(err.grpcCode, grpc.status.RESOURCE_EXHAUSTED);
    assert.equal(ids.length, 3 * PER);
    assert.equal(s.cursor, "c2");
  });

  test("getAll validates before sending", () => {
    assert.throws(() => client.getAll("sandbox", "crm.deal.list", {}, { limit: -1 }), /limit must be a non-negative integer/);
    assert.throws(() => client.getAll("sandbox", ""), /method must be a non-empty string/);
    assert.throws(() => client.getAll("sandbox", "crm.deal.list", {}, { timeout: 0 }), /timeout must be a positive number/);
  });
});
