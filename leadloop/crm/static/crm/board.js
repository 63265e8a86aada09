// The pipeline board's drag and drop. Every column's list is a SortableJS list in one shared
// group; a drop POSTs the deal's new stage and its neighbours (the cards above and below it) to
// the move URL, then shows the totals the server answers. A refusal puts the card back where it
// was and says why. A drop on a Lost stage first asks for the reason in the page's <dialog>.
(function () {
  "use strict";

  function csrfToken() {
    return JSON.parse(document.body.getAttribute("hx-headers"))["X-CSRFToken"];
  }

  function setTotals(container, totals) {
    for (const name of ["count", "total", "forecast"]) {
      const slot = container && container.querySelector("[data-" + name + "]");
      if (slot && totals[name] !== undefined) slot.textContent = totals[name];
    }
  }

  function showTotals(answer) {
    for (const [stage, totals] of Object.entries(answer.columns)) {
      setTotals(document.querySelector('[data-totals-for="' + stage + '"]'), totals);
    }
    setTotals(document.querySelector("[data-pipeline-totals]"), answer.pipeline);
  }

  function say(text) {
    const message = document.querySelector("[data-board-message]");
    message.textContent = text;
    message.hidden = !text;
  }

  function putBack(drop) {
    // Taken out first, so the old index counts the column as it was before the drag.
    drop.item.remove();
    drop.from.insertBefore(drop.item, drop.from.children[drop.oldIndex] || null);
  }

  function neighbour(card, direction) {
    const other = card[direction];
    return other && other.dataset.deal ? other.dataset.deal : "";
  }

  async function move(board, drop, reason) {
    const card = drop.item;
    const form = new FormData();
    form.append("stage", drop.to.dataset.stage);
    form.append("above", neighbour(card, "previousElementSibling"));
    form.append("below", neighbour(card, "nextElementSibling"));
    form.append("reason", reason || "");
    // The board's filters ride along, so the totals answered are the ones on screen.
    const query = board.dataset.query ? "?" + board.dataset.query : "";
    const url = board.dataset.moveUrl.replace(/\/0\/move$/, "/" + card.dataset.deal + "/move") + query;
    card.classList.add("moving");
    try {
      const response = await fetch(url, {
        method: "POST",
        body: form,
        headers: { "X-CSRFToken": csrfToken(), Accept: "application/json" },
        credentials: "same-origin",
      });
      const answer = (response.headers.get("Content-Type") || "").includes("json")
        ? await response.json()
        : { error: response.status === 404 ? "That deal is no longer yours to see." : "" };
      if (!response.ok) {
        putBack(drop);
        say(answer.error || "The deal could not be moved (" + response.status + ").");
        return;
      }
      say("");
      if (drop.from !== drop.to) {
        // A stage change is activity: the card is no longer stalled.
        card.classList.remove("stalled");
        const flag = card.querySelector("[data-stalled]");
        if (flag) flag.remove();
      }
      showTotals(answer);
    } catch (failure) {
      putBack(drop);
      say("The deal could not be moved: the server did not answer.");
    } finally {
      card.classList.remove("moving");
    }
  }

  function askWhyLost(board, drop) {
    const dialog = document.getElementById("lost-dialog");
    const reason = dialog.querySelector("textarea[name=reason]");
    dialog.querySelector("[data-lost-deal]").textContent =
      drop.item.querySelector(".deal-title").textContent;
    reason.value = "";
    dialog.returnValue = "";
    dialog.addEventListener(
      "close",
      function () {
        if (dialog.returnValue === "lose" && reason.value.trim()) {
          move(board, drop, reason.value.trim());
        } else {
          putBack(drop);
        }
      },
      { once: true },
    );
    dialog.showModal();
    reason.focus();
  }

  function start() {
    const board = document.querySelector(".board[data-move-url]");
    if (!board || !window.Sortable) return;
    for (const list of board.querySelectorAll("ol.cards")) {
      window.Sortable.create(list, {
        group: "deals",
        draggable: ".deal-card",
        animation: 120,
        ghostClass: "ghost",
        // Pointer events rather than the browser's native drag and drop: the same behaviour in
        // every browser, touch screens included, and a card that follows the pointer.
        forceFallback: true,
        onEnd: function (drop) {
          if (drop.from === drop.to && drop.oldIndex === drop.newIndex) return;
          if (drop.to.closest(".column").dataset.outcome === "lost" && drop.from !== drop.to) {
            askWhyLost(board, drop);
          } else {
            move(board, drop, "");
          }
        },
      });
    }
  }

  document.addEventListener("DOMContentLoaded", start);
})();
