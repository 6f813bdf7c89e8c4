// Stand-in for the Google Analytics tag of the Imou site: sets the analytics cookies of the policy's cookie table.
(() => {
  const visitor = "GA1.1." + Math.floor(Math.random() * 1e9) + "." + Math.floor(Date.now() / 1000);
  document.cookie = "_ga=" + visitor + "; path=/; max-age=" + 13 * 2629800 + "; SameSite=Lax";
  document.cookie = "_gid=" + visitor + "; path=/; max-age=86400; SameSite=Lax";
  window.imouAnalytics = visitor;
})();
