// Applies the saved theme before the first paint (a classic script, so it runs before the page
// is drawn; the module app.js runs later). No saved choice: the system's prefers-color-scheme.
(function () {
  try {
    var theme = window.localStorage.getItem("sb.theme");
    if (theme === "light" || theme === "dark") {
      document.documentElement.setAttribute("data-theme", theme);
    }
  } catch (e) {
    // Storage may be unavailable (privacy settings): the system theme applies.
  }
})();
