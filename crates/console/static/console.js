// Login: `sov console` opens /login#SECRET. The secret is in the fragment, which browsers never
// send to a server or put in logs; this script posts it once and removes it from the address bar.
document.addEventListener("DOMContentLoaded", () => {
  const form = document.getElementById("login");
  if (!form || location.hash.length < 2) return;
  form.elements.secret.value = decodeURIComponent(location.hash.slice(1));
  history.replaceState(null, "", location.pathname + location.search);
  form.submit();
});
