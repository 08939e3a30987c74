// The day grid, keyboard first (pages/day_grid.py). Without this script the page is a plain form of rows;
// with it: Enter moves down (Excel's way: back to the column where the row was entered), Tab across, a
// new row at the end; 派遣区分, 派遣先 and 業務 carry into a blank row; Ctrl+D duplicates a row, Ctrl+Delete
// removes it, Ctrl+Enter saves; type-ahead asks the server's one look-up (lookup.json); a block pasted from
// a spreadsheet fills the rows; the person-days to be added and any closed day show while typing. The
// server checks everything again on saving. No inline handlers: the CSP forbids them.
(function () {
  "use strict";
  var form = document.getElementById("day-grid");
  if (!form) { return; }
  var tbody = form.querySelector("#grid tbody");
  var lookupUrl = form.getAttribute("data-lookup");
  var closed = JSON.parse(form.getAttribute("data-closed") || "[]");
  var closedMessage = form.getAttribute("data-closed-message");
  var notice = document.getElementById("closed-notice");
  var estimate = document.getElementById("grid-estimate");
  var saveButton = document.getElementById("grid-save");
  var yesterdayLink = document.getElementById("same-as-yesterday");
  var CELLS = ["operation", "sender", "sender_unit", "destination", "duty", "headcount", "note"];
  var CARRIED = ["operation", "destination", "duty"];
  var TYPED = ["sender", "sender_unit", "headcount", "note"];
  var KINDS = { operation: "operation", sender: "organisation", destination: "organisation", duty: "duty" };
  var HEADERS = {
    "日付": "date", "date": "date", "派遣区分": "operation", "operation": "operation",
    "派遣元": "sender", "sender": "sender", "所属": "sender_unit", "sender_unit": "sender_unit",
    "派遣先": "destination", "destination": "destination", "業務": "duty", "duty": "duty",
    "人数": "headcount", "headcount": "headcount", "備考": "note", "note": "note"
  };
  var nextIndex = 0;
  var entered = { row: null, column: null };

  function rows() { return Array.prototype.slice.call(tbody.querySelectorAll("tr[data-row]")); }
  function cell(row, name) { return row.querySelector('input[data-cell="' + name + '"]'); }
  function rowOf(input) { return input.closest("tr[data-row]"); }
  function blank(row) {
    return CELLS.every(function (name) { return !cell(row, name).value.trim(); });
  }
  function typedBlank(row) {
    return TYPED.every(function (name) { return !cell(row, name).value.trim(); });
  }
  function previousRow(row) {
    var all = rows(), at = all.indexOf(row);
    return at > 0 ? all[at - 1] : null;
  }

  // Every input name carries its row number; a new row takes a number no row has had.
  rows().forEach(function (row) {
    var match = /rows-(\d+)-/.exec(cell(row, "operation").name);
    nextIndex = Math.max(nextIndex, parseInt(match[1], 10) + 1);
    prepare(row);
  });

  // The spare blank rows a plain form needs are not needed here: Enter adds a row at the end.
  (function () {
    var all = rows();
    while (all.length > 1 && blank(all[all.length - 1])) { all.pop().remove(); }
  }());

  function prepare(row) {
    row.querySelectorAll("input[list]").forEach(function (input) { input.removeAttribute("list"); });
    var box = row.querySelector('input[type="checkbox"]');
    if (box) { box.tabIndex = -1; }
  }

  function newRow(after, values) {
    var template = rows()[0];
    var row = template.cloneNode(true);
    var index = nextIndex++;
    row.classList.remove("refused");
    row.querySelector("th.n").textContent = "";
    row.querySelectorAll("input").forEach(function (input) {
      input.name = input.name.replace(/rows-\d+-/, "rows-" + index + "-");
      input.removeAttribute("autofocus");
      input.removeAttribute("aria-invalid");
      input.removeAttribute("aria-describedby");
      input.removeAttribute("title");
      input.classList.remove("bad");
      if (input.type === "checkbox") { input.checked = false; } else { input.value = (values && values[input.getAttribute("data-cell")]) || ""; }
    });
    var anchor = after.nextElementSibling && after.nextElementSibling.classList.contains("row-problems") ? after.nextElementSibling : after;
    anchor.after(row);
    prepare(row);
    renumber();
    return row;
  }

  function renumber() {
    rows().forEach(function (row, i) {
      row.querySelector("th.n").textContent = String(i + 1);
      row.querySelectorAll("input[data-cell]").forEach(function (input) {
        var label = input.getAttribute("aria-label").replace(/（\d+行目）$/, "");
        input.setAttribute("aria-label", label + "（" + (i + 1) + "行目）");
      });
    });
  }

  function focusCell(row, name) {
    var input = cell(row, name);
    input.focus();
    input.select();
  }

  // A blank row takes 派遣区分, 派遣先 and 業務 from the row above as the cursor enters it.
  function carry(row) {
    var above = previousRow(row);
    while (above && blank(above)) { above = previousRow(above); }
    if (!above || !blank(row)) { return; }
    CARRIED.forEach(function (name) { cell(row, name).value = cell(above, name).value; });
  }

  tbody.addEventListener("focusin", function (event) {
    var input = event.target;
    if (!input.matches || !input.matches("input[data-cell]")) { return; }
    var row = rowOf(input);
    if (entered.row !== row) {
      carry(row);
      entered = { row: row, column: input.getAttribute("data-cell") };
    }
  });

  function moveDown(input) {
    var row = rowOf(input), all = rows(), at = all.indexOf(row);
    var column = entered.row === row ? entered.column : input.getAttribute("data-cell");
    var next = all[at + 1];
    // A new or blank row starts at 派遣元, its carried cells (派遣区分, 派遣先, 業務) already filled.
    if (!next) {
      next = newRow(row);
      column = "sender";
    } else if (blank(next)) {
      column = "sender";
    }
    entered = { row: null, column: null };  // so that entering it carries values and anchors the column
    focusCell(next, column);
  }

  function moveUp(input) {
    var row = previousRow(rowOf(input));
    if (row) { focusCell(row, input.getAttribute("data-cell")); }
  }

  function duplicate(input) {
    var row = rowOf(input), values = {};
    CELLS.forEach(function (name) { values[name] = cell(row, name).value; });
    var copy = newRow(row, values);
    entered = { row: copy, column: entered.column };
    focusCell(copy, input.getAttribute("data-cell"));
    update();
  }

  function remove(input) {
    var row = rowOf(input), all = rows(), at = all.indexOf(row), name = input.getAttribute("data-cell");
    if (all.length === 1) {
      CELLS.forEach(function (n) { cell(row, n).value = ""; });
      focusCell(row, name);
    } else {
      var next = all[at + 1] || all[at - 1];
      var problems = row.nextElementSibling;
      if (problems && problems.classList.contains("row-problems")) { problems.remove(); }
      row.remove();
      renumber();
      entered = { row: null, column: null };
      focusCell(next, name);
    }
    update();
  }

  // --- type-ahead ---------------------------------------------------------------------------------------
  var popup = document.createElement("ul");
  popup.className = "suggestions";
  popup.setAttribute("role", "listbox");
  popup.hidden = true;
  document.body.appendChild(popup);
  var popupFor = null, highlighted = -1, timer = null;
  var answers = {};

  function ask(kind, text) {
    var key = kind + "\u0000" + text;
    if (!answers[key]) {
      answers[key] = fetch(lookupUrl + "?kind=" + kind + "&q=" + encodeURIComponent(text), {
        credentials: "same-origin", headers: { "Accept": "application/json" }
      }).then(function (r) { return r.json(); });
    }
    return answers[key];
  }

  function closePopup() { popup.hidden = true; popupFor = null; highlighted = -1; }

  function showPopup(input, suggestions) {
    popup.innerHTML = "";
    if (!suggestions.length || document.activeElement !== input) { closePopup(); return; }
    suggestions.forEach(function (text, i) {
      var li = document.createElement("li");
      li.textContent = text;
      li.setAttribute("role", "option");
      li.id = "suggestion-" + i;
      li.addEventListener("mousedown", function (event) {
        event.preventDefault();
        pick(input, text);
      });
      popup.appendChild(li);
    });
    var box = input.getBoundingClientRect();
    popup.style.left = (window.scrollX + box.left) + "px";
    popup.style.top = (window.scrollY + box.bottom) + "px";
    popup.style.minWidth = box.width + "px";
    popup.hidden = false;
    popupFor = input;
    highlighted = -1;
  }

  function highlight(step) {
    var items = popup.querySelectorAll("li");
    if (!items.length) { return; }
    highlighted = (highlighted + step + items.length) % items.length;
    items.forEach(function (li, i) { li.setAttribute("aria-selected", i === highlighted ? "true" : "false"); });
  }

  function pick(input, text) {
    input.value = text;
    mark(input, null);
    closePopup();
    update();
  }

  function mark(input, message) {
    if (message) {
      input.setAttribute("aria-invalid", "true");
      input.title = message;
      input.classList.add("bad");
    } else {
      input.removeAttribute("aria-invalid");
      input.removeAttribute("title");
      input.classList.remove("bad");
    }
    var status = document.getElementById("grid-lookup");
    if (status) { status.textContent = message || ""; }
  }

  // Each cell through the one look-up: 「横手」 becomes 052035 横手市; an unknown or ambiguous text is marked,
  // with the candidates in its message.
  function resolve(input) {
    var kind = KINDS[input.getAttribute("data-cell")], text = input.value.trim();
    if (!kind || !text) { return Promise.resolve(); }
    return ask(kind, text).then(function (answer) {
      if (input.value.trim() !== text) { return; }
      if (answer.match) {
        if (input.value !== answer.match) { input.value = answer.match; }
        mark(input, null);
      } else {
        mark(input, answer.message);
      }
    }).catch(function () { /* the server checks on saving */ });
  }

  tbody.addEventListener("input", function (event) {
    var input = event.target, kind = KINDS[input.getAttribute("data-cell")];
    update();
    if (!kind) { return; }
    clearTimeout(timer);
    var text = input.value.trim();
    if (!text) { closePopup(); return; }
    timer = setTimeout(function () {
      ask(kind, text).then(function (answer) {
        if (input.value.trim() === text) { showPopup(input, answer.suggestions || []); }
      }).catch(function () { closePopup(); });
    }, 120);
  });

  tbody.addEventListener("change", function (event) {
    if (KINDS[event.target.getAttribute("data-cell")]) { resolve(event.target); }
  });
  tbody.addEventListener("focusout", function (event) {
    if (event.target === popupFor) { closePopup(); }
  });

  // --- keys -----------------------------------------------------------------------------------------------
  tbody.addEventListener("keydown", function (event) {
    var input = event.target;
    if (!input.matches("input[data-cell]") || event.isComposing || event.keyCode === 229) { return; }
    var open = popupFor === input && !popup.hidden;
    if (open && (event.key === "ArrowDown" || event.key === "ArrowUp")) {
      event.preventDefault();
      highlight(event.key === "ArrowDown" ? 1 : -1);
      return;
    }
    if (open && event.key === "Escape") { event.preventDefault(); closePopup(); return; }
    if (open && highlighted >= 0 && (event.key === "Enter" || event.key === "Tab") && !event.ctrlKey) {
      pick(input, popup.querySelectorAll("li")[highlighted].textContent);
    }
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      event.preventDefault();
      form.requestSubmit(saveButton);
    } else if (event.key === "Enter" && !event.altKey) {
      event.preventDefault();
      closePopup();
      if (event.shiftKey) { moveUp(input); } else { moveDown(input); }
    } else if ((event.key === "d" || event.key === "D") && event.ctrlKey) {
      event.preventDefault();
      duplicate(input);
    } else if (event.key === "Delete" && event.ctrlKey) {
      event.preventDefault();
      remove(input);
    } else if (!open && (event.key === "ArrowDown" || event.key === "ArrowUp") && !event.altKey) {
      // Up and down as in a spreadsheet; only Enter adds a row at the end.
      event.preventDefault();
      var all = rows(), at = all.indexOf(rowOf(input)) + (event.key === "ArrowDown" ? 1 : -1);
      if (all[at]) { focusCell(all[at], input.getAttribute("data-cell")); }
    }
  });

  document.addEventListener("keydown", function (event) {
    // Alt+Y: 昨日と同じ (the link's accesskey does the same without script, where the browser allows).
    if (event.altKey && !event.ctrlKey && event.code === "KeyY" && yesterdayLink) {
      event.preventDefault();
      window.location.href = yesterdayLink.href;
      return;
    }
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey) && !tbody.contains(event.target) && form.contains(event.target)) {
      event.preventDefault();
      form.requestSubmit(saveButton);
    }
  });

  // --- paste from a spreadsheet ------------------------------------------------------------------------------
  // Excel puts a block on the clipboard as tab-separated lines; a cell holding a tab, a line break or a
  // quote is quoted, its quotes doubled.
  function parseBlock(text) {
    var out = [], rowCells = [], value = "", quoted = false, i = 0;
    text = text.replace(/\r\n?/g, "\n").replace(/\n$/, "");
    for (; i < text.length; i++) {
      var c = text[i];
      if (quoted) {
        if (c === '"' && text[i + 1] === '"') { value += '"'; i++; } else if (c === '"') { quoted = false; } else { value += c; }
      } else if (c === '"' && value === "") {
        quoted = true;
      } else if (c === "\t") {
        rowCells.push(value); value = "";
      } else if (c === "\n") {
        rowCells.push(value); out.push(rowCells); rowCells = []; value = "";
      } else {
        value += c;
      }
    }
    rowCells.push(value);
    out.push(rowCells);
    return out;
  }

  function headerOf(cells) {
    var names = cells.map(function (c) { return HEADERS[c.trim().toLowerCase()] || null; });
    var known = names.filter(function (n) { return n; }).length;
    return known >= 2 ? names : null;
  }

  function isoDate(text) {
    var t = text.trim().replace(/[０-９]/g, function (c) { return String.fromCharCode(c.charCodeAt(0) - 0xFEE0); });
    var m = /^(\d{4})[-/.年](\d{1,2})[-/.月](\d{1,2})日?$/.exec(t);
    var era = /^(令和|平成)(\d{1,2}|元)年(\d{1,2})月(\d{1,2})日$/.exec(t);
    if (era) { m = [null, (era[1] === "令和" ? 2018 : 1988) + (era[2] === "元" ? 1 : parseInt(era[2], 10)), era[3], era[4]]; }
    if (!m) { return null; }
    return m[1] + "-" + ("0" + m[2]).slice(-2) + "-" + ("0" + m[3]).slice(-2);
  }

  function columnsFor(block, startColumn) {
    var header = headerOf(block[0]);
    if (header) { block.shift(); return header; }
    // The tracker's own export (and the importer's file) starts with the date: eight columns.
    if (block[0].length === 8 && isoDate(block[0][0])) { return ["date"].concat(CELLS); }
    var start = CELLS.indexOf(startColumn);
    return block[0].map(function (_, i) { return CELLS[start + i] || null; });
  }

  tbody.addEventListener("paste", function (event) {
    var input = event.target;
    var text = (event.clipboardData || window.clipboardData).getData("text");
    if (!input.matches("input[data-cell]") || !/[\t\n]/.test(text.replace(/\r?\n$/, ""))) { return; }
    event.preventDefault();
    var block = parseBlock(text).filter(function (cells) { return cells.join("").trim(); });
    if (!block.length) { return; }
    var columns = columnsFor(block, input.getAttribute("data-cell"));
    var dateAt = columns.indexOf("date");
    if (dateAt >= 0) {
      var dates = {};
      block.forEach(function (cells) { dates[isoDate(cells[dateAt] || "") || cells[dateAt]] = true; });
      var found = Object.keys(dates);
      if (found.length > 1 || !isoDate(found[0])) {
        say("貼り付けた行の日付が1つではありません（" + found.slice(0, 3).join("、") + "）。複数の日の行は「取り込み」をお使いください。");
        return;
      }
      form.elements["date"].value = found[0];
      form.elements["date_to"].value = "";
    }
    var row = rowOf(input), filled = [];
    block.forEach(function (cells, n) {
      if (n > 0) { row = rows()[rows().indexOf(row) + 1] || newRow(row); }
      columns.forEach(function (name, i) {
        if (name && name !== "date" && cells[i] !== undefined) { cell(row, name).value = cells[i].trim(); }
      });
      filled.push(row);
    });
    say(block.length + "行を貼り付けました。");
    update();
    filled.forEach(function (r) {
      Object.keys(KINDS).forEach(function (name) { resolve(cell(r, name)); });
    });
    dateChanged();
  });

  function say(message) {
    var status = document.getElementById("grid-lookup");
    if (status) { status.textContent = message; }
  }

  // --- what saving will add, and closed days ------------------------------------------------------------------
  function days() {
    var from = Date.parse(form.elements["date"].value), to = Date.parse(form.elements["date_to"].value || form.elements["date"].value);
    if (isNaN(from) || isNaN(to) || to < from) { return []; }
    var out = [];
    for (var t = from; t <= to && out.length <= 400; t += 86400000) { out.push(new Date(t).toISOString().slice(0, 10)); }
    return out;
  }

  function update() {
    var count = 0, persons = 0, n = days().length;
    rows().forEach(function (row) {
      if (typedBlank(row)) { return; }
      var h = parseInt(cell(row, "headcount").value.replace(/[０-９]/g, function (c) {
        return String.fromCharCode(c.charCodeAt(0) - 0xFEE0);
      }), 10);
      count += 1;
      if (h > 0) { persons += h; }
    });
    estimate.textContent = count && n ? (count * n).toLocaleString("ja-JP") + "件、延べ" + (persons * n).toLocaleString("ja-JP") + "人" : "—";
  }

  function dateChanged() {
    var shut = days().filter(function (d) { return closed.indexOf(d) >= 0; });
    if (shut.length) {
      notice.textContent = shut.slice(0, 3).map(function (d) {
        return parseInt(d.slice(5, 7), 10) + "月" + parseInt(d.slice(8, 10), 10) + "日";
      }).join("、") + (shut.length > 3 ? "ほか" : "") + "は" + closedMessage;
      notice.hidden = false;
    } else {
      notice.hidden = true;
    }
    var day = form.elements["date"].value;
    if (yesterdayLink && day && !isNaN(Date.parse(day))) {
      var before = new Date(Date.parse(day) - 86400000).toISOString().slice(0, 10);
      var url = new URL(yesterdayLink.href);
      url.searchParams.set("date", day);
      url.searchParams.set("from", before);
      yesterdayLink.href = url.toString();
      var hidden = document.querySelector('form.copy-from input[name="date"]');
      if (hidden) { hidden.value = day; }
    }
    update();
  }

  form.elements["date"].addEventListener("change", dateChanged);
  form.elements["date_to"].addEventListener("change", dateChanged);
  update();

  var first = form.querySelector("input[autofocus]") || cell(rows()[0], "operation");
  first.focus();
  first.select();
}());
