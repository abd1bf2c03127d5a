// Helpers for tests of the forms function (in-process, over HTTP and in the browser): an
// owner's form, a client address of its own, what the owner's leads hold, and the confirm link
// of a double opt-in email.
import { asService, asUser, type UserClaims } from "../_shared/db.ts";

/**
 * A form of `user` made as an app makes it (RLS applies), joining a new list of theirs:
 * fields first_name and plan, tag signup, a consent text, a success_url; `fields` on top.
 */
export async function createForm(
  user: UserClaims,
  fields: Record<string, unknown> = {},
): Promise<string> {
  return await asUser(user, async (tx) => {
    const [list] = await tx<{ id: string }[]>`
      insert into public.lists (name) values (${`Newsletter ${crypto.randomUUID()}`}) returning id`;
    const row = {
      name: "Signup",
      fields: ["first_name", "plan"],
      tags: ["signup"],
      list_ids: [list.id],
      consent_text: "Send me the newsletter.",
      consent_version: "2026-12",
      success_url: "https://acme.example/thanks",
      ...fields,
    };
    const [form] = await tx<{ id: string }[]>`insert into public.forms ${tx(row)} returning id`;
    return form.id;
  });
}

/**
 * A client address no other post uses (IPv6 documentation prefix), so the per-address rate
 * limit, whose counts outlive a test run, counts this test's posts alone.
 */
export const clientIp = () => {
  const [a, b] = crypto.getRandomValues(new Uint16Array(2));
  return `2001:db8::${a.toString(16)}:${b.toString(16)}`;
};

/** The owner's leads by email, with their list count and consents as one line each. */
export async function formLeads(user: UserClaims) {
  return [
    ...await asService((tx) =>
      tx`select l.email, l.first_name, l.tags, l.custom_fields, l.subscription_status, l.source,
                (select count(*)::int from public.list_memberships as m where m.lead_id = l.id) as lists,
                (select array_agg(c.purpose || ' ' || c.consent_version || ' ' || host(c.ip_address) || ' ' || c.user_agent)
                 from public.consents as c where c.lead_id = l.id) as consents
         from public.leads as l where l.user_id = ${user.sub} order by l.email`
    ),
  ];
}

/**
 * The link of a confirmation email's HTML that leads to the confirm page: `href` as the
 * reader clicks it (through click tracking when on), `target` the confirm page itself.
 */
export function confirmLink(html: string): { href: string; target: string } {
  for (const [, written] of html.matchAll(/href="([^"]+)"/g)) {
    const href = written.replaceAll("&amp;", "&");
    const url = new URL(href);
    const target = url.pathname.includes("/track/click/") ? url.searchParams.get("u") : href;
    if (target?.includes("/forms/confirm/")) return { href, target };
  }
  throw new Error(`no confirm link in:\n${html}`);
}
