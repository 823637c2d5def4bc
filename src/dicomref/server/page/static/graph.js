// The reference graph page: fetches /api/graph/UID and draws it with Cytoscape.js and the
// dagre layout (both shipped in vendor/). Series fold into one node; clicking a series
// shows its objects, clicking the group folds it again, clicking an object opens its page.
(function () {
  "use strict";
  const box = document.getElementById("graph");
  if (!box || typeof cytoscape !== "function") return;
  const status = document.getElementById("graph-status");
  const detail = document.getElementById("graph-detail");
  const list = document.getElementById("graph-list");
  const expanded = new Set();
  let cy = null;

  const style = [
    { selector: "node", style: {
        "shape": "round-rectangle", "label": "data(label)", "text-wrap": "wrap",
        "text-valign": "center", "text-halign": "center", "font-size": 11,
        "width": "label", "height": "label", "padding": "8px",
        "background-color": "#eef3fb", "border-width": 1, "border-color": "#5b7db1",
        "color": "#1b2a41" } },
    { selector: "node[kind = 'series']", style: {
        "background-color": "#e4f1e6", "border-color": "#3c8a4a", "border-width": 4,
        "border-style": "double" } },
    { selector: "node[kind = 'group']", style: {
        "text-valign": "top", "background-color": "#f6fbf7", "background-opacity": 0.6,
        "border-color": "#3c8a4a", "border-style": "dashed" } },
    { selector: "node[?missing]", style: {
        "background-color": "#fdeeee", "border-color": "#c0392b", "border-style": "dashed",
        "border-width": 2, "color": "#922b21" } },
    { selector: "node[kind = 'non-instance']", style: {
        "background-color": "#f4f4f4", "border-color": "#999", "color": "#555" } },
    { selector: "node[?root]", style: { "border-width": 3, "font-weight": "bold" } },
    { selector: "edge", style: {
        "width": 1.5, "curve-style": "bezier", "target-arrow-shape": "triangle",
        "line-color": "#8a9bb5", "target-arrow-color": "#8a9bb5", "label": "data(label)",
        "font-size": 9, "text-rotation": "autorotate", "text-background-color": "#fff",
        "text-background-opacity": 0.8, "text-background-padding": "2px", "color": "#444" } },
  ];

  function apiUrl() {
    const params = new URLSearchParams({ depth: box.dataset.depth, direction: box.dataset.direction });
    for (const series of expanded) params.append("expand", series);
    return "/api/graph/" + encodeURIComponent(box.dataset.uid) + "?" + params.toString();
  }

  function fillList(nodes) {
    if (!list) return;
    list.textContent = "";
    for (const { data } of nodes) {
      const item = document.createElement("li");
      item.className = data.kind;
      const text = data.label.replace(/\n/g, " · ");
      if (data.href) {
        const a = document.createElement("a");
        a.href = data.href;
        a.textContent = text;
        item.appendChild(a);
      } else {
        item.textContent = text;
      }
      item.title = data.title;
      list.appendChild(item);
    }
  }

  function show(node) {
    const d = node.data();
    detail.textContent = d.title;
    box.title = d.title;
  }

  async function draw() {
    const started = performance.now();
    status.textContent = "Drawing…";
    box.dataset.state = "loading";
    let data;
    try {
      const response = await fetch(apiUrl(), { headers: { Accept: "application/json" } });
      data = await response.json();
      if (!response.ok) throw new Error(data.error || response.statusText);
    } catch (error) {
      status.textContent = "Cannot draw the graph: " + error.message;
      box.dataset.state = "error";
      return;
    }
    if (cy) cy.destroy();
    cy = cytoscape({
      container: box,
      elements: { nodes: data.nodes, edges: data.edges },
      style: style,
      minZoom: 0.2,
      maxZoom: 3,
    });
    // Left to right where there is room, top to bottom on a narrow screen.
    const rankDir = box.clientWidth < 600 ? "TB" : "LR";
    const layout = cy.layout({ name: "dagre", rankDir: rankDir, nodeSep: 24, rankSep: 70,
                               edgeSep: 10, fit: true, padding: 20 });
    const done = layout.promiseOn("layoutstop");
    layout.run();
    await done;
    await new Promise((resolve) => requestAnimationFrame(() => resolve()));
    const ms = Math.round(performance.now() - started);
    box.dataset.drawMs = String(ms);
    box.dataset.state = "drawn";
    status.textContent = data.nodes.length + " nodes, " + data.edges.length +
      " edges · drawn in " + ms + " ms";
    fillList(data.nodes);
    cy.on("mouseover", "node", (event) => show(event.target));
    cy.on("mouseout", "node", () => { box.title = ""; });
    cy.on("tap", "node", (event) => {
      const d = event.target.data();
      show(event.target);
      if (d.expandable) { expanded.add(d.uid); draw(); }
      else if (d.collapsible) { expanded.delete(d.uid); draw(); }
      else if (d.href) { window.location.assign(d.href); }
    });
    window.dicomrefGraph = cy;
  }

  draw();
})();
