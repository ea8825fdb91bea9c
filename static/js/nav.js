// The navigation on narrow screens: a button folds the list of labs open and shut (wide screens
// show the list in the top bar and hide the button, in css/style.css).
const button = document.getElementById("nav-toggle");
const header = button?.closest(".topbar");

function setOpen(open) {
  header.classList.toggle("nav-open", open);
  button.setAttribute("aria-expanded", String(open));
}

if (button && header) {
  button.addEventListener("click", () => setOpen(!header.classList.contains("nav-open")));
  document.addEventListener("keydown", (e) => {
    if (e.key === "Escape" && header.classList.contains("nav-open")) {
      setOpen(false);
      button.focus();
    }
  });
  document.addEventListener("click", (e) => {
    if (!header.contains(e.target)) setOpen(false);
  });
}
