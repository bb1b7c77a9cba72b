// One Batch, two commands: `b` uses the ID that `a` returned, through a `$result[a][ID]`
// reference that the portal resolves inside the same batch request.
//   B24_TARGET=127.0.0.1:50051 B24_PORTAL=sandbox node batch-reference.mjs [DEAL_ID]
import { Client } from "@bitrix24-service/client";

const client = new Client(process.env.B24_TARGET ?? "127.0.0.1:50051");
const portal = process.env.B24_PORTAL ?? "sandbox";
const id = Number(process.argv[2] ?? 42);
try {
  const results = await client.batch(portal, {
    a: { method: "crm.deal.get", params: { id } },
    b: {
      method: "crm.deal.list",
      params: { filter: { ">ID": "$result[a][ID]" }, order: { ID: "ASC" }, select: ["ID", "TITLE"] },
    },
  }, { halt: true });
  for (const [key, item] of Object.entries(results)) {
    if ("error" in item) throw new Error(`command ${key} failed: ${item.error.code || "(no code)"}: ${item.error.description}`);
    if ("notExecuted" in item) throw new Error(`command ${key} was not executed`);
  }
  const { a, b } = results;
  console.log(`a: deal ${a.result.ID} "${a.result.TITLE}"`);
  const after = b.result;
  const range = after.length ? `, IDs ${after[0].ID}..${after[after.length - 1].ID}` : "";
  console.log(`b: ${after.length} deals after it${range} (total ${b.total ?? "?"}${b.next !== undefined ? `, next ${b.next}` : ""})`);
} finally {
  client.close();
}
