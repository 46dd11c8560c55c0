// Login: `sov console` prints /login#TOKEN, a one-time link. The token is in the fragment, which
// browsers never send to a server or put in logs; this script moves it into the login form,
// removes it from the address bar and shows the "Log in" button. It never submits by itself: a
// browser that opens the page ahead of the person (prerendering, link previews) uses nothing up.
// Also on `hashchange`: pasting the link into a tab already showing /login changes only the
// fragment, and the page does not reload.
function loginFromFragment() {
  const form = document.getElementById("login");
  if (!form || location.hash.length < 2) return;
  form.elements.token.value = decodeURIComponent(location.hash.slice(1));
  history.replaceState(null, "", location.pathname + location.search);
  const button = document.getElementById("login-button");
  button.hidden = false;
  const noLink = document.getElementById("no-link");
  if (noLink) noLink.hidden = true;
  button.focus();
}
document.addEventListener("DOMContentLoaded", loginFromFragment);
window.addEventListener("hashchange", loginFromFragment);
