// The header's menu on a phone: app.css folds it behind the メニュー button only once this script has
// marked the header (has-menu), so without script the menu simply stays open. No inline handlers: the CSP
// forbids them.
(function () {
  "use strict";
  var header = document.querySelector("header.site");
  var toggle = header && header.querySelector(".menu-toggle");
  if (!toggle) { return; }
  header.classList.add("has-menu");
  function set(open) {
    header.classList.toggle("menu-open", open);
    toggle.setAttribute("aria-expanded", open ? "true" : "false");
  }
  toggle.addEventListener("click", function () {
    set(toggle.getAttribute("aria-expanded") !== "true");
  });
  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape" && toggle.getAttribute("aria-expanded") === "true") {
      set(false);
      toggle.focus();
    }
  });
}());
