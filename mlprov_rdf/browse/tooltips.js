function mlprovTips(items) {
  // vis-network shows string titles as plain text; ours are escaped HTML tables
  for (var i = 0; i < items.length; i++) {
    if (typeof items[i].title === "string") {
      var box = document.createElement("div");
      box.innerHTML = items[i].title;
      items[i].title = box;
    }
  }
  return items;
}
