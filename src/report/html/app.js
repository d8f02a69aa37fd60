// mtlscan evidence report: reads the data block of the page (see src/report/html.rs for its
// format), draws the captures, the policy banner, the graph and the flow table, and opens a
// flow's evidence on demand. No request leaves the page.
(function () {
  "use strict";
  const D = JSON.parse(document.getElementById("mtlscan-data").textContent);
  const EV = document.getElementById("mtlscan-evidence").textContent;
  const VERDICTS = ["mtls", "tls", "encrypted", "plaintext", "opaque", "empty"];
  const MARKS = ["", "violation", "unproven", "exempt", "expected"];
  const MARK_SIGN = ["", "!", "?", "~", "~"];
  // Worst first: the verdict an edge shows.
  const WORST = ["plaintext", "opaque", "tls", "encrypted", "mtls", "empty"];
  const C = D.cols;
  const N = C.id.length;
  const S = D.strings;

  // --- small DOM helpers ------------------------------------------------------------------
  function el(tag, attrs, ...kids) {
    const e = document.createElement(tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined || v === false) continue;
      if (k === "text") e.textContent = v;
      else if (k === "class") e.className = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const kid of kids.flat()) {
      if (kid === null || kid === undefined || kid === false) continue;
      e.append(kid instanceof Node ? kid : document.createTextNode(String(kid)));
    }
    return e;
  }
  const SVGNS = "http://www.w3.org/2000/svg";
  function svg(tag, attrs, ...kids) {
    const e = document.createElementNS(SVGNS, tag);
    for (const [k, v] of Object.entries(attrs || {})) {
      if (v === null || v === undefined) continue;
      if (k === "text") e.textContent = v;
      else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
      else e.setAttribute(k, v);
    }
    for (const kid of kids.flat()) if (kid) e.append(kid);
    return e;
  }
  function human(n) {
    if (n < 1000) return String(n);
    if (n < 1e6) return (n / 1e3).toFixed(1) + "k";
    if (n < 1e9) return (n / 1e6).toFixed(1) + "M";
    return (n / 1e9).toFixed(1) + "G";
  }
  function time(ns) {
    return new Date(Math.floor(ns / 1e6)).toISOString().replace("T", " ").replace("Z", " UTC");
  }

  // --- the packed flow entries ------------------------------------------------------------
  function str(s) {
    if (s.charCodeAt(0) === 126 /* ~ */) return s[1] === "=" ? s.slice(2) : S[parseInt(s.slice(1), 36)];
    if (s.charCodeAt(0) === 94 /* ^ */) {
      const parts = s.slice(1).split(",");
      const shape = S[parseInt(parts[0], 36)];
      let out = "", k = 1;
      for (const ch of shape) {
        if (ch === "\u0000") {
          const n = parts[k++];
          out += n === "." ? "\u0000" : n;
        } else out += ch;
      }
      return out;
    }
    return s;
  }
  function unpack(v) {
    if (typeof v === "string") return str(v);
    if (Array.isArray(v)) {
      if (v[0] === 0) return v.slice(1).map(unpack);
      const keys = D.shapes[v[0] - 1], o = {};
      for (let i = 0; i < keys.length; i++) o[keys[i]] = unpack(v[i + 1]);
      return o;
    }
    return v;
  }
  function entry(i) {
    return unpack(JSON.parse(EV.slice(D.offsets[i], D.offsets[i + 1])));
  }

  // --- header -----------------------------------------------------------------------------
  const root = el("main", {});
  document.body.append(root);
  const head = el("header", {}, el("h1", { text: "mtlscan evidence report" }),
    el("div", { class: "legend", text: D.tool + ", report schema " + D.schema_version }));
  const caps = el("div", { class: "captures" });
  D.captures.forEach((c, i) => {
    const span = D.spans[i];
    caps.append(el("div", { class: "capture", "data-capture": c.path },
      el("div", {}, el("strong", { text: c.path }), " ", c.format, c.compression ? " (" + c.compression + ")" : "",
        ", ", c.link_types.join(", ") || "no link type", ", ", human(c.packets), " packets, ", human(c.bytes), " bytes",
        c.truncated ? ", truncated" : ""),
      el("div", { class: "mono", text: c.sha256 ? "sha256 " + c.sha256 : "sha256 not computed (--no-hash)" }),
      span ? el("div", { text: "from " + time(span[0]) + " to " + time(span[1]) }) : null,
      c.warnings.map(w => el("div", { class: "warn", text: "warning: " + w }))));
  });
  head.append(caps);
  const s = D.summary, p = s.policy;
  const expectedCount = (s.mesh.expected || []).reduce((a, e) => a + e.flows, 0);
  let banner;
  if (!p) {
    banner = el("div", { class: "banner none", id: "policy", "data-policy": "none" },
      "No policy asked: run with --require encrypted or --require mtls to judge the flows.");
  } else {
    banner = el("div", { class: "banner " + (p.pass ? "pass" : "fail"), id: "policy",
      "data-policy": p.pass ? "pass" : "fail" },
      "--require " + p.require + ": " + (p.pass ? "PASS" : "FAIL"),
      el("span", { class: "counts",
        text: p.violations.length + " violated, " + p.unproven.length + " unproven, " +
          expectedCount + " expected by the mesh profile, " + p.exempted.length + " exempt" }));
  }
  head.append(banner);
  const totals = el("div", { class: "totals" }, el("span", { text: s.flows + " flows:" }),
    VERDICTS.map(v => el("span", { class: "v-" + v, text: s.by_verdict[v] + " " + v })),
    el("span", { text: "legs: " + s.legs.network + " network, " + s.legs.loopback + " loopback" }),
    s.mesh.profile ? el("span", { text: "mesh profile: " + s.mesh.profile }) :
      (s.mesh.recognised ? el("span", { text: "mesh seen: " + s.mesh.recognised }) : null));
  head.append(totals);
  if (p && p.unproven.length && p.advice) head.append(el("div", { class: "legend", text: "Unproven: " + p.advice }));
  root.append(head);

  // --- graph ------------------------------------------------------------------------------
  const graphSection = el("section", {}, el("h2", { text: "Who talks to whom" }));
  const loopToggle = el("input", { type: "checkbox", id: "show-loopback" });
  graphSection.append(el("div", { class: "controls toggle" },
    el("label", {}, loopToggle, " show loopback legs (application ↔ sidecar, inside a pod)"),
    D.grouped_by ? el("span", { class: "legend", text: "unnamed addresses grouped by /" + D.grouped_by + " networks" }) : null));
  const graphWrap = el("div", { id: "graph-wrap" }, el("div", { id: "graph" }));
  graphSection.append(graphWrap, el("div", { class: "legend" },
    "Lock on each edge: closed green = mTLS; closed teal = encrypted by another protocol (SSH); " +
    "open amber = TLS without a client certificate; " +
    "red open = plaintext; violet = client certificate unproven; grey = opaque or empty. " +
    "Thick = violates the policy; faded = every flow expected by the mesh profile. Loopback legs " +
    "count on the node they run to unless shown. Click an edge to list its flows."));
  root.append(graphSection);

  function worstOf(e) {
    for (const v of WORST) if (e.verdicts[VERDICTS.indexOf(v)] > 0) return v;
    return "empty";
  }
  function lockIcon(kind) {
    // a padlock: body and shackle; open for TLS and plaintext
    const g = svg("g", { class: "lock lock-" + kind });
    g.append(svg("circle", { r: 11 }));
    const open = kind !== "mtls" && kind !== "encrypted";
    g.append(svg("path", { d: open ? "M-3.5,-1 v-3.5 a3.5,3.5 0 0 1 7,0" : "M-3.5,-1 v-3 a3.5,3.5 0 0 1 7,0 v3" ,
      transform: open ? "translate(-3,-1)" : "" }));
    g.append(svg("rect", { x: -5, y: -1, width: 10, height: 7, rx: 1.5 }));
    if (kind === "plaintext") g.append(svg("path", { d: "M-6,-6 L6,6" }));
    if (kind === "unproven") g.append(svg("path", { d: "M-1,3 h2" }));
    return g;
  }
  function isLoopbackLabel(label) {
    return label.startsWith("127.") || label === "::1";
  }
  let edgeFilter = null;
  function drawGraph() {
    const host = document.getElementById("graph");
    host.textContent = "";
    const showLoop = loopToggle.checked;
    const g = new dagre.graphlib.Graph({ multigraph: true, compound: true });
    g.setGraph({ rankdir: "LR", nodesep: 26, ranksep: 90, marginx: 16, marginy: 16 });
    g.setDefaultEdgeLabel(() => ({}));
    const loops = new Map();
    const used = new Set();
    D.edges.forEach((e, i) => {
      // A hidden loopback leg, or one inside a node, counts on the node it runs to.
      if ((e.leg === 0 && !showLoop) || e.from === e.to) {
        // the pod it runs in: the end that is not a loopback address, the server's first
        const at = isLoopbackLabel(D.nodes[e.to].label) ? e.from : e.to;
        const prev = loops.get(at) || { flows: 0, worst: "empty" };
        const worst = worstOf(e);
        loops.set(at, { flows: prev.flows + e.flows,
          worst: WORST.indexOf(worst) < WORST.indexOf(prev.worst) ? worst : prev.worst });
        used.add(at);
        return;
      }
      used.add(e.from); used.add(e.to);
      g.setEdge(String(e.from), String(e.to), { index: i, width: 24, height: 24, labelpos: "c" }, "e" + i);
    });
    const clusters = new Set();
    for (const n of used) {
      const node = D.nodes[n];
      const lines = loops.has(n) ? 2 : 1;
      g.setNode(String(n), { width: Math.max(80, node.label.length * 7 + 24), height: 18 + 16 * lines });
      if (node.ns) {
        const c = "ns:" + node.ns;
        if (!clusters.has(c)) { clusters.add(c); g.setNode(c, { label: node.ns, clusterLabelPos: "top" }); }
        g.setParent(String(n), c);
      }
    }
    dagre.layout(g);
    const gg = g.graph();
    const root = svg("svg", { width: Math.max(gg.width, 200), height: Math.max(gg.height, 60),
      viewBox: "0 0 " + Math.max(gg.width, 200) + " " + Math.max(gg.height, 60), role: "img",
      "aria-label": "flows between pods, services and addresses" });
    const defs = svg("defs", {}, svg("marker", { id: "arrow", viewBox: "0 0 10 10", refX: 9, refY: 5,
      markerWidth: 7, markerHeight: 7, orient: "auto-start-reverse" }, svg("path", { d: "M0,0 L10,5 L0,10 z", fill: "#57606a" })));
    root.append(defs);
    for (const c of clusters) {
      const n = g.node(c);
      root.append(svg("g", { class: "cluster", "data-namespace": n.label },
        svg("rect", { x: n.x - n.width / 2, y: n.y - n.height / 2 - 14, width: n.width, height: n.height + 14 }),
        svg("text", { x: n.x - n.width / 2 + 8, y: n.y - n.height / 2, text: "namespace " + n.label })));
    }
    for (const ref of g.edges()) {
      const info = g.edge(ref);
      const e = D.edges[info.index];
      const worst = worstOf(e);
      const shown = worst === "tls" && e.unproven > 0 ? "unproven" : worst;
      const pts = info.points;
      let d = "M" + pts[0].x + "," + pts[0].y;
      for (let k = 1; k < pts.length; k++) d += " L" + pts[k].x + "," + pts[k].y;
      const from = D.nodes[e.from].label, to = D.nodes[e.to].label;
      const counts = VERDICTS.map((v, k) => e.verdicts[k] ? e.verdicts[k] + " " + v : "").filter(Boolean).join(", ");
      const title = from + " → " + to + " (" + (e.leg ? "network" : "loopback") + " leg): " + e.flows +
        " flow" + (e.flows === 1 ? "" : "s") + ": " + counts +
        (e.violations ? "; " + e.violations + " violate the policy" : "") +
        (e.unproven ? "; " + e.unproven + " unproven" : "");
      const allExpected = e.expected === e.flows && !e.violations;
      const group = svg("g", { class: "edge verdict-" + worst + (e.violations ? " violation" : "") +
          (allExpected ? " expected" : "") +
          (e.unproven ? " unproven" : "") + " leg-" + (e.leg ? "network" : "loopback"),
        "data-edge": from + " -> " + to, "data-verdict": worst, "data-leg": e.leg ? "network" : "loopback",
        "data-flows": e.flows, "data-violations": e.violations, "data-unproven": e.unproven,
        onclick: () => { edgeFilter = info.index; applyFilters(); openWorstOf(info.index); } },
        svg("title", { text: title }),
        svg("path", { d, "marker-end": "url(#arrow)" }));
      const icon = lockIcon(shown);
      icon.setAttribute("transform", "translate(" + info.x + "," + info.y + ")");
      group.append(icon);
      root.append(group);
    }
    for (const id of g.nodes()) {
      if (id.startsWith("ns:")) continue;
      const n = g.node(id);
      const node = D.nodes[Number(id)];
      const grp = svg("g", { class: "node kind-" + node.kind, "data-node": node.label,
        transform: "translate(" + (n.x - n.width / 2) + "," + (n.y - n.height / 2) + ")" },
        svg("title", { text: node.kind + " " + node.label }),
        svg("rect", { width: n.width, height: n.height }),
        svg("text", { x: 10, y: 20, text: node.label }));
      const loop = loops.get(Number(id));
      if (loop) {
        grp.setAttribute("data-loopback-flows", loop.flows);
        grp.append(svg("text", { class: "loop v-" + loop.worst, x: 10, y: 36,
          text: "⟲ " + loop.flows + " loopback flow" + (loop.flows === 1 ? "" : "s") + " (" + loop.worst + ")" }));
      }
      root.append(grp);
    }
    host.append(root);
  }
  loopToggle.addEventListener("change", drawGraph);
  // a capture of one pod's inside (every flow on the loopback leg) shows its legs at once
  loopToggle.checked = D.edges.length > 0 && D.edges.every(e => e.leg === 0);

  // --- flow table -------------------------------------------------------------------------
  const tableSection = el("section", {}, el("h2", { text: "Flows" }));
  const fVerdict = el("select", { id: "filter-verdict", "aria-label": "verdict" },
    el("option", { value: "", text: "any verdict" }), VERDICTS.map(v => el("option", { value: v, text: v })));
  const fLeg = el("select", { id: "filter-leg", "aria-label": "leg" }, el("option", { value: "", text: "any leg" }),
    el("option", { value: "1", text: "network" }), el("option", { value: "0", text: "loopback" }));
  const namespaces = new Set();
  for (let i = 0; i < N; i++) { if (C.cns[i]) namespaces.add(S[C.cns[i]]); if (C.sns[i]) namespaces.add(S[C.sns[i]]); }
  const fNs = el("select", { id: "filter-namespace", "aria-label": "namespace" },
    el("option", { value: "", text: "any namespace" }), [...namespaces].sort().map(n => el("option", { value: n, text: n })));
  const fMark = el("select", { id: "filter-mark", "aria-label": "policy mark" },
    el("option", { value: "", text: "any policy mark" }),
    el("option", { value: "1", text: "violation" }), el("option", { value: "2", text: "unproven" }),
    el("option", { value: "3", text: "exempt" }), el("option", { value: "4", text: "expected" }),
    el("option", { value: "0", text: "meets it" }));
  const fText = el("input", { type: "search", id: "filter-text", placeholder: "address, port, SNI, identity, #id",
    "aria-label": "text" });
  const clearEdge = el("button", { id: "clear-edge", type: "button", text: "all edges",
    onclick: () => { edgeFilter = null; applyFilters(); } });
  const count = el("span", { id: "count" });
  tableSection.append(el("div", { class: "controls" }, fVerdict, fLeg, fNs, fMark, fText, clearEdge, count));
  const COLS = [["#", "id"], ["", "mark"], ["CLIENT → SERVER", "ends"], ["LEG", "leg"], ["VERDICT", "v"],
    ["TLS", "tls"], ["CERT", "cert"], ["PKTS", "pkts"], ["BYTES", "bytes"], ["DETAIL", "detail"]];
  const thead = el("div", { class: "thead" });
  let sortKey = null, sortAsc = true;
  COLS.forEach(([title, key]) => thead.append(el("div", { "data-sort": key, text: title,
    onclick: () => { if (sortKey === key) sortAsc = !sortAsc; else { sortKey = key; sortAsc = true; } applyFilters(); } })));
  const rows = el("div", { id: "rows" });
  const spacer = el("div", { id: "spacer" });
  rows.append(spacer);
  tableSection.append(el("div", { id: "table" }, thead, rows));
  root.append(tableSection);
  const ROW = 26;
  let order = [];
  let selected = -1;

  function textOf(i) {
    return ("#" + C.id[i] + " " + S[C.ends[i]] + " " + S[C.detail[i]] + " " + S[C.tls[i]]).toLowerCase();
  }
  function key(i, k) {
    switch (k) {
      case "id": return C.id[i];
      case "mark": return C.mark[i] === 0 ? 9 : C.mark[i];
      case "v": return WORST.indexOf(VERDICTS[C.v[i]]);
      case "pkts": return C.pkts[i];
      case "bytes": return C.bytes[i];
      case "leg": return C.leg[i];
      default: return S[C[k][i]];
    }
  }
  // violations first, then unproven, then the rest, each by id
  const rank = [2, 0, 1, 3, 3];
  function applyFilters() {
    const v = fVerdict.value === "" ? -1 : VERDICTS.indexOf(fVerdict.value);
    const leg = fLeg.value === "" ? -1 : Number(fLeg.value);
    const ns = fNs.value;
    const mark = fMark.value === "" ? -1 : Number(fMark.value);
    const text = fText.value.trim().toLowerCase();
    order = [];
    for (let i = 0; i < N; i++) {
      if (v >= 0 && C.v[i] !== v) continue;
      if (leg >= 0 && C.leg[i] !== leg) continue;
      if (ns && S[C.cns[i]] !== ns && S[C.sns[i]] !== ns) continue;
      if (mark >= 0 && C.mark[i] !== mark) continue;
      if (edgeFilter !== null && C.edge[i] !== edgeFilter) continue;
      if (text && !textOf(i).includes(text)) continue;
      order.push(i);
    }
    if (sortKey) {
      const dir = sortAsc ? 1 : -1;
      order.sort((a, b) => {
        const x = key(a, sortKey), y = key(b, sortKey);
        return (x < y ? -1 : x > y ? 1 : C.id[a] - C.id[b]) * dir;
      });
    } else {
      order.sort((a, b) => (rank[C.mark[a]] - rank[C.mark[b]]) || (C.id[a] - C.id[b]));
    }
    for (const h of thead.children) {
      h.classList.toggle("sorted", h.dataset.sort === sortKey);
      h.classList.toggle("asc", h.dataset.sort === sortKey && sortAsc);
    }
    clearEdge.disabled = edgeFilter === null;
    count.textContent = order.length + " of " + N + " flows" +
      (edgeFilter !== null ? " (one edge)" : "");
    spacer.style.height = Math.max(order.length, 1) * ROW + "px";
    rows.scrollTop = 0;
    renderRows();
  }
  function renderRows() {
    const top = rows.scrollTop, h = rows.clientHeight || 600;
    const first = Math.max(0, Math.floor(top / ROW) - 10);
    const last = Math.min(order.length, Math.ceil((top + h) / ROW) + 10);
    spacer.textContent = "";
    if (!order.length) {
      spacer.append(el("div", { class: "row", text: N ? "no flow matches the filters" : "no flows in the capture" }));
    }
    for (let k = first; k < last; k++) {
      const i = order[k];
      const m = C.mark[i];
      const verdict = VERDICTS[C.v[i]];
      const r = el("div", { class: "row" + (m === 1 ? " violation" : m === 2 ? " unproven" : "") + (i === selected ? " selected" : ""),
        "data-flow-id": C.id[i], "data-verdict": verdict, "data-mark": MARKS[m] || null,
        onclick: () => open(i) },
        el("div", { class: "num", text: C.id[i] }),
        el("div", { class: "mark", text: MARK_SIGN[m] }),
        el("div", { class: "mono", title: S[C.ends[i]], text: S[C.ends[i]] }),
        el("div", { text: C.leg[i] ? "network" : "loopback" }),
        el("div", { class: "v-" + verdict, text: verdict }),
        el("div", { text: S[C.tls[i]] }),
        el("div", { text: S[C.cert[i]] }),
        el("div", { class: "num", text: C.pkts[i] }),
        el("div", { class: "num", text: human(C.bytes[i]) }),
        el("div", { title: S[C.detail[i]], text: S[C.detail[i]] }));
      r.style.top = k * ROW + "px";
      spacer.append(r);
    }
  }
  rows.addEventListener("scroll", () => requestAnimationFrame(renderRows));
  for (const f of [fVerdict, fLeg, fNs, fMark]) f.addEventListener("change", applyFilters);
  let typing = 0;
  fText.addEventListener("input", () => { clearTimeout(typing); typing = setTimeout(applyFilters, 150); });

  // --- a flow's evidence ------------------------------------------------------------------
  const panel = el("aside", { id: "evidence", "aria-label": "flow evidence" });
  document.body.append(panel);
  function kv(pairs) {
    const dl = el("dl", {});
    for (const [k, v] of pairs) {
      if (v === null || v === undefined || v === "" || (Array.isArray(v) && !v.length)) continue;
      dl.append(el("dt", { text: k }), el("dd", {}, v instanceof Node ? v : String(Array.isArray(v) ? v.join(", ") : v)));
    }
    return dl;
  }
  function endpoint(e) {
    return (e.name ? e.name + " " : "") + (e.ip.includes(":") ? "[" + e.ip + "]" : e.ip) + ":" + e.port;
  }
  function chain(side) {
    if (!side || !side.chain || !side.chain.length) return null;
    const t = el("table", { class: "chain" }, el("tr", {}, ["subject", "issuer", "SPIFFE / SAN", "valid", "sha256"].map(h => el("th", { text: h }))));
    for (const c of side.chain) {
      t.append(el("tr", {}, el("td", { text: c.subject || c.parse_error || "" }), el("td", { text: c.issuer || "" }),
        el("td", { text: [...(c.san_uris || []), ...(c.san_dns || [])].join(", ") }),
        el("td", { text: (c.not_before || "") + " – " + (c.not_after || "") }),
        el("td", { class: "mono", text: c.sha256 || "" })));
    }
    return t;
  }
  function certSide(name, side) {
    if (!side) return [];
    const chainTable = chain(side);
    return [el("h3", { text: name + " certificate" }),
      kv([["presented", side.presented === null ? "unknown" : side.presented ? "yes" : "no"],
        ["evidence", side.evidence], ["frame", side.frame], ["resumed from flow", side.resumed_from],
        ["forwarded identity", side.forwarded_identity],
        ["basis", side.basis ? side.basis.rule + " (flows " + side.basis.flows.join(", ") + ")" : null]]),
      chainTable].filter(Boolean);
  }
  function open(i) {
    selected = i;
    const f = entry(i);
    panel.textContent = "";
    panel.dataset.flowId = f.id;
    panel.append(el("button", { class: "close", type: "button", text: "close", onclick: () => { panel.classList.remove("open"); selected = -1; renderRows(); } }),
      el("h2", {}, "Flow #" + f.id + ": ", el("span", { class: "v-" + f.verdict, text: f.verdict })),
      kv([["client → server", endpoint(f.client) + " → " + endpoint(f.server)], ["leg", f.leg + " (" + f.leg_reason + ")"],
        ["policy", f.policy ? f.policy + (f.exempt_by ? " (" + f.exempt_by + ")" : "") : null],
        ["expected", f.expected ? f.expected_rule + ": " + f.expected_reason : null],
        ["frames", f.first_frame + " to " + f.last_frame], ["seen", f.first_seen + " to " + f.last_seen],
        ["packets", f.packets.client + " from the client, " + f.packets.server + " from the server"],
        ["bytes", f.bytes.client + " from the client, " + f.bytes.server + " from the server"],
        f.tcp ? ["TCP", "close " + f.tcp.close + ", " + f.tcp.gaps + " gaps, " + f.tcp.retransmitted + " retransmitted" +
          (f.tcp.ignored_rst ? ", " + f.tcp.ignored_rst + " ignored RST" : "") +
          (f.tcp.overlap_conflicts ? ", " + f.tcp.overlap_conflicts + " overlap conflicts" : "")]
          : ["transport", f.transport],
        ["paired with", f.paired_with ? "#" + f.paired_with + (f.pairing ? " (" + f.pairing + ")" : "") : null],
        ["ambiguity", f.ambiguity ? f.ambiguity.cause + ": read the other way " + f.ambiguity.other_verdict + " (" + f.ambiguity.other_evidence + ")" : null]]),
      el("h3", { text: "Why" }), el("ol", { class: "reasons" },
        f.reasons.map((r, k) => el("li", { text: r, "data-code": (f.reason_codes || [])[k], title: (f.reason_codes || [])[k] }))));
    const t = f.tls;
    if (t) {
      panel.append(el("h3", { text: "TLS" }), kv([["version", t.version], ["handshake", t.handshake], ["cipher suite", t.cipher_suite],
        ["SNI", t.sni], ["ALPN offered", t.alpn_offered], ["ALPN selected", t.alpn_selected],
        ["resumed", t.resumed === null ? null : String(t.resumed)], ["certificate requested", t.certificate_requested === null ? null : String(t.certificate_requested)],
        ["JA3", t.ja3], ["JA4", t.ja4], ["ClientHello frame", t.client_hello_frame],
        ["alerts", (t.alerts || []).map(a => a.from + " " + a.level + " " + a.description + " (frame " + a.frame + ")")]]),
        ...certSide("Client", t.client_certificate), ...certSide("Server", t.server_certificate));
    }
    const pt = f.plaintext;
    if (pt) {
      panel.append(el("h3", { text: "Cleartext" }), kv([["protocol", pt.protocol], ["sent by", pt.direction], ["frame", pt.frame],
        ["rejected by the server", pt.rejected ? "yes" : null],
        ["forwarded client", pt.forwarded_client ? pt.forwarded_client.header + ": " + pt.forwarded_client.identity : null]]),
        el("div", { class: "quote mono", text: pt.evidence }));
    }
    const enc = f.encryption;
    if (enc) {
      const from = enc.encrypted_from || {};
      panel.append(el("h3", { text: "Encryption (" + enc.protocol + ")" }), kv([["version", enc.version],
        ["client", enc.client_software], ["server", enc.server_software], ["key exchange", enc.key_exchange],
        ["cipher client → server", enc.cipher_client_to_server], ["cipher server → client", enc.cipher_server_to_client],
        ["encrypted from frames", "client " + (from.client ?? "?") + ", server " + (from.server ?? "?")]]));
    }
    const m = f.mesh;
    if (m && (m.markers && m.markers.length || m.istio_sni || m.pod)) {
      panel.append(el("h3", { text: "Mesh" }), kv([["markers", (m.markers || []).join(", ")],
        ["Istio SNI", m.istio_sni ? (m.istio_sni.service || m.istio_sni.fqdn) + ":" + m.istio_sni.port +
          (m.istio_sni.subset ? " subset " + m.istio_sni.subset : "") + " (" + m.istio_sni.direction + ")" : null],
        ["pod", m.pod]]));
    }
    panel.classList.add("open");
    renderRows();
  }
  function openWorstOf(edge) {
    let best = -1;
    for (const i of order) if (C.edge[i] === edge && (best < 0 || rank[C.mark[i]] < rank[C.mark[best]])) best = i;
    if (best >= 0) open(best);
  }
  window.mtlscanOpenFlow = id => { const i = C.id.indexOf(id); if (i >= 0) open(i); return i >= 0; };

  // --- for print: the flows that fail the policy, listed --------------------------------
  const failing = [];
  for (let i = 0; i < N && failing.length < 500; i++) if (C.mark[i] === 1 || C.mark[i] === 2) failing.push(i);
  if (failing.length) {
    const t = el("table", {}, el("tr", {}, ["#", "mark", "client → server", "leg", "verdict", "detail"].map(h => el("th", { text: h }))));
    for (const i of failing) t.append(el("tr", {}, el("td", { text: C.id[i] }), el("td", { text: MARKS[C.mark[i]] }),
      el("td", { text: S[C.ends[i]] }), el("td", { text: C.leg[i] ? "network" : "loopback" }),
      el("td", { text: VERDICTS[C.v[i]] }), el("td", { text: S[C.detail[i]] })));
    root.append(el("section", { class: "print-only" }, el("h2", { text: "Flows that fail the policy" }), t));
  }

  drawGraph();
  applyFilters();
  document.body.dataset.ready = "1";
  window.mtlscanReady = true;
})();
