// Every statement the domains function runs, in one place. Each takes the transaction the
// handler opened: reading an owner's domain runs as that owner (asUser, RLS applies); the
// columns Resend decides (status, records, provider_domain_id) are written as the service.
import type { Tx } from "../_shared/db.ts";
import type { ResendDomain } from "../_shared/providers/resend_domains.ts";

/** A public.sending_domains row as the function answers with it. */
export type DomainRow = {
  id: string;
  domain: string;
  status: string;
  records: unknown[];
  provider_domain_id: string | null;
};

/** Who registered `domain` already, if anyone (every owner's rows: run as the service). */
export async function domainHolder(
  tx: Tx,
  domain: string,
): Promise<{ id: string; user_id: string } | undefined> {
  const [row] = await tx<{ id: string; user_id: string }[]>`
    select id, user_id from public.sending_domains where domain = ${domain}`;
  return row;
}

/** Stores a domain Resend has just registered for `userId`. */
export async function insertDomain(
  tx: Tx,
  userId: string,
  domain: string,
  registered: ResendDomain,
): Promise<DomainRow> {
  const [row] = await tx<DomainRow[]>`
    insert into public.sending_domains
      (user_id, domain, status, provider_domain_id, records, checked_at)
    values (${userId}, ${domain}, ${registered.status}, ${registered.id},
            ${tx.json(registered.records as never)}, now())
    returning id, domain, status, records, provider_domain_id`;
  return row;
}

/** The domain with this id, among those the transaction's role may read. */
export async function domainById(
  tx: Tx,
  id: string,
): Promise<DomainRow | undefined> {
  const [row] = await tx<DomainRow[]>`
    select id, domain, status, records, provider_domain_id
    from public.sending_domains where id = ${id}`;
  return row;
}

/** Writes what Resend said about the domain when it was last checked. */
export async function recordCheck(
  tx: Tx,
  id: string,
  checked: ResendDomain,
): Promise<DomainRow> {
  const [row] = await tx<DomainRow[]>`
    update public.sending_domains
    set status = ${checked.status},
        records = ${tx.json(checked.records as never)},
        verified_at = case when ${checked.status} = 'verified' then coalesce(verified_at, now())
                           else verified_at end,
        checked_at = now()
    where id = ${id}
    returning id, domain, status, records, provider_domain_id`;
  return row;
}

export async function deleteDomain(tx: Tx, id: string): Promise<void> {
  await tx`delete from public.sending_domains where id = ${id}`;
}
