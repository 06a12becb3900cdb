// Progressive enhancements for the demo shop. Every page works without
// this file; the Content-Security-Policy allows no inline script, so all
// of the shop's JavaScript is here.
(function () {
  "use strict";

  var root = document.documentElement;

  // Show absolute times in the reader's own time zone and language.
  var fmt;
  try {
    fmt = new Intl.DateTimeFormat(root.lang || undefined, { dateStyle: "medium", timeStyle: "short" });
  } catch (e) {
    fmt = null;
  }
  if (fmt) {
    document.querySelectorAll("time[data-local]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (!isNaN(d.getTime())) {
        el.title = el.textContent;
        el.textContent = fmt.format(d);
      }
    });
  }

  // themeFromCookie reads the signed, script-readable theme cookie, whose
  // name the theme form carries: a base64url JSON payload, a ".", and a
  // signature the server checks. The page only reads it; it cannot forge
  // one.
  function themeFromCookie() {
    var name = form.getAttribute("data-cookie");
    var v = "";
    document.cookie.split(";").forEach(function (part) {
      var kv = part.trim();
      if (!v && kv.slice(0, name.length + 1) === name + "=") v = kv.slice(name.length + 1);
    });
    if (!v) return "";
    var dot = v.lastIndexOf(".");
    if (dot < 0) return "";
    var b64 = v.slice(0, dot).replace(/-/g, "+").replace(/_/g, "/");
    try {
      var t = JSON.parse(atob(b64));
      return t === "light" || t === "dark" ? t : "";
    } catch (e) {
      return "";
    }
  }

  function effectiveTheme() {
    var t = root.getAttribute("data-theme");
    if (t) return t;
    return window.matchMedia && window.matchMedia("(prefers-color-scheme: dark)").matches ? "dark" : "light";
  }

  // The theme button: without JavaScript it is a form that reloads the
  // page. Here it switches at once, and the server's answer (the theme
  // cookie it set) is what the page ends up showing.
  var form = document.getElementById("theme-toggle");
  if (form && window.fetch && window.FormData) {
    var input = form.querySelector("input[name=theme]");
    input.value = effectiveTheme() === "dark" ? "light" : "dark";
    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      var wanted = input.value;
      root.setAttribute("data-theme", wanted);
      fetch(form.action, {
        method: "POST",
        body: new URLSearchParams(new FormData(form)),
        headers: { Accept: "application/json" },
        credentials: "same-origin"
      }).then(function (resp) {
        var confirmed = resp.ok ? themeFromCookie() : "";
        if (confirmed) {
          root.setAttribute("data-theme", confirmed);
        } else if (!resp.ok) {
          form.submit();
          return;
        }
        input.value = effectiveTheme() === "dark" ? "light" : "dark";
      }, function () {
        form.submit();
      });
    });
  }
})();
