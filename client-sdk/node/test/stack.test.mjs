// Integration tests against the REAL gateway and the portal emulator (test/stack.mjs), one
// stack per run. The binaries: B24_SERVICE_BIN, B24_EMULATOR_BIN (default: ../../build/...).
// The examples run as child processes from B24_EXAMPLES_DIR (run-tests.sh: a scratch
// project with the packed package installed), else from ./examples (the package itself).
import { test, before, after } from "node:test";
import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { existsSync, readFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { join } from "node:path";
import { Bitrix24Error, Client, LimitError, Portal, PortalNeedsReinstall, grpc } from "@bitrix24-service/client";
import { httpJson, startStack } from "./stack.mjs";

const EXAMPLES = process.env.B24_EXAMPLES_DIR || fileURLToPath(new URL("../examples/", import.meta.url));
const README = fileURLToPath(new URL("../README.md", import.meta.url));
const DEALS = 10000;

let stack, client;

before(async () => {
  stack = await startStack();
  client = new Client(stack.target, { timeout: 30 });
});

after(async () => {
  client?.close();
  await stack?.stop();
});

/** Fails with the stack's logs attached, so a CI failure explains itself. */
async function withLogs(fn) {
  try {
    await fn();
  } catch (err) {
    err.message += `\n${stack.logs().slice(-6000)}`;
    throw err;
  }
}

const emulatorStats = async () => (await httpJson("GET", stack.emu.stats_url)).portals["0"];
const faults = (body) => httpJson(body ? "POST" : "DELETE", `${stack.emu.portal_url}emulator/faults`, body);

function runExample(file, args = [], env = {}) {
  const path = join(EXAMPLES, file);
  assert.ok(existsSync(path), `${path} not found`);
  return new Promise((resolve, reject) => {
    execFile(
      process.execPath,
      [path, ...args],
      {
        cwd: EXAMPLES,
        env: { ...process.env, B24_TARGET: stack.target, B24_PORTAL: "sandbox", ...env },
        maxBuffer: 64 << 20,
        timeout: 60000,
      },
      (err, stdout, stderr) => {
        if (err) reject(new Error(`${file} failed (${err.code ?? err.signal}): ${stderr}\n${stdout.slice(-2000)}`));
        else resolve({ stdout, stderr });
      },
    );
  });
}

const exactIds = () => new Set(Array.from({ length: DEALS }, (_, i) => String(i + 1)));
function assertExactSet(ids, what) {
  const want = exactIds();
  const missing = [...want].filter((id) => !ids.has(id));
  const extra = [...ids].filter((id) => !want.has(id));
  assert.deepEqual({ missing: missing.slice(0, 10), extra: extra.slice(0, 10), size: ids.size },
    { missing: [], extra: [], size: DEALS }, what);
}

test("health: SERVING", () => withLogs(async () => assert.equal(await client.health(), "SERVING")));

test("Call crm.deal.get 42, by webhook name, URL and Portal.webhook", () =>
  withLogs(async () => {
    const r = await client.call("sandbox", "crm.deal.get", { id: 42 });
    assert.equal(r.result.ID, "42");
    assert.equal(r.result.TITLE, "Deal 42");
    assert.equal(typeof r.time?.start, "number");
    assert.ok(r.time.operatingResetAt > 0);
    const byUrl = await client.call(stack.emu.webhook_url, "crm.deal.get", { id: "42" });
    assert.deepEqual(byUrl.result, r.result);
    const byRef = await client.call(Portal.webhook(stack.emu.webhook_url), "crm.deal.get", { id: 42 });
    assert.equal(byRef.result.ID, "42");
    const list = await client.call("sandbox", "crm.deal.list", { order: { ID: "ASC" }, select: ["ID"] });
    assert.equal(list.result.length, 50);
    assert.equal(list.next, 50);
    assert.equal(list.total, DEALS);
  }));

test("Batch: command b uses $result[a][ID]; halt stops after a failure", () =>
  withLogs(async () => {
    const r = await client.batch("sandbox", {
      a: { method: "crm.deal.get", params: { id: 4242 } },
      b: { method: "crm.deal.list", params: { filter: { ">ID": "$result[a][ID]" }, order: { ID: "ASC" }, select: ["ID"] } },
      c: { method: "crm.deal.get", params: { id: "$result[a][ID]" } },
    });
    assert.deepEqual(Object.keys(r), ["a", "b", "c"]);
    assert.equal(r.a.result.ID, "4242");
    assert.equal(r.b.result[0].ID, "4243", "the reference was resolved to a's ID");
    assert.equal(r.b.total, DEALS - 4242);
    assert.equal(r.c.result.ID, "4242");
    const halted = await client.batch(
      "sandbox",
      [
        { key: "ok", method: "crm.deal.get", params: { id: 1 } },
        { key: "denied", method: "crm.deal.delete", params: { id: 1 } },
        { key: "later", method: "crm.deal.get", params: { id: 2 } },
      ],
      { halt: true },
    );
    assert.equal(halted.ok.result.ID, "1");
    assert.equal(halted.denied.error.code, "ACCESS_DENIED");
    assert.match(halted.denied.error.description, /Access denied/);
    assert.deepEqual(halted.later, { notExecuted: true });
  }));

test("GetAll: 10,000 deals, exactly IDs 1..10000, no duplicates, http_requests reported", () =>
  withLogs(async () => {
    // The seed, checked rather than assumed: 10,000 deals, lowest ID 1, highest 10000.
    const asc = await client.call("sandbox", "crm.deal.list", { order: { ID: "ASC" }, select: ["ID"] });
    const desc = await client.call("sandbox", "crm.deal.list", { order: { ID: "DESC" }, select: ["ID"] });
    assert.equal(asc.total, DEALS, "the emulator was seeded with --deals=10000");
    assert.equal(asc.result[0].ID, "1");
    assert.equal(desc.result[0].ID, String(DEALS));

    const before = await emulatorStats();
    const s = client.getAll("sandbox", "crm.deal.list", { select: ["ID", "TITLE"] });
    const ids = new Set();
    const duplicates = [];
    for await (const deal of s) {
      if (ids.has(deal.ID)) duplicates.push(deal.ID);
      ids.add(deal.ID);
      assert.equal(deal.TITLE, `Deal ${deal.ID}`);
    }
    assert.deepEqual(duplicates, [], "one stream sends every item once");
    assertExactSet(ids, "the export");
    assert.equal(s.itemsSent, DEALS);
    assert.notEqual(s.cursor, "");
    const after = await emulatorStats();
    assert.ok(s.httpRequests > 0, "GetAllResponse.http_requests is filled");
    assert.equal(s.httpRequests, after.http_requests - before.http_requests, "http_requests = what the portal received");
    assert.ok(s.httpRequests < DEALS / 50, `${s.httpRequests} HTTP requests for ${DEALS} deals: fewer than one per page of 50`);
  }));

test("GetAll: resume from the cursor of a cancelled stream loses nothing", () =>
  withLogs(async () => {
    const first = client.getAll("sandbox", "crm.deal.list", { select: ["ID"] });
    const seen = new Set();
    let saved = "";
    for await (const deal of first) {
      seen.add(deal.ID);
      saved = first.cursor; // saved after handling each item, as a consumer would persist it
      if (seen.size >= 3000) break; // cancels the stream
    }
    assert.ok(first.isCancelled);
    assert.equal(seen.size, 3000);
    assert.notEqual(saved, "", "a cursor arrived within the first 3,000 items");

    const second = client.getAll("sandbox", "crm.deal.list", { select: ["ID"] }, { cursor: saved });
    const resumed = [];
    for await (const deal of second) resumed.push(deal.ID);
    assert.equal(new Set(resumed).size, resumed.length, "no duplicates within the resumed stream");
    const union = new Set([...seen, ...resumed]);
    assertExactSet(union, "first part + resumed part");
    const again = resumed.filter((id) => seen.has(id)).length;
    assert.ok(resumed.length < DEALS, `the resume started over (${resumed.length} items)`);
    assert.ok(again < 3000, `${again} items came again: only those of the partly consumed message may`);
  }));

test("GetAll: one range in ID order, a limit, and a cursor of other params refused", () =>
  withLogs(async () => {
    const s = client.getAll("sandbox", "crm.deal.list", { select: ["ID"] }, { maxParallelRanges: 1, limit: 120 });
    const ids = [];
    for await (const d of s) ids.push(Number(d.ID));
    assert.deepEqual(ids, Array.from({ length: 120 }, (_, i) => i + 1));

    let cursor = "";
    const t = client.getAll("sandbox", "crm.deal.list", { select: ["ID"] });
    for await (const _ of t) if ((cursor = t.cursor)) break;
    const other = client.getAll("sandbox", "crm.deal.list", { select: ["ID", "TITLE"] }, { cursor });
    const err = await (async () => {
      for await (const _ of other) void _;
    })().catch((e) => e);
    assert.ok(err instanceof Bitrix24Error, `got ${err}`);
    assert.equal(err.code, "INVALID_CURSOR");
    assert.equal(err.grpcCode, grpc.status.INVALID_ARGUMENT);
    assert.equal(err.domain, "bitrix24service");
  }));

test("errors: a denied method is ACCESS_DENIED, PERMISSION_DENIED, not executed", () =>
  withLogs(async () => {
    const err = await client.call("sandbox", "crm.deal.delete", { id: 1 }).catch((e) => e);
    assert.ok(err instanceof Bitrix24Error && !(err instanceof LimitError) && !(err instanceof PortalNeedsReinstall), `got ${err}`);
    assert.equal(err.code, "ACCESS_DENIED");
    assert.equal(err.grpcCode, grpc.status.PERMISSION_DENIED);
    assert.equal(err.mayHaveExecuted, false);
    assert.equal(err.domain, "bitrix24");
    assert.equal(err.httpStatus, 403);
    assert.equal(err.method, "crm.deal.delete");
    assert.match(err.description, /Access denied/);
    assert.match(err.message, /^PERMISSION_DENIED: .*ACCESS_DENIED/);
    // and the deal is still there
    assert.equal((await client.call("sandbox", "crm.deal.get", { id: 1 })).result.ID, "1");
  }));

test("errors: the portal's empty error code is \"\"", () =>
  withLogs(async () => {
    const err = await client.call("sandbox", "crm.deal.get", { id: 99999999 }).catch((e) => e);
    assert.ok(err instanceof Bitrix24Error, `got ${err}`);
    assert.equal(err.code, "");
    assert.equal(err.domain, "bitrix24");
    assert.equal(err.metadata.error_description, err.description);
    assert.ok(err.description.length > 0);
  }));

test("errors: a too-short deadline is a LimitError", () =>
  withLogs(async () => {
    const err = await client.call("sandbox", "crm.deal.get", { id: 1 }, { timeout: 0.04 }).catch((e) => e);
    assert.ok(err instanceof LimitError, `got ${err}`);
    assert.equal(err.grpcCode, grpc.status.DEADLINE_EXCEEDED);
    // Normally the gateway answers first (40 ms < http.min_attempt_time); on a very slow
    // machine the client's own deadline may fire first, without details.
    assert.ok(["DEADLINE_BEFORE_SEND", ""].includes(err.code), `code ${err.code}`);
    assert.equal(err.mayHaveExecuted, false);
  }));

test("errors: a host outside security.allowed_hosts is the gateway's HOST_NOT_ALLOWED", () =>
  withLogs(async () => {
    const err = await client.call("https://evil.example.com/rest/1/abc/", "profile").catch((e) => e);
    assert.ok(err instanceof Bitrix24Error, `got ${err}`);
    assert.equal(err.code, "HOST_NOT_ALLOWED");
    assert.equal(err.domain, "bitrix24service");
    assert.equal(err.grpcCode, grpc.status.INVALID_ARGUMENT);
  }));

// ONAPPINSTALL fields for the emulator's installation of the app.
function onAppInstall(refreshToken, expiresIn) {
  const { emu } = stack;
  return {
    event: "ONAPPINSTALL",
    "auth[access_token]": emu.access_token,
    "auth[refresh_token]": refreshToken,
    "auth[member_id]": emu.member_id,
    "auth[domain]": new URL(emu.portal_url).host,
    "auth[client_endpoint]": `${emu.portal_url}rest/`,
    "auth[server_endpoint]": emu.server_endpoint,
    "auth[application_token]": emu.application_token,
    "auth[expires_in]": String(expiresIn),
  };
}

test("Install, ListPortals, and PortalNeedsReinstall after a rejected refresh token", () =>
  withLogs(async () => {
    const { emu } = stack;
    const app = { clientId: emu.client_id, clientSecret: stack.clientSecret };
    const installed = await client.install({ onappinstallFields: onAppInstall(emu.refresh_token, 3600), ...app });
    assert.deepEqual(installed, { memberId: emu.member_id, domain: new URL(emu.portal_url).host, finishHtml: "" });
    assert.equal((await client.call(emu.member_id, "crm.deal.get", { id: 7 })).result.ID, "7", "an OAuth call by member_id");
    let portals = await client.listPortals();
    assert.deepEqual(portals.find((p) => p.id === emu.member_id)?.kind, "KIND_OAUTH");
    assert.deepEqual(portals.find((p) => p.id === "sandbox")?.kind, "KIND_WEBHOOK");

    // Reinstalled with a refresh token the OAuth server does not know and an access token
    // about to expire: the gateway's refresh is rejected (invalid_grant).
    await client.install({ onappinstallFields: onAppInstall("not-a-refresh-token", 1), ...app });
    const err = await client.call(Portal.member(emu.member_id), "crm.deal.get", { id: 7 }).catch((e) => e);
    assert.ok(err instanceof PortalNeedsReinstall, `got ${err}`);
    assert.equal(err.needsReinstall, true);
    assert.equal(err.grpcCode, grpc.status.FAILED_PRECONDITION);
    assert.equal(err.code, "invalid_grant");
    portals = await client.listPortals();
    assert.equal(portals.find((p) => p.id === emu.member_id)?.needsReinstall, true);
  }));

test("example export-deals (the README's snippet): every deal as a JSON line", () =>
  withLogs(async () => {
    const source = readFileSync(join(EXAMPLES, "export-deals.mjs"), "utf8").trim();
    assert.equal(source.split("\n").length, 5, "the snippet is five lines");
    assert.ok(readFileSync(README, "utf8").includes(source), "README.md shows examples/export-deals.mjs verbatim");
    const { stdout } = await runExample("export-deals.mjs");
    const lines = stdout.trimEnd().split("\n");
    assert.equal(lines.length, DEALS);
    const ids = new Set(lines.map((l) => JSON.parse(l).ID));
    assertExactSet(ids, "export-deals output");
    assert.deepEqual(Object.keys(JSON.parse(lines[0])).sort(), ["ID", "TITLE"]);
  }));

test("example batch-reference", () =>
  withLogs(async () => {
    const { stdout } = await runExample("batch-reference.mjs", ["4242"]);
    assert.match(stdout, /^a: deal 4242 "Deal 4242"$/m);
    assert.match(stdout, /^b: 50 deals after it, IDs 4243\.\.4292 \(total 5758, next 50\)$/m);
  }));

test("example errors: Bitrix24Error, LimitError and the reinstall branch", () =>
  withLogs(async () => {
    const { stdout } = await runExample("errors.mjs", [], { B24_REINSTALL_PORTAL: stack.emu.member_id });
    assert.match(stdout, /^denied method: Bitrix24Error ACCESS_DENIED \(gRPC 7, bitrix24\): Access denied.* \(mayHaveExecuted=false, http 403, method crm\.deal\.delete\)$/m);
    assert.match(stdout, /^too-short deadline: LimitError (DEADLINE_BEFORE_SEND|\(no code\)): .* -> retry later or allow more time \(mayHaveExecuted=false\)$/m);
    assert.match(stdout, /^portal needing reinstall: PortalNeedsReinstall invalid_grant: .* -> ask the portal to reinstall the app$/m);
    const plain = await runExample("errors.mjs", [], { B24_REINSTALL_PORTAL: "" });
    assert.match(plain.stdout, /^portal needing reinstall: skipped/m);
  }));

test("RemovePortal: true once, then false", () =>
  withLogs(async () => {
    assert.equal(await client.removePortal(stack.emu.member_id), true);
    assert.equal(await client.removePortal(stack.emu.member_id), false);
    assert.equal((await client.listPortals()).some((p) => p.id === stack.emu.member_id), false);
  }));

// Writes last: they add deals, which the exports above count.
test("errors: crm.deal.add dropped after it ran: mayHaveExecuted, and the deal exists", () =>
  withLogs(async () => {
    await faults(); // none left over
    const before = await emulatorStats();
    await faults({ kind: "drop_after_execute", method: "crm.deal.add", count: 1 });
    const title = `node-client ${process.pid} ${Date.now()}`;
    try {
      const err = await client.call("sandbox", "crm.deal.add", { fields: { TITLE: title } }).catch((e) => e);
      assert.ok(err instanceof Bitrix24Error, `got ${err}`);
      assert.equal(err.mayHaveExecuted, true);
      assert.equal(err.grpcCode, grpc.status.UNAVAILABLE);
      assert.equal(err.code, "UPSTREAM_UNREACHABLE");
      assert.equal(err.method, "crm.deal.add");
    } finally {
      await faults();
    }
    const after = await emulatorStats();
    assert.equal(after.faults - before.faults, 1, "the fault was applied once");
    assert.equal((after.executed_by_method["crm.deal.add"] ?? 0) - (before.executed_by_method["crm.deal.add"] ?? 0), 1,
      "the gateway did not repeat the write");
    const found = await client.call("sandbox", "crm.deal.list", { filter: { TITLE: title }, select: ["ID", "TITLE"] });
    assert.equal(found.result.length, 1, "the deal was created although the call failed");
    assert.equal(found.result[0].TITLE, title);
  }));
