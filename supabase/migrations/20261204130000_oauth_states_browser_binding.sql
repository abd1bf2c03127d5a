-- An OAuth state belongs to the browser that started it, not only to the user (issue 8 §5).
-- POST /oauth/{platform}/start answers with a Beacon URL (GET /oauth/{platform}/go); the
-- browser opening it first gets an HttpOnly, SameSite=Lax cookie holding a random nonce, and
-- the nonce's SHA-256 is stored here. The callback consumes the state only when the browser
-- presents that cookie, so someone else who got hold of the link cannot finish the connection
-- into this user's Beacon. Null until the browser passed through /go.

alter table private.oauth_states
  add column browser_hash bytea,
  add constraint oauth_states_browser_hash_check check (octet_length(browser_hash) = 32);

comment on column private.oauth_states.browser_hash is
  'SHA-256 of the nonce in the cookie of the browser that opened /oauth/{platform}/go; the callback must present it.';
