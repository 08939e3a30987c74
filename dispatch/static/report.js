// Copy the status report's text, and print it. No inline handlers: the page's CSP forbids them.
(function () {
  "use strict";
  var copy = document.getElementById("copy-report");
  var status = document.getElementById("copy-status");
  var print = document.getElementById("print-report");
  if (copy) {
    copy.addEventListener("click", function () {
      var text = document.getElementById(copy.getAttribute("data-target")).textContent;
      function done() { status.textContent = "コピーしました"; }
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(text).then(done, fallback);
      } else {
        fallback();
      }
      function fallback() {
        // Plain http on LGWAN has no clipboard API: select the text and use the old command.
        var range = document.createRange();
        range.selectNodeContents(document.getElementById(copy.getAttribute("data-target")));
        var selection = window.getSelection();
        selection.removeAllRanges();
        selection.addRange(range);
        document.execCommand("copy");
        done();
      }
    });
  }
  if (print) { print.addEventListener("click", function () { window.print(); }); }
}());
