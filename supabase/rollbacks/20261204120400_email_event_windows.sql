drop table private.email_event_windows;
