// The desk's live updates and small helpers. No inline script anywhere (the CSP forbids it);
// text from the server is set with textContent, never as HTML, except the transcript fragment
// the server renders and escapes.
"use strict";

let shownQueue = null;

function renderQueue(body, data) {
  const rows = document.getElementById("queue-rows");
  if (!rows) return;
  // Rows are rebuilt only when something changed: no flicker, and what the agent is about to
  // click stays where it is.
  const fingerprint = JSON.stringify(data);
  if (fingerprint === shownQueue) return;
  shownQueue = fingerprint;
  rows.replaceChildren();
  for (const row of data.rows) {
    const tr = document.createElement("tr");
    tr.dataset.handoff = row.id;
    if (row.needs_answer) tr.className = "needs-answer";
    const cells = [row.waiting, null, row.channel, row.language, row.reason, row.last, row.agent];
    cells.forEach((value, i) => {
      const td = document.createElement("td");
      if (i === 1) {
        const a = document.createElement("a");
        a.href = "/desk/c/" + row.id;
        a.textContent = row.seller;
        td.appendChild(a);
      } else {
        td.textContent = value;
        if (i === 5) td.className = "last";
      }
      tr.appendChild(td);
    });
    rows.appendChild(tr);
  }
  if (!data.rows.length) {
    const tr = document.createElement("tr");
    tr.className = "empty";
    const td = document.createElement("td");
    td.colSpan = 7;
    td.textContent = rows.dataset.empty;
    tr.appendChild(td);
    rows.appendChild(tr);
  }
  const unread = document.getElementById("unread");
  if (unread) unread.textContent = unread.textContent.replace(/\d+/, String(data.unread));
  document.title = (data.unread ? "(" + data.unread + ") " : "") + document.title.replace(/^\(\d+\) /, "");
}

async function refreshQueue(root) {
  const response = await fetch("/desk/queue.json?view=" + encodeURIComponent(root.dataset.view), {
    credentials: "same-origin",
  });
  if (response.ok) renderQueue(root, await response.json());
}

async function refreshConversation() {
  const response = await fetch(location.pathname, { credentials: "same-origin" });
  if (!response.ok) return;
  const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
  for (const id of ["transcript-box", "state", "notes", "context-card"]) {
    const now = document.getElementById(id);
    const next = fresh.getElementById(id);
    // Replaced only when it changed (a text being selected, or a link about to be clicked,
    // stays put otherwise).
    if (now && next && now.outerHTML !== next.outerHTML) now.replaceWith(document.importNode(next, true));
  }
}

function live(root, refresh) {
  // The first event comes when the stream opens: something may have changed between the page's
  // rendering and then, so every event refreshes.
  const source = new EventSource(root.dataset.live);
  source.addEventListener("change", () => { refresh(root).catch(() => {}); });
}

document.addEventListener("DOMContentLoaded", () => {
  const queue = document.querySelector(".queue[data-live]");
  if (queue) live(queue, refreshQueue);
  const conversation = document.querySelector(".conversation[data-live]");
  if (conversation) live(conversation, refreshConversation);
  const use = document.getElementById("use-suggestion");
  if (use) {
    use.addEventListener("click", () => {
      const target = document.getElementById(use.dataset.target);
      const source = document.getElementById(use.dataset.source);
      if (target && source) { target.value = source.textContent.trim(); target.focus(); }
    });
  }
});
