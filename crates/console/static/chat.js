// The chat page (crate sov-console, chat.rs). Sends the person's message with the login's CSRF
// token, reads the answer as server-sent events and shows it as it streams; Stop, Regenerate,
// copy buttons on code blocks.
//
// What it inserts as HTML is only what the console's Markdown renderer wrote (`html` of the
// events: escaped text in a fixed set of tags, no images, links only to http(s)); everything
// else (the person's own text, numbers, errors) is set as text. The page's CSP allows no other
// script, no foreign image and no connection but to the console.
"use strict";

function byId(id) {
  return document.getElementById(id);
}

function conversation() {
  return byId("conversation");
}

// Copy buttons: hidden until this script gives them something to do.
function armCopyButtons(root) {
  for (const button of root.querySelectorAll("button.copy")) {
    if (button.dataset.armed) continue;
    button.dataset.armed = "1";
    button.hidden = false;
    button.addEventListener("click", async () => {
      const code = button.closest(".code").querySelector("code");
      try {
        await navigator.clipboard.writeText(code.textContent);
        button.textContent = "Copied";
      } catch (e) {
        button.textContent = "Copy failed";
      }
      setTimeout(() => (button.textContent = "Copy"), 1500);
    });
  }
}

function showError(text) {
  const p = byId("chat-error");
  p.textContent = text;
  p.hidden = !text;
}

function setBusy(busy) {
  byId("send").disabled = busy;
  byId("stop").hidden = !busy;
  if (busy) {
    byId("regenerate").hidden = true;
    byId("answer").hidden = true;
  }
}

function scrollDown() {
  window.scrollTo(0, document.body.scrollHeight);
}

function addMessage(role, who) {
  const div = document.createElement("div");
  div.className = "message " + role;
  const name = document.createElement("div");
  name.className = "who";
  name.textContent = who;
  const body = document.createElement("div");
  body.className = "body";
  div.append(name, body);
  if (role === "assistant") {
    const stats = document.createElement("div");
    stats.className = "stats";
    div.append(stats);
  }
  byId("messages").append(div);
  return div;
}

function addUserMessage(text) {
  const div = addMessage("user", "You");
  const body = div.querySelector(".body");
  const lines = text.split("\n");
  lines.forEach((line, i) => {
    if (i > 0) body.append(document.createElement("br"));
    body.append(document.createTextNode(line));
  });
}

// POSTs `action` with the CSRF token and streams the answer into a new assistant message.
async function stream(action, fields) {
  const section = conversation();
  const form = new URLSearchParams(Object.assign({ csrf: section.dataset.csrf }, fields));
  showError("");
  setBusy(true);
  const model = byId("model") ? byId("model").value : "assistant";
  let message = null;
  let ended = false;
  try {
    const response = await fetch(`/chat/c/${section.dataset.id}/${action}`, {
      method: "POST",
      body: form,
      headers: { "content-type": "application/x-www-form-urlencoded" },
    });
    if (!response.ok) {
      const page = new DOMParser().parseFromString(await response.text(), "text/html");
      const error = page.querySelector(".error");
      throw new Error(error ? error.textContent : `the console answered ${response.status}`);
    }
    if (fields.text !== undefined) addUserMessage(fields.text);
    message = addMessage("assistant", model);
    message.classList.add("streaming");
    const body = message.querySelector(".body");
    const reader = response.body.pipeThrough(new TextDecoderStream()).getReader();
    let buffer = "";
    for (;;) {
      const { value, done } = await reader.read();
      if (done) break;
      buffer += value;
      let end;
      while ((end = buffer.indexOf("\n\n")) >= 0) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        if (!block.startsWith("data: ")) continue;
        const event = JSON.parse(block.slice(6));
        if (event.type === "text" || event.type === "done") {
          body.innerHTML = event.html; // the console's inert rendering
          armCopyButtons(body);
        }
        if (event.type === "done") {
          ended = true;
          message.classList.remove("streaming");
          message.classList.add("finish-" + event.finish);
          message.querySelector(".stats").textContent = event.stats;
          if (event.seq !== null) message.dataset.seq = event.seq;
          if (event.error) showError(event.error);
        } else if (event.type === "error") {
          showError(event.message);
        }
        scrollDown();
      }
    }
    if (!ended) showError("the answer's stream broke off; reload to see what was kept");
  } catch (e) {
    showError(e.message);
  } finally {
    setBusy(false);
    const last = byId("messages").lastElementChild;
    const answered = last && last.classList.contains("assistant");
    byId("regenerate").hidden = !answered;
    byId("answer").hidden = !last || answered;
  }
}

function setUpComposer() {
  const composer = byId("composer");
  if (!composer) return;
  const prompt = byId("prompt");
  composer.addEventListener("submit", (e) => {
    e.preventDefault();
    const text = prompt.value;
    if (!text.trim() || byId("send").disabled) return;
    prompt.value = "";
    stream("send", { text });
  });
  // Enter sends, Shift+Enter starts a new line, as in llama.cpp's UI.
  prompt.addEventListener("keydown", (e) => {
    if (e.key === "Enter" && !e.shiftKey && !e.isComposing) {
      e.preventDefault();
      composer.requestSubmit();
    }
  });
  byId("stop").addEventListener("click", async () => {
    const section = conversation();
    await fetch(`/chat/c/${section.dataset.id}/stop`, {
      method: "POST",
      body: new URLSearchParams({ csrf: section.dataset.csrf }),
    });
  });
  const again = () => {
    const last = byId("messages").lastElementChild;
    if (last && last.classList.contains("assistant")) last.remove();
    stream("regenerate", {});
  };
  byId("regenerate").addEventListener("click", again);
  byId("answer").addEventListener("click", again);
  prompt.focus();
  scrollDown();
}

document.addEventListener("DOMContentLoaded", () => {
  armCopyButtons(document);
  setUpComposer();
});
