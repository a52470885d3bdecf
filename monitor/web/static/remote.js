// The remote sign-in page: draws the monitor's browser on a canvas from JPEG frames sent over a WebSocket,
// and sends taps, typed text, keys and scrolling back. Everything the server says is shown as text only.
(function () {
  "use strict";
  var root = document.getElementById("remote");
  if (!root) { return; }
  var canvas = document.getElementById("screen");
  var ctx = canvas.getContext("2d");
  var status = document.getElementById("remote-status");
  var typed = document.getElementById("typed");
  var frames = 0;
  var ended = false;
  var scheme = window.location.protocol === "https:" ? "wss://" : "ws://";
  var ws = new WebSocket(scheme + window.location.host + root.getAttribute("data-ws"));
  ws.binaryType = "blob";

  function say(text) { status.textContent = text; }

  function send(message) {
    if (ws.readyState === WebSocket.OPEN && !ended) { ws.send(JSON.stringify(message)); }
  }

  ws.addEventListener("open", function () {
    send({ type: "hello", csrf: root.getAttribute("data-csrf") });
    say("Opening the site…");
  });

  ws.addEventListener("message", function (event) {
    if (typeof event.data !== "string") {
      createImageBitmap(event.data).then(function (bitmap) {
        ctx.drawImage(bitmap, 0, 0, canvas.width, canvas.height);
        bitmap.close();
        frames += 1;
        canvas.setAttribute("data-frames", String(frames));
        if (frames === 1) { say("Ready: tap the picture, then type below."); }
      });
      return;
    }
    var message = JSON.parse(event.data);
    if (message.type === "viewport") {
      canvas.width = message.width;
      canvas.height = message.height;
    } else if (message.type === "say") {
      say(String(message.text));
    } else if (message.type === "done" || message.type === "end") {
      ended = message.type === "end" || ended;
      say(String(message.text));
      var href = String(message.href || "");
      if (href.charAt(0) === "/" && href.charAt(1) !== "/") {
        var link = document.createElement("a");
        link.href = href;
        link.id = "remote-done";
        link.textContent = "Back to the account";
        status.appendChild(document.createTextNode(" "));
        status.appendChild(link);
      }
      ended = true;
    }
  });

  ws.addEventListener("close", function () {
    if (!ended) { say("The connection closed: reload this page to start again."); }
    ended = true;
    root.classList.add("ended");
  });

  canvas.addEventListener("click", function (event) {
    var box = canvas.getBoundingClientRect();
    var x = Math.floor((event.clientX - box.left) * canvas.width / box.width);
    var y = Math.floor((event.clientY - box.top) * canvas.height / box.height);
    send({
      type: "tap",
      x: Math.max(0, Math.min(canvas.width - 1, x)),
      y: Math.max(0, Math.min(canvas.height - 1, y))
    });
  });

  canvas.addEventListener("wheel", function (event) {
    event.preventDefault();
    send({ type: "scroll", dx: 0, dy: Math.max(-2000, Math.min(2000, Math.round(event.deltaY))) });
  }, { passive: false });

  document.getElementById("typing").addEventListener("submit", function (event) {
    event.preventDefault();
    if (typed.value) {
      send({ type: "text", text: typed.value.slice(0, 256) });
      typed.value = "";
    } else {
      send({ type: "key", key: "Enter" });  // an empty box: Enter submits the site's form
    }
  });

  Array.prototype.forEach.call(root.querySelectorAll("button[type=button]"), function (button) {
    button.addEventListener("click", function () {
      if (button.hasAttribute("data-key")) {
        send({ type: "key", key: button.getAttribute("data-key") });
      } else if (button.hasAttribute("data-scroll")) {
        send({ type: "scroll", dx: 0, dy: parseInt(button.getAttribute("data-scroll"), 10) });
      } else if (button.hasAttribute("data-fill")) {
        send({ type: "fill", what: button.getAttribute("data-fill") });
      }
    });
  });
}());
