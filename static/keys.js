// Keyboard: "/" moves to the page's search field (as on GitHub and Stripe), unless the visitor
// is already typing in a field. Without JavaScript the field is simply clicked or tabbed to.
document.addEventListener("keydown", function (event) {
  if (event.key !== "/" || event.ctrlKey || event.metaKey || event.altKey) {
    return;
  }
  var target = event.target;
  if (target && (target.isContentEditable || /^(INPUT|TEXTAREA|SELECT)$/.test(target.tagName))) {
    return;
  }
  var search = document.querySelector('input[type="search"]');
  if (!search) {
    return;
  }
  event.preventDefault();
  search.focus();
  search.select();
});
