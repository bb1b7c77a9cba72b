import { Client } from "@bitrix24-service/client";
const client = new Client(process.env.B24_TARGET ?? "127.0.0.1:50051");
for await (const deal of client.getAll(process.env.B24_PORTAL ?? "sandbox", "crm.deal.list", { select: ["ID", "TITLE"] }))
  process.stdout.write(JSON.stringify(deal) + "\n");
client.close();
