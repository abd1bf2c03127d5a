alter table private.oauth_states
  drop column browser_hash;
