// The browser snippet served at GET /functions/v1/collect/beacon.js. No dependencies, ES5
// syntax so any browser parses it. The page passes its write key:
//
//   <script src="https://<project>.supabase.co/functions/v1/collect/beacon.js"
//           data-key="bk_pub_..." defer></script>
//
// It records a page view on load (with the UTM parameters of the URL, kept for the visit in
// sessionStorage and added to every event), and offers
//   beacon.track(name, properties)   an event
//   beacon.identify(email, traits)   links this visitor to the lead with that email
//   beacon.page(properties)          another page view (single-page apps)
//   beacon.flush()                   sends the queue now; a promise of the answer
// Events are queued and sent in batches (after 1 s, at 20 events, and with
// navigator.sendBeacon when the page is hidden). The visitor's anonymous id persists in
// localStorage. Options: data-auto-page="false" (no automatic page view), data-endpoint (the
// collect URL, if not next to the script).
//
// Do-Not-Track / Global Privacy Control: a browser sending either marks its requests
// (privacy_signal); an owner with collect_settings.honor_privacy_signals on has them dropped
// by the server, and the snippet, told so in the answer, stops sending and forgets the id.
export const BEACON_JS = `(function () {
  "use strict";
  if (window.beacon && window.beacon.loaded) return;
  var script = document.currentScript;
  var key = script && script.getAttribute("data-key");
  var endpoint = (script && script.getAttribute("data-endpoint")) ||
    (script ? script.src.replace(/\\/beacon\\.js(\\?.*)?$/, "") : "");
  var UTM = ["utm_source", "utm_medium", "utm_campaign", "utm_term", "utm_content"];
  var queue = [];
  var timer = null;
  var off = false;
  var signal = navigator.doNotTrack === "1" || window.doNotTrack === "1" ||
    navigator.globalPrivacyControl === true;

  function store(area, name, value) {
    try {
      var s = window[area];
      if (value === undefined) return s.getItem(name);
      if (value === null) s.removeItem(name); else s.setItem(name, value);
    } catch (e) { /* storage blocked: the id lasts for this page only */ }
    return null;
  }
  function uuid() {
    if (window.crypto && crypto.randomUUID) return crypto.randomUUID();
    return "xxxxxxxx-xxxx-4xxx-yxxx-xxxxxxxxxxxx".replace(/[xy]/g, function (c) {
      var r = Math.random() * 16 | 0;
      return (c === "x" ? r : (r & 3 | 8)).toString(16);
    });
  }
  function assign(target) {
    for (var i = 1; i < arguments.length; i++) {
      var source = arguments[i] || {};
      for (var k in source) if (Object.prototype.hasOwnProperty.call(source, k)) target[k] = source[k];
    }
    return target;
  }

  if (!key) { console.warn("beacon: add data-key=\\"bk_pub_...\\" to the script tag"); }
  if (store("sessionStorage", "beacon_off") === "1") off = true;
  var anonymousId = store("localStorage", "beacon_anonymous_id");
  if (!anonymousId) {
    anonymousId = uuid();
    if (!off) store("localStorage", "beacon_anonymous_id", anonymousId);
  }
  var utm = {};
  var saved = store("sessionStorage", "beacon_utm");
  try { utm = saved ? JSON.parse(saved) : {}; } catch (e) { utm = {}; }
  var params = new URLSearchParams(location.search);
  var fresh = {};
  UTM.forEach(function (name) {
    var value = params.get(name);
    if (value) fresh[name] = value.slice(0, 200);
  });
  if (Object.keys(fresh).length) {
    utm = fresh;
    store("sessionStorage", "beacon_utm", JSON.stringify(utm));
  }

  function body(batch) {
    var payload = { write_key: key, batch: batch };
    if (signal) payload.privacy_signal = true;
    return JSON.stringify(payload);
  }
  function stop() {
    off = true;
    queue = [];
    store("localStorage", "beacon_anonymous_id", null);
    store("sessionStorage", "beacon_off", "1");
  }
  function flush(unloading) {
    clearTimeout(timer);
    timer = null;
    if (off || !key || !queue.length) return Promise.resolve(null);
    var payload = body(queue.splice(0, 500));
    if (unloading && navigator.sendBeacon &&
        navigator.sendBeacon(endpoint, new Blob([payload], { type: "text/plain" }))) {
      return Promise.resolve(null);
    }
    return fetch(endpoint, {
      method: "POST",
      body: payload,
      headers: { "content-type": "text/plain" },
      keepalive: true,
      credentials: "omit"
    }).then(function (response) { return response.json(); }).then(function (answer) {
      if (answer && answer.honor_privacy_signals && signal) stop();
      return answer;
    }, function () { return null; });
  }
  function enqueue(event) {
    if (off) return;
    event.anonymous_id = anonymousId;
    event.message_id = uuid();
    event.timestamp = new Date().toISOString();
    event.properties = assign({}, utm, event.properties);
    queue.push(event);
    if (queue.length >= 20) flush();
    else if (!timer) timer = setTimeout(flush, 1000);
  }

  window.beacon = {
    loaded: true,
    anonymousId: function () { return anonymousId; },
    page: function (properties) {
      enqueue({ type: "page", properties: assign({
        url: location.href, path: location.pathname, title: document.title,
        referrer: document.referrer || undefined
      }, properties) });
    },
    track: function (name, properties) { enqueue({ type: "track", event: String(name), properties: properties }); },
    identify: function (email, traits) { enqueue({ type: "identify", email: String(email), properties: traits }); },
    flush: function () { return flush(false); }
  };
  document.addEventListener("visibilitychange", function () {
    if (document.visibilityState === "hidden") flush(true);
  });
  window.addEventListener("pagehide", function () { flush(true); });
  if (!script || script.getAttribute("data-auto-page") !== "false") window.beacon.page();
})();
`;
