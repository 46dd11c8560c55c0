// Drives the human console in headless Chromium (Debian's `chromium`, through playwright-core),
// as a person would: opens the login link `sov console` printed, presses Log in, reads the
// pending action, clicks Approve. Then tries what an attacker would: the same link again in
// another browser, a request without the cookie, one without the CSRF token, a page on another
// origin that auto-submits an approval, and the browser's cookie sent with another User-Agent.
// Prints one JSON object with what it saw.
//
// env: CONSOLE (http://127.0.0.1:PORT), LINK (what `sov console` printed), ACTION (to approve),
//      VICTIM (must stay pending), ATTACKER (a page on another origin that posts an approval of
//      VICTIM), CHROMIUM (binary).
const { chromium } = require("playwright-core");

async function main() {
  const { CONSOLE, LINK, ACTION, VICTIM, ATTACKER } = process.env;
  const browser = await chromium.launch({
    executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
    args: ["--no-sandbox", "--disable-gpu", "--no-proxy-server"],
  });
  const seen = {};
  try {
    // One User-Agent for the pages and for `context.request`: the console binds a login to it.
    const context = await browser.newContext({ userAgent: "Mozilla/5.0 (X11; Linux x86_64) SovereignConsoleTest/1.0" });
    const page = await context.newPage();

    // The agent's link, before logging in: a login page, nothing approvable.
    await page.goto(`${CONSOLE}/actions/${ACTION}`);
    seen.before_login_url = new URL(page.url()).pathname;
    seen.before_login_has_approve = (await page.locator("#approve").count()) > 0;

    // `sov console`'s link: the token rides in the fragment; nothing is used up until the
    // person presses Log in.
    await page.goto(LINK);
    seen.address_bar_before_click = page.url();
    seen.logged_in_before_click = (await context.cookies()).some((c) => c.name === "sov_console");
    await page.click("#login-button");
    await page.waitForURL(`${CONSOLE}/`);
    seen.address_bar_after_login = page.url();
    await page.goto(`${CONSOLE}/actions/${ACTION}`);
    seen.state_shown = (await page.locator("#state").innerText()).trim();
    seen.params_shown = await page.locator("#params").innerText();
    seen.verdict_shown = (await page.locator("#verdict").innerText()).trim();
    const cookies = await context.cookies();
    const session = cookies.find((c) => c.name === "sov_console");
    seen.cookie = session && { httpOnly: session.httpOnly, sameSite: session.sameSite };
    seen.cookie_visible_to_scripts = await page.evaluate(() => document.cookie.includes("sov_console"));

    // Approve, as the person would (typing the URL again if the AI reviewer said deny).
    if ((await page.locator("#fact").count()) > 0) {
      await page.fill("input[name=confirm_text]", await page.locator("#fact").innerText());
      await page.click("button.approve");
    } else {
      await page.click("#approve");
    }
    await page.waitForLoadState();
    for (let i = 0; i < 50; i++) {
      seen.state_after_click = (await page.locator("#state").innerText()).trim();
      if (seen.state_after_click === "executed" || seen.state_after_click === "failed") break;
      await page.waitForTimeout(200);
      await page.reload();
    }
    seen.outcome_shown = (await page.locator("#outcome").count()) > 0 ? await page.locator("#outcome").innerText() : null;

    // Replaying the approval the browser just sent (with cookie and CSRF token) changes nothing.
    const csrf = await page.evaluate(() => {
      const input = document.querySelector("input[name=csrf]");
      return input ? input.value : null;
    });
    const victimPage = await context.newPage();
    await victimPage.goto(`${CONSOLE}/actions/${VICTIM}`);
    const victimCsrf = await victimPage.locator("input[name=csrf]").first().getAttribute("value");
    const replay = await context.request.post(`${CONSOLE}/actions/${ACTION}/approve`, {
      form: { csrf: victimCsrf },
      maxRedirects: 0,
    });
    seen.replay_status = replay.status();
    seen.csrf_on_decided_page = csrf;

    // The same link in another browser (someone who read it off the screen): refused.
    const other = await browser.newContext();
    const otherPage = await other.newPage();
    await otherPage.goto(LINK);
    const [replayedLink] = await Promise.all([
      otherPage.waitForResponse((r) => r.url() === `${CONSOLE}/login` && r.request().method() === "POST"),
      otherPage.click("#login-button"),
    ]);
    seen.replayed_link_status = replayedLink.status();
    seen.replayed_link_logged_in = (await other.cookies()).some((c) => c.name === "sov_console");

    // Forgeries against the still-pending VICTIM action:
    const stranger = await browser.newContext();
    const noCookie = await stranger.request.post(`${CONSOLE}/actions/${VICTIM}/approve`, {
      form: { csrf: victimCsrf },
      maxRedirects: 0,
    });
    seen.no_cookie_status = noCookie.status();
    const noCsrf = await context.request.post(`${CONSOLE}/actions/${VICTIM}/approve`, { form: {}, maxRedirects: 0 });
    seen.no_csrf_status = noCsrf.status();
    const wrongCsrf = await context.request.post(`${CONSOLE}/actions/${VICTIM}/approve`, {
      form: { csrf: "0".repeat(64) },
      maxRedirects: 0,
    });
    seen.wrong_csrf_status = wrongCsrf.status();
    // A page on another origin, in the logged-in browser, auto-submitting an approval form.
    const attack = await context.newPage();
    const answered = attack.waitForResponse((r) => r.url().includes(`/actions/${VICTIM}/approve`));
    await attack.goto(ATTACKER);
    seen.cross_origin_status = (await answered).status();
    await victimPage.reload();
    seen.victim_state = (await victimPage.locator("#state").innerText()).trim();

    // Last, as it ends the login: the browser's cookie, copied into a client with another
    // User-Agent, approving VICTIM with the right CSRF token.
    const stolen = await context.request.post(`${CONSOLE}/actions/${VICTIM}/approve`, {
      form: { csrf: victimCsrf },
      headers: { "user-agent": "curl/8.5.0" },
      maxRedirects: 0,
    });
    seen.other_user_agent_status = stolen.status();
    await victimPage.reload();
    seen.after_theft_path = new URL(victimPage.url()).pathname;
  } finally {
    await browser.close();
  }
  console.log(JSON.stringify(seen));
}

main().catch((e) => {
  console.error(e);
  process.exit(1);
});
