drop function public.preview_segment(jsonb, integer);
drop function public.segment_count(uuid);
drop table public.segments;
drop function private.check_segment();
drop function segmenting.predicate_sql(text, jsonb);
drop schema segmenting;
