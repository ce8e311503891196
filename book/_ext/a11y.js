/* gengen: accessibility fixes of the theme's controls, written by book/_ext/a11y.py.
   An accessible name must contain the control's visible text (WCAG 2.5.3, axe's
   label-content-name-mismatch). */
(function () {
  "use strict";

  function fixControls() {
    // The wide search field shows "Search Ctrl+K" but is labelled "Search": let its text name it.
    document.querySelectorAll(".search-button-field[aria-label]").forEach(function (button) {
      if (button.textContent.trim()) button.removeAttribute("aria-label");
    });
    // The colour-mode button is named "Color mode"; its icons' titles ("Light", "Dark",
    // "System Settings") are decoration that would otherwise count as its text.
    document.querySelectorAll(".theme-switch-button .theme-switch").forEach(function (icon) {
      icon.removeAttribute("title");
      icon.setAttribute("aria-hidden", "true");
      icon.querySelectorAll("title").forEach(function (title) { title.remove(); });
    });
  }

  function watch() {
    fixControls();
    // Font Awesome swaps the <i> icons for <svg>s (with <title>s) after load: fix those too.
    document.querySelectorAll(".theme-switch-button").forEach(function (button) {
      new MutationObserver(fixControls).observe(button, {childList: true, subtree: true, attributes: true,
                                                         attributeFilter: ["title"]});
    });
  }

  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", watch);
  else watch();
})();
