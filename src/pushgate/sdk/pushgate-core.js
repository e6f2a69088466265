// pushgate Web SDK: subscribe this browser to an app's Web Push notifications through pushgate.
// Served as /sdk/pushgate.js (classic script, window.pushgate) and /sdk/pushgate.mjs (module);
// the server replaces __PUSHGATE_SERVER__ with its own URL. See docs/websdk.md.
//
//   pushgate.init({app: "pk_…", serviceWorker: "/pushgate-sw.js"});
//   await pushgate.subscribe({uid: "alice", uidSignature: "…", tags: ["news"]});
//   await pushgate.status();     // {permission, subscribed, uid, tags}
//   await pushgate.setTags(["news", "sports"]);
//   await pushgate.unsubscribe();
var PUSHGATE_SERVER = "__PUSHGATE_SERVER__";

function createPushgate() {
  "use strict";
  var config = {app: null, serviceWorker: "/pushgate-sw.js", scope: undefined, server: PUSHGATE_SERVER,
                pushManager: null};

  function PushgateError(code, message) {
    var error = new Error(message);
    error.name = "PushgateError";
    error.code = code;  // unsupported | denied | default | not_initialized | http_<status>
    return error;
  }

  function supported() {
    return typeof window !== "undefined" && "serviceWorker" in navigator && "PushManager" in window &&
      "Notification" in window;
  }

  // "default" (not asked yet), "denied", "granted", or "unsupported".
  function permission() {
    return supported() ? Notification.permission : "unsupported";
  }

  function base64UrlToBytes(text) {
    var padded = (text + "===".slice((text.length + 3) % 4)).replace(/-/g, "+").replace(/_/g, "/");
    var raw = atob(padded);
    var bytes = new Uint8Array(raw.length);
    for (var i = 0; i < raw.length; i++) bytes[i] = raw.charCodeAt(i);
    return bytes;
  }

  function sameKey(a, b) {
    if (!a || !b) return false;
    var x = new Uint8Array(a), y = new Uint8Array(b);
    if (x.length !== y.length) return false;
    for (var i = 0; i < x.length; i++) if (x[i] !== y[i]) return false;
    return true;
  }

  function url(path) {
    if (!config.app) throw PushgateError("not_initialized", "call pushgate.init({app: 'pk_…'}) first");
    return config.server.replace(/\/+$/, "") + "/sdk/v1/apps/" + encodeURIComponent(config.app) + path;
  }

  // JSON as text/plain: a CORS "simple request", so no preflight; pushgate reads it as JSON.
  function call(method, path, body) {
    var init = {method: method, mode: "cors", credentials: "omit"};
    if (body !== undefined) {
      init.headers = {"Content-Type": "text/plain;charset=UTF-8"};
      init.body = JSON.stringify(body);
    }
    return fetch(url(path), init).then(function (response) {
      return response.json().catch(function () { return {}; }).then(function (answer) {
        if (!response.ok) {
          var error = (answer && answer.error) || {};
          var failure = PushgateError("http_" + response.status, error.message || response.statusText);
          failure.field = error.field;
          throw failure;
        }
        return answer;
      });
    });
  }

  function registration() {
    return navigator.serviceWorker.register(config.serviceWorker, config.scope ? {scope: config.scope} : undefined)
      .then(function () { return navigator.serviceWorker.ready; });
  }

  function manager(reg) {
    return config.pushManager || reg.pushManager;
  }

  // Tell the service worker which subscription it serves (it names it in its reports).
  function tellWorker(reg, endpoint) {
    var worker = reg.active || reg.waiting || reg.installing;
    if (worker) worker.postMessage({pushgate: "subscription", endpoint: endpoint});
  }

  function askPermission() {
    if (Notification.permission === "granted") return Promise.resolve("granted");
    if (Notification.permission === "denied") return Promise.resolve("denied");
    return new Promise(function (resolve) {
      var asked = Notification.requestPermission(resolve);  // callback form: older Safari
      if (asked && asked.then) asked.then(resolve);
    });
  }

  function init(options) {
    options = options || {};
    ["app", "serviceWorker", "scope", "server", "pushManager"].forEach(function (name) {
      if (options[name] !== undefined) config[name] = options[name];
    });
    return api;
  }

  // Subscribe (or refresh) this browser; options: {uid, uidSignature, tags}.
  function subscribe(options) {
    options = options || {};
    if (!supported()) return Promise.reject(PushgateError("unsupported", "this browser has no Web Push"));
    return askPermission().then(function (state) {
      if (state !== "granted") {
        throw PushgateError(state, state === "denied"
          ? "notifications are blocked for this site (the user must allow them in the browser's settings)"
          : "the user did not answer the permission prompt");
      }
      return Promise.all([registration(), call("GET", "/vapid")]);
    }).then(function (found) {
      var reg = found[0], key = base64UrlToBytes(found[1].public_key), push = manager(reg);
      return push.getSubscription().then(function (existing) {
        // A subscription made for another VAPID key cannot carry this app's pushes: replace it.
        if (existing && existing.options && existing.options.applicationServerKey &&
            !sameKey(existing.options.applicationServerKey, key)) {
          var stale = existing.endpoint;
          return existing.unsubscribe()
            .then(function () { return call("POST", "/subscriptions/unsubscribe", {endpoint: stale}); })
            .then(function () { return null; });
        }
        return existing;
      }).then(function (existing) {
        return existing || push.subscribe({userVisibleOnly: true, applicationServerKey: key});
      }).then(function (subscription) {
        var body = {subscription: subscription.toJSON ? subscription.toJSON() : subscription};
        if (options.uid !== undefined) body.uid = options.uid;
        if (options.uidSignature !== undefined) body.uid_signature = options.uidSignature;
        if (options.tags !== undefined) body.tags = options.tags;
        return call("POST", "/subscriptions", body).then(function (answer) {
          tellWorker(reg, subscription.endpoint);
          return answer;
        });
      });
    });
  }

  function currentSubscription() {
    if (!supported()) return Promise.resolve(null);
    return navigator.serviceWorker.getRegistration(config.scope).then(function (reg) {
      return reg ? manager(reg).getSubscription() : null;
    });
  }

  // {permission, subscribed, id, uid, tags}: what the browser and pushgate both know.
  function status() {
    return currentSubscription().then(function (subscription) {
      if (!subscription) return {permission: permission(), subscribed: false, uid: null, tags: []};
      return call("POST", "/subscriptions/status", {endpoint: subscription.endpoint}).then(function (answer) {
        answer.permission = permission();
        return answer;
      });
    });
  }

  function setTags(tags) {
    return currentSubscription().then(function (subscription) {
      if (!subscription) throw PushgateError("not_subscribed", "subscribe first");
      return call("POST", "/subscriptions/tags", {endpoint: subscription.endpoint, tags: tags});
    });
  }

  function unsubscribe() {
    return currentSubscription().then(function (subscription) {
      if (!subscription) return {subscribed: false};
      var endpoint = subscription.endpoint;
      return Promise.resolve(subscription.unsubscribe()).then(function () {
        return call("POST", "/subscriptions/unsubscribe", {endpoint: endpoint});
      });
    });
  }

  var api = {init: init, subscribe: subscribe, unsubscribe: unsubscribe, status: status, setTags: setTags,
             permission: permission, supported: supported, version: "1"};
  return api;
}
