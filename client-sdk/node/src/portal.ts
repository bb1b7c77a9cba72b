// Which portal a request is for: PortalRef from a string, parsed like the C++ client
// (client-sdk/cpp/client.cc ParsePortal), or built explicitly.
import type { PortalRef } from "./gen/bitrix24/v1/bitrix24";

/** A portal argument: a string (see {@link parsePortal}) or an explicit PortalRef. */
export type PortalArg = string | PortalRef;

const MEMBER_ID = /^[0-9a-fA-F]{32}$/;

/**
 * Parses a portal argument: an http(s) URL is an incoming-webhook URL, exactly 32 hex
 * digits a member_id (an installed app), anything else the name of a webhook configured
 * on the gateway (`webhooks.<name>`).
 */
export function parsePortal(text: string): PortalRef {
  if (typeof text !== "string") throw new TypeError(`portal must be a string or a PortalRef, got ${typeof text}`);
  if (text.startsWith("http://") || text.startsWith("https://")) return { webhookUrl: text };
  if (MEMBER_ID.test(text)) return { memberId: text };
  return { name: text };
}

/** Explicit constructors, for a name that would otherwise parse as a URL or a member_id. */
export const Portal = {
  /** A full incoming-webhook URL, e.g. "https://example.bitrix24.com/rest/1/abc123/". */
  webhook(url: string): PortalRef {
    return { webhookUrl: url };
  },
  /** The member_id of a portal where the app was installed (OAuth 2.0). */
  member(memberId: string): PortalRef {
    return { memberId };
  },
  /** The name of a webhook configured on the gateway. */
  named(name: string): PortalRef {
    return { name };
  },
};

/** The PortalRef for a portal argument; an object must set exactly one of its fields. */
export function toPortalRef(portal: PortalArg): PortalRef {
  if (typeof portal === "string") return parsePortal(portal);
  if (portal === null || typeof portal !== "object") {
    throw new TypeError(`portal must be a string or a PortalRef, got ${portal === null ? "null" : typeof portal}`);
  }
  const set = (["memberId", "webhookUrl", "name"] as const).filter((k) => portal[k] !== undefined);
  if (set.length !== 1) {
    throw new TypeError(
      `a PortalRef sets exactly one of memberId, webhookUrl, name; got ${set.length ? set.join(", ") : "none"}`,
    );
  }
  const key = set[0];
  if (typeof portal[key] !== "string") throw new TypeError(`PortalRef.${key} must be a string`);
  return { [key]: portal[key] } as PortalRef;
}
