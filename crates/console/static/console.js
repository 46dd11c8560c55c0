// Login: `sov console` prints /login#SECRET. The secret is in the fragment, which browsers never
// send to a server or put in logs; this script posts it once and removes it from the address bar.
// Also on `hashchange`: pasting the link into a tab already showing /login changes only the
// fragment, and the page does not reload.
function loginFromFragment() {
  const form = document.getElementById("login");
  if (!form || location.hash.length < 2) return;
  form.elements.secret.value = decodeURIComponent(location.hash.slice(1));
  history.replaceState(null, "", location.pathname + location.search);
  form.submit();
}
document.addEventListener("DOMContentLoaded", loginFromFragment);
window.addEventListener("hashchange", loginFromFragment);
