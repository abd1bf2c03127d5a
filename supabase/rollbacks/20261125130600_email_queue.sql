drop table private.email_queue;
