// What a caller does with each kind of error. Against the test stack
// (client-sdk/node/test: an emulator with --deny-methods=crm.deal.delete) it shows:
//   1. a Bitrix24 error the portal sent (ACCESS_DENIED from crm.deal.delete);
//   2. a LimitError from a deadline too short to send anything (DEADLINE_BEFORE_SEND);
//   3. PortalNeedsReinstall, when B24_REINSTALL_PORTAL names an installed portal whose
//      refresh token the OAuth server rejects (the test stack makes one; see below).
//   B24_TARGET=127.0.0.1:50051 B24_PORTAL=sandbox node errors.mjs
import { Bitrix24Error, Client, LimitError, PortalNeedsReinstall } from "@bitrix24-service/client";

const client = new Client(process.env.B24_TARGET ?? "127.0.0.1:50051");
const portal = process.env.B24_PORTAL ?? "sandbox";

// The one handler: check the subclasses first, they are Bitrix24Errors too.
function explain(err) {
  if (err instanceof PortalNeedsReinstall) {
    // The portal's refresh token was rejected (the app was uninstalled, or its tokens went
    // unused for too long). No retry helps: ask the portal's admin to open the app again
    // (UI install) and pass what Bitrix24 sends to client.install(); until then every call
    // for this portal fails the same way. listPortals() marks it with needsReinstall.
    return `PortalNeedsReinstall ${err.code}: ${err.description} -> ask the portal to reinstall the app`;
  }
  if (err instanceof LimitError) {
    // A rate limit, the method's operating-time budget, or the deadline. Nothing was lost:
    // retry later (err.retryAfter seconds, when the gateway said) or with a longer timeout.
    // For a write, check err.mayHaveExecuted before repeating it.
    return `LimitError ${err.code || "(no code)"}: ${err.description} -> retry later or allow more time` +
      ` (mayHaveExecuted=${err.mayHaveExecuted})`;
  }
  if (err instanceof Bitrix24Error) {
    // Branch on err.code (the Bitrix24 code, "" when the portal sent none); mayHaveExecuted
    // says whether a write might have run although the call failed.
    return `Bitrix24Error ${err.code || "(no code)"} (gRPC ${err.grpcCode}, ${err.domain}): ${err.description}` +
      ` (mayHaveExecuted=${err.mayHaveExecuted}, http ${err.httpStatus ?? "-"}, method ${err.method ?? "-"})`;
  }
  throw err; // a bug in this program, not an error of the gateway
}

async function attempt(what, fn) {
  try {
    await fn();
    console.log(`${what}: no error`);
  } catch (err) {
    console.log(`${what}: ${explain(err)}`);
  }
}

try {
  await attempt("denied method", () => client.call(portal, "crm.deal.delete", { id: 1 }));
  await attempt("too-short deadline", () => client.call(portal, "crm.deal.get", { id: 1 }, { timeout: 0.04 }));
  const reinstall = process.env.B24_REINSTALL_PORTAL;
  if (reinstall) {
    await attempt("portal needing reinstall", () => client.call(reinstall, "crm.deal.get", { id: 1 }));
  } else {
    console.log("portal needing reinstall: skipped (set B24_REINSTALL_PORTAL to an installed portal's member_id)");
  }
} finally {
  client.close();
}
