/* Small improvements on top of plain forms; every page works without this file.
   1. Uploads retry on flaky Wi-Fi (the box de-duplicates the same photo, so a retry is safe).
   2. The "being read" page asks the API and reloads as soon as the reading is there. */
(function () {
  "use strict";
  var RETRIES = 4;

  function sleep(ms) { return new Promise(function (r) { setTimeout(r, ms); }); }

  function send(form, attempt) {
    return fetch(form.action, { method: "POST", body: new FormData(form), credentials: "same-origin" })
      .catch(function (err) {
        if (attempt >= RETRIES) { throw err; }
        return sleep(1500 * (attempt + 1)).then(function () { return send(form, attempt + 1); });
      });
  }

  document.querySelectorAll("form.js-upload").forEach(function (form) {
    form.addEventListener("submit", function (ev) {
      if (!window.fetch || !window.FormData) { return; }
      ev.preventDefault();
      var button = form.querySelector("button[type=submit]");
      var note = form.querySelector(".sending");
      if (button) { button.disabled = true; }
      if (note) { note.hidden = false; note.textContent = "Mengirim... / Sending..."; }
      send(form, 0).then(function (res) {
        if (res.redirected) { window.location.assign(res.url); return; }
        return res.text().then(function (html) {
          document.open(); document.write(html); document.close();
        });
      }).catch(function () {
        if (button) { button.disabled = false; }
        if (note) { note.textContent = "Gagal mengirim. Periksa Wi-Fi lalu coba lagi. / Sending failed."; }
      });
    });
  });

  var waiting = document.querySelector("[data-poll]");
  if (waiting && window.fetch) {
    var url = waiting.getAttribute("data-poll");
    var state = waiting.getAttribute("data-state");
    var poll = function () {
      fetch(url, { credentials: "same-origin" }).then(function (res) { return res.json(); })
        .then(function (doc) {
          if (doc.state && doc.state !== state) { window.location.reload(); }
          else { setTimeout(poll, 1500); }
        }).catch(function () { setTimeout(poll, 3000); });
    };
    setTimeout(poll, 1500);
  }
})();
