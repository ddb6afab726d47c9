/* The flow map's pages (flowengine/server/flow_map.py): fetch the numbers as JSON every few
   seconds and write them in place; the map lays its flow out with dagre (dagre.min.js) when
   first drawn and again whenever the flow's shape changes (a reload). Text goes in with
   textContent only: nothing the server sends is read as markup. No framework, no build. */
"use strict";
(function () {
  const SVG = "http://www.w3.org/2000/svg";
  const body = document.body;
  const statusLine = document.getElementById("status");
  const scopeLine = document.getElementById("scope");
  const url = body.dataset.json;
  let refresh = 3000;

  function svg(tag, attrs, text) {
    const e = document.createElementNS(SVG, tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function html(tag, attrs, text) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) e.setAttribute(k, v);
    if (text !== undefined) e.textContent = text;
    return e;
  }

  function say(text, bad) {
    statusLine.textContent = text;
    statusLine.classList.toggle("bad", !!bad);
  }

  function scopeText(w) {
    if (w.this === null || w.this === undefined) return "Counts of this server (one process).";
    if (w.only_this) {
      return "Counts of worker " + w.this + " only, one of " + w.count +
        " workers (this metrics port); without ?worker=this the page adds up every worker's.";
    }
    let text = w.shown.length === w.count
      ? "Counts of all " + w.count + " workers, added up."
      : "Counts of " + w.shown.length + " of " + w.count + " workers (" + w.shown.join(", ") + "), added up.";
    for (const m of w.missing || []) text += " Worker " + m.worker + " (port " + m.port + ") not counted: " + m.why + ".";
    if ((w.other_flows || []).length) text += " Worker(s) " + w.other_flows.join(", ") + " serve another version of the flows.";
    return text;
  }

  async function load() {
    const answer = await fetch(url, { cache: "no-store", headers: { Accept: "application/json" } });
    if (!answer.ok) {
      const text = (await answer.text()).trim();
      throw new Error(answer.status === 404 ? text : "HTTP " + answer.status + " " + text);
    }
    return answer.json();
  }

  function every(update) {
    load()
      .then(function (data) {
        refresh = (data.refresh_seconds || 3) * 1000;
        update(data);
        scopeLine.textContent = scopeText(data.workers);
        say("Updated " + new Date().toLocaleTimeString() + "; again every " + refresh / 1000 + " s. Flows version " +
          data.version + " (" + data.digest.slice(0, 12) + ").");
        body.dataset.version = data.version;
      })
      .catch(function (err) { say("Not updated: " + err.message + " (trying again)", true); })
      .finally(function () { setTimeout(function () { every(update); }, refresh); });
  }

  // -- the index ---------------------------------------------------------------------------
  function index(data) {
    const rows = document.querySelector("#flows tbody");
    rows.textContent = "";
    const c = data.counts;
    for (const f of data.flows) {
      let ended = 0, lately = 0;
      const results = [];
      for (const [id, n] of Object.entries(c)) {
        if (id.startsWith("c:" + f.name + ":") && id.split(":").length === 3) {
          ended += n[0]; lately += n[1];
          if (n[0]) results.push(id.split(":")[2] + " " + n[0]);
        }
      }
      const row = html("tr", { "data-flow": f.name });
      const link = html("td");
      link.append(html("a", { href: "flows/" + encodeURIComponent(f.name) }, f.name));
      row.append(link, html("td", {}, f.file), html("td", {}, String(f.steps)),
        html("td", { "data-id": "n:" + f.name }, String((c["n:" + f.name] || [0])[0])),
        html("td", { "data-id": "c:" + f.name, title: results.join(", ") }, String(ended)),
        html("td", {}, String(lately)),
        html("td", { class: f.problems ? "bad" : "" }, f.problems ? f.problems + " problem(s)" : "none"));
      rows.append(row);
    }
  }

  // -- the map ---------------------------------------------------------------------------------
  const CH = 7.3; // px per character of the nodes' 12px monospace
  const LINE = 16;
  const STUB_STEPS = 40; // flows with more steps than this draw stubs ...
  const STUB_INTO = 3; // ... for arrows into a step more arrows than this go to
  let drawn = null; // the shape drawn, and the elements the numbers go in
  let spots = [];
  let arrows = [];

  function exitsOf(step, counts) {
    const known = new Set(step.exits.map(function (x) { return x.id; }));
    const out = step.exits.slice();
    const prefix = "x:" + step.name + ":";
    for (const id of Object.keys(counts)) {
      if (id.startsWith(prefix) && !known.has(id) && counts[id][0] > 0) {
        const kind = id.slice(prefix.length);
        out.push({ id: id, text: kind.startsWith("ends:") ? kind.slice(5) + ", call ends" : kind, bad: true });
      }
    }
    return out;
  }

  function stepLines(step, exits) {
    // each line: [text parts]; a part is a string, or {id, part, bad} for a number
    const lines = [];
    lines.push([{ title: step.name }, "  " + step.kind]);
    lines.push([{ muted: step.where }]);
    lines.push(["entered ", { id: "s:" + step.name, part: 0 }, " · 5 min ", { id: "s:" + step.name, part: 1 },
      " · now ", { id: "n:" + step.name, part: 0 }]);
    if (step.tries.length) {
      const parts = ["retries:"];
      for (const t of step.tries) parts.push(" " + t + " ", { id: "t:" + step.name + ":" + t, part: 0 });
      lines.push(parts);
    }
    for (let i = 0; i < exits.length; i += 2) {
      const parts = [i === 0 ? "ends: " : "      "];
      exits.slice(i, i + 2).forEach(function (x, j) {
        if (j) parts.push(" · ");
        parts.push({ exit: x.text + " " }, { id: x.id, part: 0, bad: x.bad, exitId: x.id });
      });
      lines.push(parts);
    }
    for (const p of step.problems) lines.push([{ problem: "⚠ " + p }]);
    return lines;
  }

  function lineLength(parts) {
    let n = 0;
    for (const p of parts) {
      if (typeof p === "string") n += p.length;
      else if (p.id !== undefined) n += 5;
      else n += (p.title || p.muted || p.exit || p.problem).length;
    }
    return n;
  }

  function drawMap(data) {
    const canvas = document.getElementById("canvas");
    const g = new dagre.graphlib.Graph({ multigraph: true });
    g.setGraph({ rankdir: "TB", nodesep: 28, ranksep: 44, edgesep: 12, marginx: 16, marginy: 16 });
    g.setDefaultEdgeLabel(function () { return {}; });
    const linesOf = {};
    for (const step of data.steps) {
      const lines = stepLines(step, exitsOf(step, data.counts));
      linesOf[step.name] = lines;
      const width = Math.min(560, Math.max(150, Math.max.apply(null, lines.map(lineLength)) * CH + 20));
      g.setNode(step.name, { width: width, height: lines.length * LINE + 12 });
    }
    g.setNode("+start", { width: 12, height: 12 });
    g.setEdge("+start", data.start, {}, "+start");
    // In a large flow, an arrow into a step many arrows go to (a shared goodbye) ends in a
    // stub naming it: each such arrow laid out across the whole graph would cost dagre a
    // node on every rank it crosses (seconds for a 200-step flow, not milliseconds).
    const into = {};
    for (const a of data.arrows) into[a.to] = (into[a.to] || 0) + 1;
    const stubbed = {};
    for (const a of data.arrows) {
      let target = a.to;
      if (data.steps.length > STUB_STEPS && into[a.to] > STUB_INTO && a.to !== a.from) {
        target = "+stub:" + a.id;
        stubbed[target] = a.to;
        g.setNode(target, { width: (a.to.length + 3) * CH + 12, height: 22 });
      }
      g.setEdge(a.from, target, { width: (a.label.length + 12) * 6.6 + 10, height: 18, labelpos: "c" }, a.id);
    }
    const started = performance.now();
    dagre.layout(g);
    body.dataset.layoutMs = (performance.now() - started).toFixed(1);
    const size = g.graph();
    const root = svg("svg", { width: Math.ceil(size.width), height: Math.ceil(size.height), class: "map",
      viewBox: "0 0 " + Math.ceil(size.width) + " " + Math.ceil(size.height) });
    const defs = svg("defs");
    for (const [id, cls] of [["head", "arrowhead"], ["head-bad", "arrowhead bad"]]) {
      const marker = svg("marker", { id: id, viewBox: "0 0 10 10", refX: 9, refY: 5, markerWidth: 7, markerHeight: 7,
        orient: "auto-start-reverse" });
      marker.append(svg("path", { d: "M0,0 L10,5 L0,10 z", class: cls }));
      defs.append(marker);
    }
    root.append(defs);
    spots = [];
    arrows = [];
    const arrowById = {};
    for (const a of data.arrows) arrowById[a.id] = a;
    for (const e of g.edges()) {
      const points = g.edge(e).points;
      const d = "M" + points.map(function (p) { return p.x.toFixed(1) + "," + p.y.toFixed(1); }).join(" L");
      if (e.name === "+start") {
        root.append(svg("path", { d: d, class: "edge start", "marker-end": "url(#head)" }));
        continue;
      }
      const a = arrowById[e.name];
      const group = svg("g", { class: "arrow" + (a.bad ? " bad" : ""), "data-arrow": a.id });
      const line = svg("path", { d: d, class: "edge", "marker-end": a.bad ? "url(#head-bad)" : "url(#head)" });
      group.append(line);
      const at = g.edge(e);
      const text = svg("text", { x: at.x.toFixed(1), y: (at.y + 4).toFixed(1), "text-anchor": "middle", class: "label" });
      text.append(svg("tspan", {}, a.label + "  "));
      for (const [part, sep] of [[0, " · "], [1, ""]]) {
        const n = svg("tspan", { "data-id": a.id, "data-part": part, class: "n" }, "0");
        spots.push({ el: n, id: a.id, part: part });
        text.append(n);
        if (sep) text.append(svg("tspan", {}, sep));
      }
      const width = (a.label.length + 12) * 6.6;
      group.append(svg("rect", { x: (at.x - width / 2).toFixed(1), y: (at.y - 9).toFixed(1), width: width.toFixed(1),
        height: 18, rx: 4, class: "label-box" }), text);
      arrows.push({ el: line, id: a.id });
      root.append(group);
    }
    for (const [id, target] of Object.entries(stubbed)) {
      const n = g.node(id);
      const group = svg("g", { class: "stub", "data-stub": target });
      group.append(svg("rect", { x: n.x - n.width / 2, y: n.y - n.height / 2, width: n.width, height: n.height, rx: 11 }));
      group.append(svg("text", { x: n.x, y: n.y + 4, "text-anchor": "middle" }, "→ " + target));
      root.append(group);
    }
    const start = g.node("+start");
    root.append(svg("circle", { cx: start.x, cy: start.y, r: 6, class: "start" }));
    for (const step of data.steps) {
      const n = g.node(step.name);
      const x = n.x - n.width / 2, y = n.y - n.height / 2;
      const classes = ["step"];
      if (!step.reachable) classes.push("unreachable");
      if (step.on_error) classes.push("on-error");
      if (step.problems.length) classes.push("problem");
      if (step.ends_call) classes.push("ends-call");
      const group = svg("g", { class: classes.join(" "), "data-step": step.name });
      group.append(svg("rect", { x: x, y: y, width: n.width, height: n.height, rx: 6, class: "box" }));
      if (step.ends_call) {
        group.append(svg("rect", { x: x + 3, y: y + 3, width: n.width - 6, height: n.height - 6, rx: 4, class: "inner" }));
      }
      linesOf[step.name].forEach(function (parts, i) {
        const text = svg("text", { x: (x + 10).toFixed(1), y: (y + 20 + i * LINE).toFixed(1) });
        for (const p of parts) {
          if (typeof p === "string") text.append(svg("tspan", {}, p));
          else if (p.id !== undefined) {
            const span = svg("tspan", { "data-id": p.id, "data-part": p.part, class: "n" + (p.bad ? " exit" : "") }, "0");
            spots.push({ el: span, id: p.id, part: p.part });
            text.append(span);
          } else if (p.title) text.append(svg("tspan", { class: "title" }, p.title));
          else if (p.muted) text.append(svg("tspan", { class: "where" }, p.muted));
          else if (p.exit) text.append(svg("tspan", { class: "exit-name" }, p.exit));
          else text.append(svg("tspan", { class: "problem-text" }, p.problem));
        }
        group.append(text);
      });
      root.append(group);
    }
    canvas.textContent = "";
    canvas.append(root);
    canvas.scrollLeft = Math.max(0, start.x - canvas.clientWidth / 2); // the start in view
  }

  function shapeOf(data) {
    const extra = [];
    for (const step of data.steps) {
      for (const x of exitsOf(step, data.counts)) extra.push(x.id);
    }
    return data.shape + "|" + extra.join(",");
  }

  function map(data) {
    document.getElementById("file").textContent = data.file;
    const shape = shapeOf(data);
    if (shape !== drawn) {
      drawMap(data);
      drawn = shape;
    }
    const counts = data.counts;
    for (const s of spots) {
      const n = (counts[s.id] || [0, 0])[s.part];
      s.el.textContent = String(n);
      s.el.classList.toggle("zero", n === 0);
    }
    let most = 1;
    for (const a of arrows) most = Math.max(most, (counts[a.id] || [0])[0]);
    for (const a of arrows) {
      const n = (counts[a.id] || [0])[0];
      a.el.setAttribute("stroke-width", (1.2 + 4 * n / most).toFixed(2));
      a.el.classList.toggle("taken", n > 0);
    }
  }

  every(body.dataset.page === "index" ? index : map);
})();
