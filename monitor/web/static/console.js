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
  var banner = null;  // shown while polls fail: the page is then a picture of the past
  var zone = zoneMinutes(document.body.getAttribute("data-zone") || "");

  function zoneMinutes(text) {
    // The server's UTC offset ("+09:00"): the banner's time is in the server's zone, like the page's.
    var m = /^([+-])(\d\d):(\d\d)$/.exec(text);
    return m ? (m[1] === "-" ? -1 : 1) * (parseInt(m[2], 10) * 60 + parseInt(m[3], 10)) : -new Date().getTimezoneOffset();
  }

  function hhmm(date) {
    var t = new Date(date.getTime() + zone * 60000);
    return ("0" + t.getUTCHours()).slice(-2) + ":" + ("0" + t.getUTCMinutes()).slice(-2);
  }

  function answering(yes) {
    if (yes) {
      if (banner) { banner.remove(); banner = null; }
      return;
    }
    if (banner) { return; }  // keep the time it first stopped answering
    banner = document.createElement("p");
    banner.id = "stale";
    banner.className = "stale";
    banner.setAttribute("role", "alert");
    banner.textContent = "The monitor is not answering (since " + hhmm(new Date()) +
      "): this page is not up to date.";
    main.parentNode.insertBefore(banner, main);
  }

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
      // No answer, or a proxy's 502/503/504 in front of a stopped monitor; a redirect to sign in is an answer.
      answering(response.status < 500);
      if (!response.ok) { throw new Error("HTTP " + response.status); }
      return response.text();
    }).then(function (text) {
      var fresh = new DOMParser().parseFromString(text, "text/html").getElementById("main");
      if (fresh && fresh.innerHTML !== main.innerHTML) {
        swap(fresh);
      }
    }).catch(function (error) {
      // Offline or signed out: keep what is shown; the next poll tries again.
      if (error instanceof TypeError) { answering(false); }  // fetch rejects with TypeError on no answer
    }).then(function () { busy = false; });
  }

  window.setInterval(poll, PERIOD_MS);
})();
