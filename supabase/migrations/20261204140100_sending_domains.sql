-- sending_domains: the domains an owner may send from with the platform's Resend key (issue 8,
-- §6: a tenant sends only as itself). A domain is added and verified through the `domains`
-- edge function, which registers it with Resend's domains API (POST /domains), hands back the
-- DNS records to publish, and asks Resend to check them (POST /domains/{id}/verify, then
-- GET /domains/{id}), and removes it from Resend and from here (DELETE). Clients read their
-- rows; everything else is the system's: only the function, as the service, writes status,
-- records and the Resend id, so a row always matches what Resend holds.
--
-- One Resend account (the platform's) holds a domain once, so a domain belongs to one owner.

create table public.sending_domains (
  id uuid primary key default gen_random_uuid(),
  user_id uuid not null default auth.uid() references auth.users (id) on delete cascade,
  domain text not null,
  status text not null default 'not_started',
  provider_domain_id text,
  records jsonb not null default '[]',
  verified_at timestamptz,
  checked_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint sending_domains_domain_check
    check (domain ~ '^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$' and length(domain) <= 253),
  constraint sending_domains_status_check
    check (status in ('not_started', 'pending', 'verified', 'partially_verified', 'partially_failed',
                      'failed', 'temporary_failure')),
  constraint sending_domains_records_check check (jsonb_typeof(records) = 'array'),
  constraint sending_domains_provider_domain_id_check check (length(provider_domain_id) between 1 and 200),
  constraint sending_domains_domain_key unique (domain)
);
comment on table public.sending_domains is
  'Domains an owner may send from with the platform''s Resend key; added and verified through the domains function.';
comment on column public.sending_domains.domain is 'Lower-case domain name; from_email and reply_to addresses on it are allowed once it is verified.';
comment on column public.sending_domains.status is 'Resend''s verification status (system-owned); only verified allows sending.';
comment on column public.sending_domains.provider_domain_id is 'Resend''s id of the domain (system-owned).';
comment on column public.sending_domains.records is 'The DNS records to publish, as Resend lists them (system-owned).';
comment on column public.sending_domains.verified_at is 'When Resend first reported the domain verified (system-owned).';
comment on column public.sending_domains.checked_at is 'When Resend was last asked about the domain (system-owned).';

create index sending_domains_user_id_domain_idx on public.sending_domains (user_id, domain);

create trigger set_updated_at
before update on public.sending_domains
for each row execute function private.set_updated_at();

select private.secure_tenant_table('public.sending_domains');
grant select on table public.sending_domains to authenticated;
