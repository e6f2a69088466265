// pushgate service worker: shows pushgate's Web Push messages and reports them back.
// Host it at your site's origin, either as a copy of this file or as one line:
//   importScripts("__PUSHGATE_SERVER__/sdk/pushgate-sw.js");
// The payload it reads is documented in docs/websdk.md §4 (pushgate's own JSON, or the
// Declarative Web Push form {"web_push": 8030, "notification": {...}}).
(function () {
  "use strict";
  var SERVER = "__PUSHGATE_SERVER__";  // reports go here and nowhere else
  var BATCH_MS = 1000;  // reports wait this long for company, then leave in one request
  var MAX_BATCH = 100;  // what the report route takes at once
  var queue = [];
  var pending = null;
  var STORE = "pushgate-sw";  // Cache Storage: the endpoint outlives this worker's restarts
  var ENDPOINT_KEY = "/__pushgate/endpoint";
  var knownEndpoint = null;  // the endpoint the page's SDK registered (see "message" below)

  function flush() {
    pending = null;
    var batch = queue.splice(0, MAX_BATCH);
    if (!batch.length) return Promise.resolve();
    // Best effort: a report that fails is dropped, never retried in a loop.
    return fetch(SERVER + "/sdk/v1/events", {
      method: "POST", mode: "cors", credentials: "omit", keepalive: true,
      headers: {"Content-Type": "text/plain;charset=UTF-8"},
      body: JSON.stringify({events: batch})
    }).catch(function () {}).then(function () { return queue.length ? flush() : undefined; });
  }

  function report(send, kind, action) {
    if (!send) return Promise.resolve();
    return endpoint().then(function (found) {
      if (!found) return undefined;
      var event = {send: send, event: kind, endpoint: found};
      if (action) event.action = action;
      queue.push(event);
      if (!pending) {
        pending = new Promise(function (resolve) { setTimeout(resolve, BATCH_MS); }).then(flush);
      }
      return pending;
    });
  }

  // Which subscription this worker serves: the push manager's, else the one the SDK registered
  // (a page may hand the SDK a stand-in push manager, as the browser test does).
  function endpoint() {
    return self.registration.pushManager.getSubscription().then(function (subscription) {
      return subscription ? subscription.endpoint : recall();
    }, recall);
  }

  function remember(found) {
    knownEndpoint = found;
    return caches.open(STORE).then(function (cache) {
      return cache.put(ENDPOINT_KEY, new Response(found));
    }).catch(function () {});
  }

  function recall() {
    if (knownEndpoint) return Promise.resolve(knownEndpoint);
    return caches.open(STORE).then(function (cache) { return cache.match(ENDPOINT_KEY); })
      .then(function (found) { return found ? found.text() : null; }, function () { return null; });
  }

  // The Declarative Web Push form (WebKit, Safari 18.4+) read into pushgate's own shape.
  function fromDeclarative(message) {
    var n = message.notification || {};
    var out = {title: n.title, body: n.body, icon: n.icon, image: n.image, tag: n.tag, lang: n.lang,
               dir: n.dir, silent: n.silent, url: n.navigate, require_interaction: n.require_interaction,
               badge: n.badge, renotify: n.renotify, data: n.data, pushgate: message.pushgate,
               app_badge: message.app_badge !== undefined ? message.app_badge : n.app_badge};
    out.actions = (n.actions || []).map(function (a) {
      return {action: a.action, title: a.title, icon: a.icon, url: a.navigate};
    });
    ["custom_data", "custom_metrics", "starred"].forEach(function (k) { out[k] = message[k]; });
    return out;
  }

  function read(event) {
    if (!event.data) return {};
    var message;
    try { message = event.data.json(); } catch (error) { return {body: event.data.text()}; }
    if (!message || typeof message !== "object") return {};
    return message.web_push === 8030 ? fromDeclarative(message) : message;
  }

  function toClients(message) {
    return self.clients.matchAll({type: "window", includeUncontrolled: true}).then(function (windows) {
      windows.forEach(function (w) { w.postMessage({pushgate: "message", message: message}); });
    });
  }

  function show(message) {
    var send = message.pushgate && message.pushgate.send;
    var actionUrls = {};
    var actions = (message.actions || []).map(function (a) {
      if (a.url) actionUrls[a.action] = a.url;
      var shown = {action: a.action, title: a.title};
      if (a.icon) shown.icon = a.icon;
      return shown;
    });
    var options = {
      body: message.body, icon: message.icon, badge: message.badge, image: message.image,
      tag: message.tag, lang: message.lang, dir: message.dir, actions: actions,
      requireInteraction: !!message.require_interaction,
      silent: !!message.silent,
      renotify: !!(message.renotify && message.tag),  // renotify needs a tag (Notifications API)
      data: {url: message.url, actions: actionUrls, send: send, custom_data: message.custom_data,
             data: message.data}
    };
    Object.keys(options).forEach(function (k) { if (options[k] === undefined) delete options[k]; });
    return self.registration.showNotification(message.title || "", options).then(function () {
      return report(send, "displayed");
    });
  }

  self.addEventListener("push", function (event) {
    var message = read(event);
    var work = [toClients(message)];
    if (message.app_badge !== undefined && self.navigator.setAppBadge) {
      work.push(self.navigator.setAppBadge(Number(message.app_badge) || 0).catch(function () {}));
    }
    // A silent message without a title is data for the page, not something to show.
    if (message.title || !message.silent) work.push(show(message));
    event.waitUntil(Promise.all(work));
  });

  self.addEventListener("notificationclick", function (event) {
    var data = event.notification.data || {};
    var target = (event.action && data.actions && data.actions[event.action]) || data.url;
    event.notification.close();
    var work = [report(data.send, "clicked", event.action || null)];
    if (target) {
      var absolute = new URL(target, self.location.origin).href;
      work.push(self.clients.matchAll({type: "window", includeUncontrolled: true}).then(function (windows) {
        for (var i = 0; i < windows.length; i++) {
          if (windows[i].url === absolute && "focus" in windows[i]) return windows[i].focus();
        }
        return self.clients.openWindow ? self.clients.openWindow(absolute) : undefined;
      }));
    }
    event.waitUntil(Promise.all(work));
  });

  self.addEventListener("message", function (event) {
    var data = event.data || {};
    if (data.pushgate === "subscription" && typeof data.endpoint === "string") {
      event.waitUntil(remember(data.endpoint));
    }
  });

  self.addEventListener("install", function () { self.skipWaiting(); });
  self.addEventListener("activate", function (event) { event.waitUntil(self.clients.claim()); });
})();
