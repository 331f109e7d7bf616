// The pages' behaviour: confirmations, the live tail (server-sent events) and the progress of
// long actions. Loaded from the site itself (the Content-Security-Policy allows no inline script).
"use strict";

document.addEventListener("DOMContentLoaded", function () {
  // Forms that ask before they act (delete, …).
  document.querySelectorAll("form[data-confirm]").forEach(function (form) {
    form.addEventListener("submit", function (e) {
      if (!window.confirm(form.getAttribute("data-confirm"))) e.preventDefault();
    });
  });

  // Live tail: each event is one webhook POST as JSON; the newest goes on top.
  document.querySelectorAll("tbody[data-tail]").forEach(function (body) {
    var source = new EventSource(body.getAttribute("data-tail"));
    var keep = 200;
    source.addEventListener("post", function (e) {
      var p = JSON.parse(e.data);
      var row = document.createElement("tr");
      row.className = "tail-row";
      [p.at, p.subscriptionIds.join(", "), p.url].forEach(function (text) {
        var td = document.createElement("td");
        td.textContent = text;
        row.appendChild(td);
      });
      var status = document.createElement("td");
      status.className = "num";
      status.textContent = p.response.status === null ? "—" : String(p.response.status);
      row.appendChild(status);
      var outcome = document.createElement("td");
      var badge = document.createElement("span");
      badge.className = "state " + p.outcome;
      badge.textContent = p.outcome;
      outcome.appendChild(badge);
      row.appendChild(outcome);
      var latency = document.createElement("td");
      latency.className = "num";
      latency.textContent = p.latencyMs + " ms";
      row.appendChild(latency);
      var open = document.createElement("td");
      var a = document.createElement("a");
      a.href = body.getAttribute("data-post-base") + encodeURIComponent(p.id);
      a.textContent = "open";
      open.appendChild(a);
      row.appendChild(open);
      body.insertBefore(row, body.firstChild);
      while (body.children.length > keep) body.removeChild(body.lastChild);
      var counter = document.getElementById("tail-count");
      if (counter) counter.textContent = String(Number(counter.textContent) + 1);
    });
    source.addEventListener("open", function () {
      var s = document.getElementById("tail-state");
      if (s) s.textContent = "connected";
    });
    source.addEventListener("error", function () {
      var s = document.getElementById("tail-state");
      if (s) s.textContent = "reconnecting…";
    });
  });

  // Progress of a long action (the simulator): polled until it says it is done.
  document.querySelectorAll("[data-progress]").forEach(function (box) {
    var url = box.getAttribute("data-progress");
    function poll() {
      fetch(url, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.json(); })
        .then(function (s) {
          var state = box.querySelector(".run-state");
          if (state) { state.textContent = s.state; state.className = "run-state state " + s.state; }
          var log = box.querySelector("pre");
          if (log) log.textContent = s.log.join("\n");
          if (s.state === "running") window.setTimeout(poll, 1000);
        })
        .catch(function () { window.setTimeout(poll, 3000); });
    }
    poll();
  });
});
