// Lead generation shared by the benchmarks that insert leads as an app does: one lead per
// transaction, as the signed-in user, several clients at once.
import type { Tx, UserClaims } from "../../../supabase/functions/_shared/db.ts";

type AsUser = <T>(claims: UserClaims, work: (tx: Tx) => Promise<T>) => Promise<T>;

/** Bench users' claims: a fresh id and the email the bench's auth.users row carries. */
export function benchClaims(): UserClaims & { email: string } {
  const sub = crypto.randomUUID();
  return { sub, role: "authenticated", email: `bench-${sub}@example.test` };
}

/**
 * `count` single-lead inserts (emails `<prefix><n>@bench.example`) by `clients` concurrent
 * clients, each in its own transaction as the user; returns the elapsed milliseconds.
 */
export async function insertLeads(
  asUser: AsUser,
  claims: UserClaims,
  prefix: string,
  count: number,
  clients: number,
): Promise<number> {
  let next = 0;
  const started = performance.now();
  await Promise.all(Array.from({ length: clients }, async () => {
    for (let n = next++; n < count; n = next++) {
      await asUser(claims, (tx) =>
        tx`insert into public.leads (email, first_name, company, source)
           values (${`${prefix}${n}@bench.example`}, ${"Lead " + n}, 'Bench Inc', 'bench')`);
    }
  }));
  return performance.now() - started;
}

/** The bench's 20 active lead_created workflows of three steps, each matching every new lead. */
export function createMatchingWorkflows(asUser: AsUser, claims: UserClaims): Promise<unknown> {
  return asUser(
    claims,
    (tx) =>
      tx`insert into public.workflows (name, trigger_config, action_config)
       select 'bench ' || n, '{"type": "lead_created", "conditions": {"statuses": ["new"]}}',
              jsonb_build_object('steps', jsonb_build_array(
                jsonb_build_object('type', 'add_tag', 'tag', 'wf' || n),
                jsonb_build_object('type', 'set_field', 'key', 'wf' || n, 'value', n),
                '{"type": "adjust_score", "points": 1}'::jsonb))
       from generate_series(1, 20) as n`,
  );
}

type AsService = <T>(work: (tx: Tx) => Promise<T>) => Promise<T>;

/**
 * Waits (60 s at most) until beacon-lead-changes has expanded the owner's recorded lead
 * inserts into executions: a lead insert starts its workflows through that inbox, not itself.
 */
export async function awaitLeadChanges(asService: AsService, userId: string): Promise<void> {
  const deadline = performance.now() + 60_000;
  for (;;) {
    const [{ pending }] = await asService((tx) =>
      tx`select exists (select from private.lead_changes
                        where user_id = ${userId} and error is null) as pending`
    );
    if (!pending) return;
    if (performance.now() > deadline) {
      throw new Error("beacon-lead-changes left lead inserts unexpanded for 60 s");
    }
    await new Promise((resolve) => setTimeout(resolve, 100));
  }
}
