// Keeps a console page current without a reload: every 3 s it fetches the same URL and, when the page's
// <main> changed, swaps it in. The text is the server's escaped HTML, parsed inertly by DOMParser.
(function () {
  "use strict";
  var PERIOD_MS = 3000;
  var main = document.getElementById("main");
  if (!main || document.body.getAttribute("data-live") !== "on") {
    return;
  }
  var busy = false;

  function typing() {
    // Never swap the page under a finger that is filling in a field.
    var el = document.activeElement;
    return el && main.contains(el) && /^(INPUT|SELECT|TEXTAREA)$/.test(el.tagName);
  }

  function swap(fresh) {
    var el = document.activeElement;
    var href = el && main.contains(el) && el.getAttribute ? el.getAttribute("href") : null;
    var nodes = Array.prototype.map.call(fresh.childNodes, function (n) { return document.importNode(n, true); });
    main.replaceChildren.apply(main, nodes);
    if (href) {
      // Keep keyboard and screen-reader focus on the same link when it is still there.
      var same = Array.prototype.find.call(main.querySelectorAll("a[href]"), function (a) {
        return a.getAttribute("href") === href;
      });
      if (same) { same.focus(); }
    }
  }

  function poll() {
    if (busy || document.hidden || typing()) {
      return;
    }
    busy = true;
    fetch(window.location.href, {
      headers: { "X-Console-Poll": "1" }, credentials: "same-origin", cache: "no-store", redirect: "manual"
    }).then(function (response) {
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.text();
    }).then(function (text) {
      var fresh = new DOMParser().parseFromString(text, "text/html").getElementById("main");
      if (fresh && fresh.innerHTML !== main.innerHTML) {
        swap(fresh);
      }
    }).catch(function () {
      // Offline or signed out: keep what is shown; the next poll tries again.
    }).then(function () { busy = false; });
  }

  window.setInterval(poll, PERIOD_MS);
})();
