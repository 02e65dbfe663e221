// idsync console: what plain forms cannot do. Live progress of a running cycle, and
// "Copy debug info". Written here (no framework, no build step): a few dozen lines.
"use strict";

function csrfToken() {
  const meta = document.querySelector('meta[name="csrf-token"]');
  return meta ? meta.content : "";
}

async function debugInfo(trackingId, notice) {
  const response = await fetch("/api/v1/debug-info/" + encodeURIComponent(trackingId), {
    credentials: "same-origin",
    headers: { Accept: "application/json" },
  });
  if (response.ok) return JSON.stringify(await response.json(), null, 2);
  // Not recorded anywhere (a refused console request): what the notice says is the bundle.
  const shown = notice ? notice.dataset : {};
  return JSON.stringify({
    tracking_id: trackingId, code: shown.code || null, title: shown.title || null,
    message: shown.message || null, page: location.pathname, time: new Date().toISOString(),
  }, null, 2);
}

function setUpCopyButtons() {
  for (const button of document.querySelectorAll(".copy-debug")) {
    button.addEventListener("click", async () => {
      const status = button.parentElement.querySelector(".copied");
      try {
        const text = await debugInfo(button.dataset.trackingId, button.closest(".notice"));
        await navigator.clipboard.writeText(text);
        if (status) status.textContent = "Debug info copied (secrets removed).";
      } catch (error) {
        if (status) status.textContent = "Could not copy: " + error;
      }
    });
  }
}

function describe(p) {
  if (!p.running) return "";
  let text = `Cycle running: ${p.read} objects read, ${p.written} written, ${p.per_second}/s`;
  if (p.phase) text += ` (${p.phase}s)`;
  if (p.eta_seconds !== null && p.eta_seconds !== undefined) text += `, about ${Math.ceil(p.eta_seconds)} s left`;
  return text + ".";
}

function watchProgress() {
  const box = document.getElementById("progress");
  if (!box || !box.dataset.watch) return;
  let seenRunning = false;
  let polls = 0;
  let failures = 0;
  const poll = async () => {
    polls += 1;
    let p;
    try {
      const response = await fetch(box.dataset.url, { credentials: "same-origin" });
      if (!response.ok) throw new Error(`progress: HTTP ${response.status}`);
      p = await response.json();
    } catch (error) {
      // One failed poll (a busy server, a dropped connection) must not end the live view;
      // ten in a row do (signed out, the integration removed).
      failures += 1;
      if (failures < 10) setTimeout(poll, 1400);
      return;
    }
    failures = 0;
    if (p.running) {
      seenRunning = true;
      box.textContent = describe(p);
    } else if (seenRunning || (p.tracking_id || "") !== box.dataset.tracking || polls > 20) {
      // Ended (seen running, or a new cycle's tracking ID: it ran between two polls), or
      // it never started (~15 s: refused at once): the page shows the outcome. Starting
      // can take seconds on a busy server, so "not running yet" alone is no end.
      location.replace(box.dataset.page);
      return;
    }
    setTimeout(poll, 700);
  };
  poll();
}

document.addEventListener("DOMContentLoaded", () => {
  setUpCopyButtons();
  watchProgress();
});
