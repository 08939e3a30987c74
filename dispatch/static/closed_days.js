// Says a closed (確定) day before saving, as the dates of a form change: the form names its closed days
// (data-closed) and what this user is told about one (data-closed-message); the dates are its inputs named
// in data-closed-dates ("date_from date_to": a range). The server refuses or flags them again on saving.
(function () {
  "use strict";
  document.querySelectorAll("form[data-closed][data-closed-dates]").forEach(function (form) {
    var closed = JSON.parse(form.getAttribute("data-closed") || "[]");
    var names = form.getAttribute("data-closed-dates").split(" ");
    var notice = form.querySelector("#closed-notice");
    if (!notice) { return; }
    function days() {
      var from = Date.parse(form.elements[names[0]].value);
      var last = names[1] && form.elements[names[1]] ? form.elements[names[1]].value : "";
      var to = Date.parse(last || form.elements[names[0]].value);
      var out = [];
      if (isNaN(from) || isNaN(to) || to < from) { return out; }
      for (var t = from; t <= to && out.length <= 400; t += 86400000) { out.push(new Date(t).toISOString().slice(0, 10)); }
      return out;
    }
    function update() {
      var shut = days().filter(function (d) { return closed.indexOf(d) >= 0; });
      notice.hidden = !shut.length;
      if (shut.length) {
        notice.textContent = shut.slice(0, 3).map(function (d) {
          return parseInt(d.slice(5, 7), 10) + "月" + parseInt(d.slice(8, 10), 10) + "日";
        }).join("、") + (shut.length > 3 ? "ほか" : "") + "は" + form.getAttribute("data-closed-message");
      }
    }
    names.forEach(function (name) {
      if (form.elements[name]) { form.elements[name].addEventListener("change", update); }
    });
  });
}());
