// medchain portal: small progressive enhancements. Every page works without this file.
"use strict";

// Dates: the server writes UTC; show them in the reader's locale and time zone.
function localiseDates() {
  const format = new Intl.DateTimeFormat(undefined, { dateStyle: "medium", timeStyle: "medium" });
  for (const time of document.querySelectorAll("time[data-ms]")) {
    const ms = Number(time.dataset.ms);
    if (Number.isFinite(ms)) {
      time.title = time.textContent;
      time.textContent = format.format(new Date(ms));
    }
  }
}

// Copy buttons: put the whole id on the clipboard and say so.
function wireCopyButtons() {
  for (const button of document.querySelectorAll("button.copy[data-copy]")) {
    button.addEventListener("click", async () => {
      try {
        await navigator.clipboard.writeText(button.dataset.copy);
        button.textContent = "Copied";
      } catch {
        button.textContent = "Copy failed";
      }
      setTimeout(() => { button.textContent = "Copy"; }, 1500);
    });
  }
}

// Forms that act in the user's name with consequences (break-glass, suspension) ask first.
function wireConfirmations() {
  for (const form of document.querySelectorAll("form[data-confirm]")) {
    form.addEventListener("submit", (event) => {
      if (!window.confirm(form.dataset.confirm)) {
        event.preventDefault();
      }
    });
  }
}

document.addEventListener("DOMContentLoaded", () => {
  localiseDates();
  wireCopyButtons();
  wireConfirmations();
});
