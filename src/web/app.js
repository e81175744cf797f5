// Tollgate dashboard: progressive enhancement only; every page works without this file.
"use strict";

// A block, not a function: in strict code the functions declared in it stay local to it.
{
  // Copy buttons: data-copy="#selector" copies that element's text (or value).
  function copyText(text) {
    if (navigator.clipboard && window.isSecureContext) return navigator.clipboard.writeText(text);
    var ta = document.createElement("textarea");
    ta.value = text;
    ta.setAttribute("readonly", "");
    ta.className = "sr-only";
    document.body.appendChild(ta);
    ta.select();
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    ta.remove();
    return ok ? Promise.resolve() : Promise.reject(new Error("copy failed"));
  }
  function onCopyClick(ev) {
    var btn = ev.target.closest && ev.target.closest("[data-copy]");
    if (!btn) return;
    var el = document.querySelector(btn.getAttribute("data-copy"));
    if (!el) return;
    var text = "value" in el && el.tagName !== "BUTTON" ? el.value : el.textContent;
    var label = btn.textContent;
    copyText(text.trim()).then(
      function () { btn.textContent = "Copied"; },
      function () { btn.textContent = "Press Ctrl+C"; if (el.select) el.select(); }
    ).then(function () { setTimeout(function () { btn.textContent = label; }, 1600); });
  }

  // Confirmation before destructive actions: <form data-confirm="..."> opens a modal dialog.
  let dialog = null;
  function confirmDialog(message, action, onYes) {
    if (!dialog) {
      dialog = document.createElement("dialog");
      dialog.className = "confirm";
      dialog.setAttribute("aria-labelledby", "confirm-title");
      dialog.innerHTML = '<h2 id="confirm-title">Are you sure?</h2><p class="msg"></p>' +
        '<div class="buttons"><button type="button" class="btn" value="no">Cancel</button>' +
        '<button type="button" class="btn danger solid" value="yes"></button></div>';
      document.body.appendChild(dialog);
    }
    dialog.querySelector(".msg").textContent = message;
    var yes = dialog.querySelector('[value="yes"]');
    var no = dialog.querySelector('[value="no"]');
    yes.textContent = action || "Confirm";
    function close(result) {
      yes.onclick = no.onclick = null;
      dialog.close();
      if (result) onYes();
    }
    yes.onclick = function () { close(true); };
    no.onclick = function () { close(false); };
    dialog.showModal();
    no.focus();
  }
  function onConfirmSubmit(ev) {
    var form = ev.target;
    if (!form.hasAttribute("data-confirm") || form.dataset.confirmed === "1") return;
    ev.preventDefault();
    confirmDialog(form.getAttribute("data-confirm"), form.getAttribute("data-confirm-action"), function () {
      form.dataset.confirmed = "1";
      if (form.requestSubmit) form.requestSubmit(ev.submitter || undefined); else form.submit();
    });
  }

  // Tabs (quickstart snippets).
  function initTabs(tabs) {
    var buttons = tabs.querySelectorAll('[role="tab"]');
    function select(btn) {
      buttons.forEach(function (b) {
        var on = b === btn;
        b.setAttribute("aria-selected", on ? "true" : "false");
        b.tabIndex = on ? 0 : -1;
        document.getElementById(b.getAttribute("aria-controls")).hidden = !on;
      });
    }
    buttons.forEach(function (b, i) {
      b.addEventListener("click", function () { select(b); });
      b.addEventListener("keydown", function (e) {
        var d = e.key === "ArrowRight" ? 1 : e.key === "ArrowLeft" ? -1 : 0;
        if (!d) return;
        var next = buttons[(i + d + buttons.length) % buttons.length];
        select(next);
        next.focus();
      });
    });
    if (buttons.length) select(buttons[0]);
  }

  // Spend and tokens per day (uPlot, embedded; data in a JSON script block, money in micros).
  function money(v) { return v == null ? "—" : "$" + (v / 1e6).toFixed(v !== 0 && Math.abs(v) < 10000 ? 4 : 2); }
  function tokens(v) {
    if (v == null) return "—";
    var a = Math.abs(v);
    return a >= 1e9 ? (v / 1e9).toFixed(1) + "B" : a >= 1e6 ? (v / 1e6).toFixed(1) + "M" : a >= 1e3 ? (v / 1e3).toFixed(1) + "K" : String(v);
  }
  function chartOptions(width) {
    return {
      width: width,
      height: 280,
      cursor: { points: { size: 7 } },
      // Half a day of padding each side so the first and last bars are not cut in half.
      scales: { x: { time: true, range: function (u, min, max) { return [min - 43200, max + 43200]; } }, spend: { range: function (u, min, max) { return [0, Math.max(max * 1.15, 10000)]; } },
        tokens: { range: function (u, min, max) { return [0, Math.max(max * 1.15, 10)]; } } },
      series: [
        { value: function (u, v) { return v == null ? "—" : new Date(v * 1000).toISOString().slice(0, 10); } },
        { label: "Spend", scale: "spend", value: function (u, v) { return money(v); }, fill: "rgba(67,56,202,0.35)", stroke: "#4338ca",
          width: 1, paths: uPlot.paths.bars({ size: [0.6, 36] }), points: { show: false } },
        { label: "Tokens", scale: "tokens", value: function (u, v) { return tokens(v); }, stroke: "#0e9384", width: 2,
          points: { show: true, size: 4 } },
      ],
      axes: [
        { stroke: "#5d6679", grid: { stroke: "#eef0f3" }, ticks: { stroke: "#e3e6ec" } },
        { scale: "spend", stroke: "#4338ca", grid: { stroke: "#eef0f3" }, ticks: { stroke: "#e3e6ec" }, size: 64,
          values: function (u, vals) { return vals.map(money); } },
        { scale: "tokens", side: 1, stroke: "#0e9384", grid: { show: false }, ticks: { stroke: "#e3e6ec" }, size: 56,
          values: function (u, vals) { return vals.map(tokens); } },
      ],
    };
  }
  function initChart() {
    var chartEl = document.getElementById("usage-chart");
    var dataEl = document.getElementById("chart-data");
    if (!chartEl || !dataEl || !window.uPlot) return;
    var d = JSON.parse(dataEl.textContent);
    var plot = new uPlot(chartOptions(Math.max(280, chartEl.clientWidth)), [d.days, d.spend, d.tokens], chartEl);
    if (window.ResizeObserver) {
      new ResizeObserver(function () { plot.setSize({ width: Math.max(280, chartEl.clientWidth), height: 280 }); }).observe(chartEl);
    }
  }

  // Margins per day: revenue bars, upstream cost and margin lines (money in micros; margin may be negative).
  function marginsOptions(width) {
    var axis = { stroke: "#5d6679", grid: { stroke: "#eef0f3" }, ticks: { stroke: "#e3e6ec" } };
    return {
      width: width,
      height: 280,
      cursor: { points: { size: 7 } },
      scales: { x: { time: true, range: function (u, min, max) { return [min - 43200, max + 43200]; } },
        money: { range: function (u, min, max) { return [Math.min(min * 1.15, 0), Math.max(max * 1.15, 10000)]; } } },
      series: [
        { value: function (u, v) { return v == null ? "—" : new Date(v * 1000).toISOString().slice(0, 10); } },
        { label: "Revenue", scale: "money", value: function (u, v) { return money(v); }, fill: "rgba(67,56,202,0.30)", stroke: "#4338ca",
          width: 1, paths: uPlot.paths.bars({ size: [0.6, 36] }), points: { show: false } },
        { label: "Upstream cost", scale: "money", value: function (u, v) { return money(v); }, stroke: "#d97706", width: 2, points: { show: true, size: 4 } },
        { label: "Margin", scale: "money", value: function (u, v) { return money(v); }, stroke: "#0e9384", width: 2, points: { show: true, size: 4 } },
      ],
      axes: [axis, Object.assign({ scale: "money", size: 72, values: function (u, vals) { return vals.map(money); } }, axis)],
    };
  }
  function initMarginsChart() {
    var el = document.getElementById("margins-chart");
    var dataEl = document.getElementById("margins-data");
    if (!el || !dataEl || !window.uPlot) return;
    var d = JSON.parse(dataEl.textContent);
    var plot = new uPlot(marginsOptions(Math.max(280, el.clientWidth)), [d.days, d.revenue, d.cost, d.margin], el);
    if (window.ResizeObserver) {
      new ResizeObserver(function () { plot.setSize({ width: Math.max(280, el.clientWidth), height: 280 }); }).observe(el);
    }
  }

  function init() {
    document.addEventListener("click", onCopyClick);
    document.addEventListener("submit", onConfirmSubmit);
    document.querySelectorAll(".tabs").forEach(initTabs);
    initChart();
    initMarginsChart();
  }

  init();
}
