// Every statement the forms function runs: loading a form, and one call of
// private.submit_form per accepted post.
import type { Tx } from "../_shared/db.ts";

/** What a post needs to know about its form. */
export type Form = {
  id: string;
  user_id: string;
  fields: string[];
  double_opt_in: boolean;
  consent_text: string | null;
  success_url: string | null;
  confirm_url: string | null;
};

/** The active form `id`, or undefined. */
export async function activeForm(tx: Tx, id: string): Promise<Form | undefined> {
  const [form] = await tx<Form[]>`
    select f.id, f.user_id, f.fields, f.double_opt_in, f.consent_text, f.success_url, f.confirm_url
    from public.forms as f
    where f.id = ${id} and f.is_active`;
  return form;
}

export type Submission = {
  email: string;
  leadFields: Record<string, string>;
  customFields: Record<string, string>;
  ip?: string;
  userAgent: string | null;
};

export type Submitted = {
  lead_id: string;
  subscription_status: "subscribed" | "unconfirmed" | "unsubscribed";
  needs_confirmation: boolean;
};

/** Upserts the lead, joins the lists, records the consent (private.submit_form). */
export async function submitForm(tx: Tx, formId: string, s: Submission): Promise<Submitted> {
  const [row] = await tx<Submitted[]>`
    select * from private.submit_form(${formId}, ${s.email}, ${tx.json(s.leadFields)},
      ${tx.json(s.customFields)}, ${s.ip ?? null}::inet, ${s.userAgent})`;
  return row;
}

/**
 * Sends the confirmation email of a double opt-in (private.send_form_confirmation): the
 * delivery's status, "throttled", or null when the lead is not unconfirmed.
 */
export async function sendConfirmation(
  tx: Tx,
  formId: string,
  leadId: string,
  confirmUrl: string,
): Promise<string | null> {
  const [row] = await tx<{ status: string | null }[]>`
    select private.send_form_confirmation(${formId}, ${leadId}, ${confirmUrl}) as status`;
  return row.status;
}

/** A followed confirm link: the lead's state afterwards and where the form sends the browser. */
export async function confirmLead(
  tx: Tx,
  formId: string,
  leadId: string,
  ip: string | undefined,
  userAgent: string | null,
): Promise<{ status: string | null; confirm_url: string | null }> {
  const [row] = await tx<{ status: string | null; confirm_url: string | null }[]>`
    select private.confirm_form_lead(${formId}, ${leadId}, ${ip ?? null}::inet, ${userAgent})
             as status,
           (select f.confirm_url from public.forms as f where f.id = ${formId}) as confirm_url`;
  return row;
}
