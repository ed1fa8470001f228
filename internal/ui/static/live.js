// live.js: a running run's page streams its output (docs/dashboard.md#live-output).
// It opens an EventSource on the page's /ui/runs/{id}/output and appends
// each chunk, as text, to the stdout or stderr <pre>. When the run ends it
// reloads once to show the outcome. If the stream is refused, it falls
// back to what the page does without script: reload every 2 s.
"use strict";
(function () {
  var state = document.getElementById("live-state");
  if (!state || !window.EventSource) {
    return;
  }
  var keep = 256 * 1024; // characters a <pre> keeps; older text is dropped
  var pres = { stdout: document.getElementById("stdout"), stderr: document.getElementById("stderr") };
  var es = new EventSource(state.getAttribute("data-output"));

  function append(stream, text) {
    var pre = pres[stream];
    if (!pre) {
      return;
    }
    pre.appendChild(document.createTextNode(text));
    if (pre.textContent.length > keep * 2) {
      pre.textContent = pre.textContent.slice(-keep);
    }
  }
  function read(ev) {
    try {
      return JSON.parse(ev.data);
    } catch (e) {
      return null;
    }
  }
  // A form being filled in (a cancel note) is not reloaded away.
  function reloadSoon(ms) {
    setTimeout(function () {
      var a = document.activeElement;
      if (a && (a.tagName === "INPUT" || a.tagName === "TEXTAREA") && a.value !== "") {
        reloadSoon(ms);
        return;
      }
      location.reload();
    }, ms);
  }

  es.addEventListener("open", function () {
    // Every connection starts with the last 64 KiB: replace, not repeat.
    pres.stdout.textContent = "";
    pres.stderr.textContent = "";
    state.textContent = "Live: streaming.";
  });
  es.addEventListener("output", function (ev) {
    var d = read(ev);
    if (d && typeof d.text === "string") {
      append(d.stream, d.text);
    }
  });
  es.addEventListener("skipped", function (ev) {
    var d = read(ev);
    if (d) {
      append(d.stream, "\n[… " + d.bytes + " bytes skipped: this page fell behind …]\n");
    }
  });
  es.addEventListener("end", function (ev) {
    es.close();
    var d = read(ev);
    state.textContent = "The run ended" + (d && d.status ? ": " + d.status : "") + ".";
    reloadSoon(500);
  });
  es.addEventListener("error", function () {
    if (es.readyState === EventSource.CLOSED) {
      state.textContent = "Live output is not available: this page reloads every 2 s instead.";
      reloadSoon(2000);
    }
  });
})();
