// Shows the person-days a period will add while it is typed. The server previews it again before saving.
(function () {
  "use strict";
  var form = document.getElementById("period-form");
  if (!form) { return; }
  var output = document.getElementById("period-estimate");
  var from = form.elements["date_from"], to = form.elements["date_to"], headcount = form.elements["headcount"];
  var confirmed = form.elements["confirmed"];
  var dayMs = 24 * 60 * 60 * 1000;

  function days() {
    var start = Date.parse(from.value), end = Date.parse(to.value);
    if (isNaN(start) || isNaN(end) || end < start) { return 0; }
    return Math.round((end - start) / dayMs) + 1;
  }

  function update() {
    var n = days(), h = parseInt((headcount.value || "").replace(/[０-９]/g, function (c) {
      return String.fromCharCode(c.charCodeAt(0) - 0xFEE0);
    }), 10);
    if (!n || !h || h < 1) { output.textContent = "—"; return; }
    var skip = form.elements["skip_holidays"];
    if (skip && skip.checked) { output.textContent = "土日祝日を除いた日数は「確認」で計算します"; return; }
    output.textContent = n + "日 × " + h + "人 = 延べ" + (n * h).toLocaleString("ja-JP") + "人";
  }

  form.addEventListener("input", function () {
    // Anything changed after the preview must be previewed again: the server checks this too.
    if (confirmed) { confirmed.value = ""; }
    update();
  });
  update();
}());
