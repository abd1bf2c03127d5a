-- scoring_settings: one row per user with the knobs of their lead scoring. A user without a
-- row gets the defaults: no qualification threshold (leads are never qualified by score) and
-- engagement points that halve every 30 days.
--
--   qualification_threshold    a `new` lead whose score reaches it becomes `qualified`
--                              (null: never); the system never moves a lead out of
--                              contacted, converted or lost.
--   engagement_half_life_days  engagement points (earned from analytics events) halve every
--                              this many days, applied nightly (null: they never decay).
--                              Profile points (rules over the lead's fields) never decay.

create table public.scoring_settings (
  user_id uuid primary key default auth.uid() references auth.users (id) on delete cascade,
  qualification_threshold integer,
  engagement_half_life_days integer default 30,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  constraint scoring_settings_qualification_threshold_check
    check (qualification_threshold between -100000 and 100000),
  constraint scoring_settings_engagement_half_life_days_check
    check (engagement_half_life_days between 1 and 3650)
);
comment on table public.scoring_settings is
  'Per-user lead scoring settings: the qualification threshold and the half-life of engagement points. No row: the defaults.';
comment on column public.scoring_settings.qualification_threshold is
  'A new lead whose score reaches this becomes qualified; null: never.';
comment on column public.scoring_settings.engagement_half_life_days is
  'Engagement points halve every this many days (nightly); null: they never decay.';

create trigger set_updated_at
before update on public.scoring_settings
for each row execute function private.set_updated_at();

select private.secure_tenant_table('public.scoring_settings');
grant select, delete on table public.scoring_settings to authenticated;
grant insert (user_id, qualification_threshold, engagement_half_life_days)
  on table public.scoring_settings to authenticated;
grant update (qualification_threshold, engagement_half_life_days)
  on table public.scoring_settings to authenticated;
