// Small progressive enhancements. Every page works without them: links that change data fall
// back to a confirmation page, and the batch page refreshes itself when htmx cannot poll.
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // A link marked data-post leads to a confirmation page. With JavaScript the browser asks
  // instead, and the same URL receives the POST the confirmation page would have sent.
  function postLink(link) {
    var form = document.createElement("form");
    form.method = "post";
    form.action = link.href;
    var token = document.createElement("input");
    token.type = "hidden";
    token.name = "csrf_token";
    token.value = csrfToken();
    form.appendChild(token);
    document.body.appendChild(form);
    form.submit();
  }

  document.addEventListener("click", function (event) {
    var link = event.target.closest("a[data-post]");
    if (link) {
      event.preventDefault();
      var question = link.getAttribute("data-confirm");
      if (!question || window.confirm(question)) {
        postLink(link);
      }
      return;
    }
    if (event.target.closest("[data-print]")) {
      window.print();
    }
  });

  // Forms (or their submit buttons) with data-confirm ask before sending.
  document.addEventListener("submit", function (event) {
    var submitter = event.submitter;
    var question =
      (submitter && submitter.getAttribute("data-confirm")) ||
      event.target.getAttribute("data-confirm");
    if (question && !window.confirm(question)) {
      event.preventDefault();
    }
  });

  // "Select all" checkboxes: data-select-all names the checkboxes of the same form it toggles.
  function boxesFor(master) {
    var form = master.closest("form") || document;
    var name = master.getAttribute("data-select-all");
    return Array.prototype.slice.call(
      form.querySelectorAll('input[type="checkbox"][name="' + name + '"]')
    );
  }

  function syncMaster(master) {
    var boxes = boxesFor(master);
    var checked = boxes.filter(function (box) {
      return box.checked;
    }).length;
    master.checked = boxes.length > 0 && checked === boxes.length;
    master.indeterminate = checked > 0 && checked < boxes.length;
  }

  function initSelectAll(root) {
    root.querySelectorAll("[data-select-all]").forEach(function (master) {
      if (boxesFor(master).length === 0) {
        return;
      }
      var wrapper = master.closest("[hidden]");
      if (wrapper) {
        wrapper.hidden = false;
      }
      syncMaster(master);
    });
  }

  document.addEventListener("change", function (event) {
    var target = event.target;
    if (target.matches("[data-select-all]")) {
      boxesFor(target).forEach(function (box) {
        box.checked = target.checked;
      });
      return;
    }
    if (target.matches('input[type="checkbox"]') && target.form) {
      target.form.querySelectorAll("[data-select-all]").forEach(syncMaster);
    }
  });

  function init(root) {
    initSelectAll(root);
    root.querySelectorAll("[data-print][hidden]").forEach(function (button) {
      button.hidden = false;
    });
  }

  init(document);
  document.addEventListener("htmx:afterSwap", function (event) {
    init(event.target);
  });
})();
