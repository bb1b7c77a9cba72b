// The real stack for the integration tests: the portal emulator and the gateway binary.
import { spawn } from "node:child_process";
import { randomBytes } from "node:crypto";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { request } from "node:http";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

const BUILD = fileURLToPath(new URL("../../../build/", import.meta.url));
export const EMULATOR_BIN = process.env.B24_EMULATOR_BIN || join(BUILD, "tests/testing/b24-emulator");
export const SERVICE_BIN = process.env.B24_SERVICE_BIN || join(BUILD, "service/bitrix24-service");

/** Keeps the last `limit` characters a child wrote, for failure messages. */
function tail(limit = 16384) {
  let text = "";
  return {
    add(chunk) {
      text = (text + chunk).slice(-limit);
    },
    get text() {
      return text;
    },
  };
}

/** Resolves with the first match of `pattern` in what `stream` writes; keeps draining after it. */
function waitForLine(child, stream, pattern, ms, what, log) {
  return new Promise((resolve, reject) => {
    let buffer = "";
    const timer = setTimeout(() => finish(new Error(`${what}: no ${pattern} within ${ms} ms; it wrote:\n${log.text}`)), ms);
    const onData = (chunk) => {
      buffer += chunk;
      const m = buffer.match(pattern);
      if (m) finish(null, m);
      else if (buffer.length > 1 << 20) buffer = buffer.slice(-4096);
    };
    const onExit = (code, signal) => finish(new Error(`${what} exited (${signal ?? code}) before ${pattern}; it wrote:\n${log.text}`));
    function finish(err, m) {
      clearTimeout(timer);
      stream.off("data", onData);
      child.off("exit", onExit);
      if (err) reject(err);
      else resolve(m);
    }
    stream.on("data", onData);
    child.on("exit", onExit);
  });
}

function startChild(bin, args, what) {
  if (!existsSync(bin)) throw new Error(`${what} binary ${bin} not found (build the project, or set B24_EMULATOR_BIN / B24_SERVICE_BIN)`);
  const child = spawn(bin, args, { stdio: ["ignore", "pipe", "pipe"] });
  const log = tail();
  child.stdout.setEncoding("utf8");
  child.stderr.setEncoding("utf8");
  // Always drained: a child blocked on a full pipe would stall the tests.
  child.stdout.on("data", (c) => log.add(c));
  child.stderr.on("data", (c) => log.add(c));
  child.on("error", (err) => log.add(`\n[spawn error: ${err.message}]\n`));
  return { child, log };
}

async function stopChild(p, ms = 10000) {
  if (!p || p.child.exitCode !== null || p.child.signalCode !== null) return;
  const exited = new Promise((resolve) => p.child.once("exit", resolve));
  p.child.kill("SIGTERM");
  const timer = setTimeout(() => p.child.kill("SIGKILL"), ms);
  await exited;
  clearTimeout(timer);
}

/**
 * Starts the emulator (10,000 deals, no limits, crm.deal.delete denied, an OAuth app) and the
 * gateway in front of it, with the webhook named "sandbox". stop() ends both with SIGTERM.
 */
export async function startStack() {
  const dir = mkdtempSync(join(tmpdir(), "b24-node-test-"));
  const clientSecret = randomBytes(16).toString("hex");
  const procs = [];
  const killAll = () => procs.forEach((p) => p.child.exitCode === null && p.child.kill("SIGKILL"));
  process.once("exit", killAll);
  try {
    const emulator = startChild(
      EMULATOR_BIN,
      ["--deals=10000", "--no-limits", "--deny-methods=crm.deal.delete", "--client-id=local.node.test", `--client-secret=${clientSecret}`],
      "b24-emulator",
    );
    procs.push(emulator);
    const [line] = await waitForLine(emulator.child, emulator.child.stdout, /^\{.*\}$/m, 15000, "b24-emulator", emulator.log);
    const emu = JSON.parse(line);
    for (const k of ["portal_url", "webhook_url", "oauth_url", "member_id", "stats_url"]) {
      if (typeof emu[k] !== "string") throw new Error(`b24-emulator's JSON line has no ${k}: ${line}`);
    }
    const service = startChild(
      SERVICE_BIN,
      [
        "--listen=127.0.0.1:0",
        "--security.allow_loopback=true",
        "--security.allow_http=true",
        `--webhooks.sandbox=${emu.webhook_url}`,
        `--store.url=sqlite3://db=${join(dir, "t.db")}`,
        `--oauth.server=${emu.oauth_url}`, // token refreshes of installed portals go to the emulator
        "--shutdown_grace=5s",
      ],
      "bitrix24-service",
    );
    procs.push(service);
    const m = await waitForLine(service.child, service.child.stdout, /bitrix24-service listening on (127\.0\.0\.1:\d+)/, 20000, "bitrix24-service", service.log);
    return {
      target: m[1],
      emu,
      clientSecret,
      logs: () => `--- b24-emulator ---\n${emulator.log.text}\n--- bitrix24-service ---\n${service.log.text}`,
      async stop() {
        process.off("exit", killAll);
        await Promise.all(procs.map((p) => stopChild(p)));
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (err) {
    killAll();
    process.off("exit", killAll);
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }
}

/** A small HTTP client for the emulator's test API (faults, stats). */
export function httpJson(method, url, body) {
  return new Promise((resolve, reject) => {
    const data = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
    const req = request(url, { method, headers: data ? { "content-type": "application/json", "content-length": data.length } : {} }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (c) => (text += c));
      res.on("end", () => {
        if (res.statusCode < 200 || res.statusCode >= 300) return reject(new Error(`${method} ${url}: HTTP ${res.statusCode}: ${text}`));
        try {
          resolve(text ? JSON.parse(text) : null);
        } catch {
          reject(new Error(`${method} ${url}: not JSON: ${text.slice(0, 200)}`));
        }
      });
    });
    req.on("error", reject);
    req.end(data);
  });
}
