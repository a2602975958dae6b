/* The dashboard: draws the cluster view the control plane streams (/ui/api/events, server-sent
   events from the store's change feed) and the panels a click opens: a task's placement
   explanation, a service's rollout, events and autoscaling. Every element that shows an ECS object
   carries its ARN (data-task-arn, data-instance-arn, data-service-arn). Text goes in through
   text nodes only, never innerHTML, so no name or message from the API can inject markup. */
"use strict";

const ui = {
  view: null,
  cluster: new URLSearchParams(location.search).get("cluster") || "default",
  selected: null, // {kind: "task" | "service", arn, name?}
  source: null,
  explained: {}, // task ARN -> explanation response (a placement never changes once made)
  kube: {}, // task ARN -> the kubernetes profile's scores for the same placement input
  scaling: null, // {name, at, metrics, autoscaling}
  chart: null,
  seenEvents: new Set(),
};

const PALETTE = ["#1565c0", "#c62828", "#2e7d32", "#6a1b9a", "#ef6c00", "#00838f", "#ad1457", "#4e342e", "#558b2f", "#37474f"];

function h(tag, props, ...children) {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(props || {})) {
    if (v === null || v === undefined || v === false) continue;
    if (k === "class") e.className = v;
    else if (k.startsWith("on")) e.addEventListener(k.slice(2), v);
    else e.setAttribute(k, v === true ? "" : String(v));
  }
  for (const c of children.flat(Infinity)) {
    if (c === null || c === undefined || c === false || c === "") continue;
    e.append(c instanceof Node ? c : document.createTextNode(String(c)));
  }
  return e;
}

async function api(path, options) {
  const sep = path.includes("?") ? "&" : "?";
  const resp = await fetch(`/ui/api${path}${sep}cluster=${encodeURIComponent(ui.cluster)}`, {
    credentials: "same-origin",
    ...options,
  });
  if (resp.status === 401) {
    location.reload(); // the session expired: the page comes back as the sign-in form
    throw new Error("signed out");
  }
  const body = await resp.json();
  if (!resp.ok) throw new Error(body.message || `HTTP ${resp.status}`);
  return body;
}

// -- names, colours, numbers -----------------------------------------------------------------

const shortId = (id) => (id || "").slice(0, 8);
const depLabel = (id) => (id ? "dep …" + id.slice(-4) : "no deployment");
const when = (epoch) => new Date(epoch * 1000).toLocaleTimeString();

function serviceNames(v) {
  const names = new Set(v.services.map((s) => s.name));
  for (const t of v.tasks) if (t.service) names.add(t.service);
  return [...names].sort();
}

function colourOf(name) {
  if (!name || !ui.view) return "#616161";
  const i = serviceNames(ui.view).indexOf(name);
  return i < 0 ? "#616161" : PALETTE[i % PALETTE.length];
}

function instanceName(arnOrId) {
  if (!ui.view || !arnOrId) return arnOrId || "?";
  const inst = ui.view.instances.find((i) => i.arn === arnOrId || i.id === arnOrId);
  return inst ? inst.name || shortId(inst.id) : shortId(arnOrId.split("/").pop());
}

const plural = (n, word) => `${n} ${word}${n === 1 ? "" : "s"}`;

function bar(label, used, total, unit) {
  const pct = total > 0 ? Math.min(100, (100 * used) / total) : 0;
  return h("div", { class: "bar", title: `${label}: ${used} of ${total} reserved` },
    h("span", { class: pct > 85 ? "high" : "", style: `width:${pct.toFixed(1)}%` }),
    h("label", {}, `${label} ${used} / ${total} ${unit}`));
}

// -- the live feed ---------------------------------------------------------------------------

function connect() {
  if (ui.source) ui.source.close();
  const live = document.getElementById("live");
  const source = new EventSource(`/ui/api/events?cluster=${encodeURIComponent(ui.cluster)}`);
  ui.source = source;
  source.addEventListener("state", (e) => {
    live.textContent = "live";
    live.className = "live on";
    ui.view = JSON.parse(e.data);
    render();
  });
  source.onerror = () => {
    live.textContent = "reconnecting…";
    live.className = "live off";
    // EventSource retries by itself; a stream refused outright (signed out) is worth a look.
    if (source.readyState === EventSource.CLOSED) api("/state").catch(() => {});
  };
}

function render() {
  const v = ui.view;
  renderClusters(v);
  renderServices(v);
  renderZones(v);
  renderDetail();
  if (typeof planFormRefresh === "function") planFormRefresh(v);
}

function renderClusters(v) {
  const select = document.getElementById("cluster");
  const names = v.clusters.includes(v.cluster) ? v.clusters : [v.cluster, ...v.clusters];
  if (select.options.length !== names.length || [...select.options].some((o, i) => o.value !== names[i])) {
    select.replaceChildren(...names.map((n) => h("option", { value: n }, n)));
  }
  select.value = v.cluster;
}

// -- services strip --------------------------------------------------------------------------

function renderServices(v) {
  const root = document.getElementById("services");
  if (!v.services.length) {
    root.replaceChildren(h("p", { class: "hint" }, `No services in ${v.cluster} yet.`));
    return;
  }
  root.replaceChildren(...v.services.map((s) => {
    const primary = s.deployments[0];
    const selected = ui.selected && ui.selected.kind === "service" && ui.selected.arn === s.arn;
    return h("div", {
      class: "service" + (selected ? " selected" : ""), style: `--c:${colourOf(s.name)}`,
      "data-service-arn": s.arn, onclick: () => select("service", s.arn),
    },
    h("div", { class: "name" }, s.name, " ", s.status !== "ACTIVE" ? h("span", { class: "badge DRAINING" }, s.status) : null),
    h("div", { class: "counts" }, `${s.runningCount} running / ${s.desiredCount} desired · ${s.taskDefinition}`),
    primary ? h("div", { class: "rollout" }, h("span", { class: `badge ${primary.rolloutState}` }, primary.rolloutState),
      s.deployments.length > 1 ? ` ${s.deployments.length} deployments` : "") : null);
  }));
}

// -- the cluster: zones as columns, instances as boxes, tasks as chips -----------------------

function renderZones(v) {
  const root = document.getElementById("zones");
  if (!v.instances.length) {
    root.replaceChildren(h("p", { class: "hint" }, "No container instances are registered in this cluster."));
    return;
  }
  const onInstance = {};
  for (const t of v.tasks) (onInstance[t.containerInstanceArn || ""] ||= []).push(t);
  const columns = v.zones.map((zone) => h("section", { class: "zone", "data-zone": zone },
    h("h2", {}, zone || "(no zone)"),
    v.instances.filter((i) => i.zone === zone).map((i) => instanceBox(i, onInstance[i.arn] || []))));
  root.replaceChildren(...columns);
}

function instanceBox(inst, tasks) {
  const lost = !inst.agentConnected;
  const status = lost ? "lost" : inst.status;
  const attrs = Object.entries(inst.attributes);
  return h("div", {
    class: `instance ${inst.status}${lost ? " lost" : ""}`, "data-instance-arn": inst.arn,
    title: `${inst.arn}\n${inst.ec2InstanceId}`,
  },
  h("div", { class: "head" },
    h("span", { class: "iname" }, inst.name || shortId(inst.id)),
    h("span", { class: "itype" }, inst.instanceType),
    h("span", { class: `badge ${status}`, title: inst.statusReason || "" }, lost ? "agent disconnected" : inst.status)),
  bar("CPU", inst.cpu.used, inst.cpu.registered, "units"),
  bar("memory", inst.memory.used, inst.memory.registered, "MiB"),
  attrs.length ? h("div", { class: "attrs" }, attrs.map(([k, val]) => h("span", { class: "attr" }, val ? `${k}=${val}` : k))) : null,
  h("div", { class: "chips" }, tasks.length ? tasks.map(taskChip) : h("span", { class: "empty" }, "no tasks")));
}

function taskChip(t) {
  const svc = ui.view.services.find((s) => s.name === t.service);
  const primary = svc && svc.deployments[0];
  const classes = ["chip"];
  if (primary && t.deployment && t.deployment !== primary.id) classes.push("old");
  if (t.lastStatus !== "RUNNING" && t.desiredStatus === "RUNNING") classes.push("pending");
  if (t.desiredStatus === "STOPPED") classes.push("stopping");
  if (t.healthStatus === "UNHEALTHY") classes.push("unhealthy");
  if (ui.selected && ui.selected.kind === "task" && ui.selected.arn === t.arn) classes.push("selected");
  const ports = t.ports.filter((p) => p.hostPort).map((p) => `:${p.hostPort}${p.protocol === "udp" ? "/udp" : ""}`);
  const state = t.desiredStatus === "STOPPED" ? "STOPPING" : t.lastStatus !== "RUNNING" ? t.lastStatus : "";
  return h("div", {
    class: classes.join(" "), style: `--c:${colourOf(t.service)}`,
    "data-task-arn": t.arn, "data-deployment": t.deployment || "", "data-service": t.service || "",
    "data-last-status": t.lastStatus,
    title: `${t.arn}\n${t.lastStatus} (desired ${t.desiredStatus}), health ${t.healthStatus}\ndeployment ${t.deployment || "-"}`,
    onclick: (e) => { e.stopPropagation(); select("task", t.arn); },
  },
  h("span", { class: "svc" }, t.service || t.group), " ", h("span", { class: "mono" }, shortId(t.id)),
  h("span", { class: "dep" }, [t.taskDefinition, t.service ? depLabel(t.deployment) : null, ...ports, state].filter(Boolean).join(" · ")));
}

// -- the detail panel ------------------------------------------------------------------------

function select(kind, arn) {
  ui.selected = { kind, arn };
  if (kind === "service") ui.scaling = null;
  render();
}

function renderDetail() {
  const root = document.getElementById("detail");
  const sel = ui.selected;
  if (!sel || !ui.view) return;
  root.classList.remove("wide");
  if (sel.kind === "task") renderTaskDetail(root, sel.arn);
  else renderServiceDetail(root, sel.arn);
}

function renderTaskDetail(root, arn) {
  const t = ui.view.tasks.find((x) => x.arn === arn);
  const known = ui.explained[arn];
  const id = encodeURIComponent(arn.split("/").pop());
  if (!known) {
    ui.explained[arn] = { pending: true };
    api(`/tasks/${id}/explanation`)
      .then((r) => { ui.explained[arn] = r; renderDetail(); })
      .catch((err) => { ui.explained[arn] = { error: err.message }; renderDetail(); });
  }
  // A task that left the live view has stopped: say why, once, from DescribeTasks.
  if (!t && known && !known.pending && !known.stopped) {
    known.stopped = { pending: true };
    api(`/tasks/${id}`)
      .then((r) => { known.stopped = (r.tasks || [])[0] || { stoppedReason: "no longer known to the control plane" }; renderDetail(); })
      .catch((err) => { known.stopped = { stoppedReason: err.message }; renderDetail(); });
  }
  const gone = known && known.stopped && !known.stopped.pending ? known.stopped : null;
  const head = [
    h("h2", {}, "Task ", h("span", { class: "mono" }, shortId(arn.split("/").pop()))),
    h("div", { class: "mono arn" }, arn),
    t ? h("p", {}, `${t.service ? "service " + t.service : t.group} · ${t.taskDefinition} · ${t.lastStatus} on `,
      h("b", {}, instanceName(t.containerInstanceArn)), ` in ${t.zone || "?"}`)
      : h("p", { class: "stopped" }, h("b", {}, gone && gone.lastStatus ? gone.lastStatus : "Stopped"),
        gone && gone.stopCode ? ` (${gone.stopCode})` : "", gone && gone.stoppedReason ? `: ${gone.stoppedReason}` : "",
        gone && gone.containers ? gone.containers.filter((c) => c.exitCode !== undefined).map((c) => ` · container ${c.name} exited ${c.exitCode}`) : ""),
  ];
  let body;
  if (!known || known.pending) body = h("p", { class: "hint" }, "Loading the placement explanation…");
  else if (known.error) body = h("p", { class: "plan-failure" }, known.error);
  else if (!known.explanation) body = h("p", { class: "hint" }, "No explanation was recorded for this task (it was placed on an instance named by StartTask, or by an older version).");
  else body = explanationPanel(known.explanation);
  const compare = t && t.service ? h("p", {}, h("button", { onclick: () => planOneMore(t.service) },
    `Plan one more ${t.service} task: ECS beside the kubernetes profile`)) : null;
  if (!ui.kube[arn]) {
    ui.kube[arn] = { pending: true };
    api(`/tasks/${id}/kubernetes`)
      .then((r) => { ui.kube[arn] = r; renderDetail(); })
      .catch((err) => { ui.kube[arn] = { error: err.message }; renderDetail(); });
  }
  const recordedProfile = known && known.explanation ? known.explanation.profile || "ecs" : "ecs";
  root.classList.add("wide");
  root.replaceChildren(...head, h("div", { class: "why" },
    h("div", { class: "why-ecs" }, h("h3", {}, `Why there? (${recordedProfile === "kubernetes" ? "kubernetes profile" : "ECS"}, as recorded)`), body),
    h("div", { class: "why-kube", "data-kube-panel": "" }, h("h3", {}, "kube-scheduler on the same input"), kubePanel(ui.kube[arn]))),
  compare);
}

/* The kubernetes profile's filters, topology spread and scores for the cluster as it was when the
   task was placed (rebuilt on the server from the task rows; see orchestrator/api/ui/kube_scores.py).
   One row per instance: its score, or the filter that dropped it. */
function kubePanel(k) {
  if (!k || k.pending) return h("p", { class: "hint" }, "Scoring with the kubernetes profile…");
  if (k.error) return h("p", { class: "plan-failure" }, k.error);
  if (!k.available) return h("p", { class: "hint" }, `Not available: ${k.reason}.`);
  const ex = k.explanation;
  const parts = [h("p", { class: "hint" }, `The cluster when the task was placed: ${plural(k.instances.length, "instance")}, ` +
    `${plural(k.tasksThen, "other task")} holding resources. ` +
    (k.recordedProfile === "kubernetes"
      ? (k.inputMatches ? "The kubernetes profile placed this task; on this input it chooses the same instance again." : "The kubernetes profile placed this task, but on this input it would choose another instance: the input differs from what it saw.")
      : (k.inputMatches ? "ECS's rule on this input chooses the same instance again." : `ECS's rule on this input would choose ${instanceName(k.ecsWinnerArn)}: the input differs from what ECS saw.`)))];
  const byId = {};
  for (const i of k.instances) byId[i.id] = { ...i };
  if (ex) {
    for (const f of ex.filters || []) for (const e of f.examples || []) if (byId[e.instance]) byId[e.instance].dropped = `${f.filter}: ${e.reason}`;
    for (const sc of ex.scores || []) if (byId[sc.instance]) byId[sc.instance].score = sc;
    const topo = ex.topology;
    if (topo) parts.push(h("p", {}, `PodTopologySpread on ${topo.key} (maxSkew ${topo.max_skew}, fewest ${topo.min}): `,
      (topo.zones || []).map((z) => `${z.zone} ${plural(z.tasks, "pod")}`).join(" · ")));
  }
  const winnerId = ex && ex.winner ? ex.winner.instance : null;
  // Highest total first; among equal totals the node kube would bind to (the seeded tie-break's pick).
  const rank = (r) => (r.score ? 2 * r.score.total + (r.id === winnerId ? 1 : 0) : -1);
  const rows = Object.values(byId).sort((a, b) => rank(b) - rank(a));
  const node = (r) => h("td", {}, r.id === winnerId ? "* " : "", instanceName(r.arn), h("div", { class: "hint" }, r.zone));
  parts.push(h("table", { class: "kube-scores" },
    h("tr", {}, h("th", {}, "node"), h("th", { title: "NodeResourcesFit LeastAllocated: (cpu% + memory% free after the pod) / 2" }, "Least\u00adAllocated"),
      h("th", { title: "NodeResourcesBalancedAllocation: 100 x (1 - std of the requested fractions)" }, "Balanced"), h("th", {}, "total")),
    rows.map((r) => r.score
      ? h("tr", { "data-kube-instance-arn": r.arn, "data-kube-score": r.score.total, class: r.id === winnerId ? "kube-best" : "" },
        node(r), h("td", {}, r.score.least_allocated), h("td", {}, r.score.balanced_allocation), h("td", {}, h("b", {}, r.score.total)))
      : h("tr", { "data-kube-instance-arn": r.arn, "data-kube-filter": r.dropped ? r.dropped.split(":")[0] : "" },
        node(r), h("td", { colspan: 3, class: r.dropped ? "verdict-drop" : "hint" }, r.dropped ? `filtered by ${r.dropped}` : "not among the best scored")))));
  parts.push(ex
    ? h("div", { class: "kube-winner" }, "kube-scheduler would bind it to ", h("b", {}, instanceName(ex.winner.arn)),
      ex.winner.zone ? ` in ${ex.winner.zone}` : "", ex.winner.arn === k.placedOnArn ? " (where it is)" : " (not where it is)")
    : h("p", { class: "plan-failure" }, `kube-scheduler could not place it: ${k.unplaceable}`));
  return h("div", {}, parts);
}

/* One explanation as the scheduler recorded it: filters (each one's verdict), then the ECS
   strategies' rankings or the kubernetes profile's scores, then the winner. Reads keys
   defensively: explanations of older versions may lack some. */
function explanationPanel(ex) {
  const parts = [];
  const considered = ex.considered ?? "?";
  const filters = ex.filters || [];
  parts.push(h("p", {}, `${plural(considered, "instance")} considered, ${ex.eligible ?? "?"} eligible (profile ${ex.profile || "ecs"}).`));
  parts.push(h("table", {},
    h("tr", {}, h("th", {}, "filter"), h("th", {}, "verdict")),
    filters.length ? filters.map((f) => h("tr", {},
      h("td", {}, f.filter || "?"),
      h("td", {}, h("span", { class: "verdict-drop" }, `dropped ${f.removed ?? (f.examples || []).length}`), ": ",
        (f.examples || []).map((e) => `${instanceName(e.instance)} (${e.reason})`).join(", ")))) : null,
    h("tr", {}, h("td", {}, filters.length ? "every other filter" : "every filter"),
      h("td", {}, h("span", { class: "verdict-pass" }, "passed"), ` ${ex.eligible ?? "the"} instances`))));
  if (ex.profile === "kubernetes") {
    const topo = ex.topology;
    if (topo) {
      parts.push(h("h3", {}, `Topology spread on ${topo.key || "zone"} (maxSkew ${topo.max_skew}, minimum ${topo.min})`));
      parts.push(h("p", {}, (topo.zones || []).map((z) => `${z.zone}: ${z.tasks} pods`).join(" · ")));
    }
    parts.push(h("h3", {}, "Scores (LeastAllocated + BalancedAllocation)"));
    parts.push(h("table", {}, h("tr", {}, h("th", {}, "node"), h("th", {}, "LeastAllocated"), h("th", {}, "Balanced"), h("th", {}, "total")),
      (ex.scores || []).map((s) => h("tr", {}, h("td", {}, instanceName(s.instance)), h("td", {}, s.least_allocated),
        h("td", {}, s.balanced_allocation), h("td", {}, h("b", {}, s.total))))));
  } else {
    for (const step of ex.strategies || []) {
      parts.push(h("h3", {}, `Strategy ${step.strategy || "?"}`));
      if (step.strategy === "random") {
        parts.push(h("p", {}, `picked ${instanceName(step.chose)} at random among ${step.candidates} candidates`));
        continue;
      }
      parts.push(h("ol", { class: "ranking" }, (step.ranking || []).map((r) => h("li", {}, rankedEntry(r, ex.group)))));
    }
  }
  const w = ex.winner || {};
  parts.push(h("div", { class: "winner" }, "Winner: ", h("b", {}, instanceName(w.arn || w.instance)), w.zone ? ` in ${w.zone}` : ""));
  return h("div", {}, parts);
}

function rankedEntry(r, group) {
  const of = group ? ` of ${group}` : "";
  if ("value" in r) return `${r.value ?? "(no attribute)"}: ${plural(r.tasks, "task")}${of} already`;
  const name = instanceName(r.instance);
  if ("tasks" in r) return `${name}: ${plural(r.tasks, "task")}${of} already`;
  if ("remaining_memory" in r) return `${name}: ${r.remaining_memory} MiB left`;
  if ("remaining_cpu" in r) return `${name}: ${r.remaining_cpu} CPU units left`;
  return name;
}

function renderServiceDetail(root, arn) {
  const s = ui.view.services.find((x) => x.arn === arn);
  if (!s) {
    root.replaceChildren(h("p", { class: "hint" }, "This service is gone."));
    return;
  }
  const cb = s.circuitBreaker;
  const parts = [
    h("h2", { "data-service-arn": s.arn }, h("span", { style: `color:${colourOf(s.name)}` }, "■ "), s.name),
    h("p", {}, `${s.runningCount} running, ${s.pendingCount} pending, ${s.desiredCount} desired · ${s.taskDefinition} · profile ${s.schedulerProfile}`),
    h("h3", {}, "Deployments"),
    h("p", { class: "hint" }, `minimumHealthyPercent ${s.minimumHealthyPercent} → at least ${s.bounds.minimumHealthy} healthy; maximumPercent ${s.maximumPercent} → at most ${s.bounds.maximum} tasks`),
    s.deployments.map((d, i) => deploymentRow(s, d, i)),
    h("h3", {}, "Circuit breaker"),
    h("p", {}, cb.enable
      ? `${cb.failedTasks} of ${cb.threshold} failed tasks before it trips (${cb.rollback ? "rolls back" : "no rollback"})`
      : `off (failed tasks so far: ${cb.failedTasks}; it would trip at ${cb.threshold})`),
    h("h3", {}, "Autoscaling"),
    h("div", { id: "scaling" }, ui.scaling && ui.scaling.name === s.name ? null : h("p", { class: "hint" }, "Loading…")),
    h("h3", {}, "Events"),
    h("ul", { class: "events" }, s.events.map((e) => {
      const fresh = !ui.seenEvents.has(`${s.arn}#${e.id}`);
      return h("li", { class: fresh ? "fresh" : "" }, h("time", {}, when(e.createdAt)), e.message);
    })),
  ];
  const keep = root.querySelector("#scaling");
  root.replaceChildren(...parts.flat());
  if (keep && ui.scaling && ui.scaling.name === s.name) root.querySelector("#scaling").replaceWith(keep);
  setTimeout(() => s.events.forEach((e) => ui.seenEvents.add(`${s.arn}#${e.id}`)), 4000);
  refreshScaling(s);
}

function deploymentRow(s, d, index) {
  const scale = Math.max(s.bounds.maximum, s.desiredCount, d.desiredCount, d.runningCount + d.pendingCount, 1);
  const pct = (n) => `${((100 * n) / scale).toFixed(1)}%`;
  const healthy = d.healthyCount ?? d.runningCount;
  const colour = index === 0 ? colourOf(s.name) : "#8a8f98";
  return h("div", { "data-deployment-id": d.id },
    h("div", {}, h("b", {}, `${d.status} ${d.taskDefinition}`), ` ${depLabel(d.id)} `,
      h("span", { class: `badge ${d.rolloutState}` }, d.rolloutState),
      ` ${healthy} healthy, ${d.runningCount} running, ${d.pendingCount} pending of ${d.desiredCount}`,
      d.failedTasks ? `, ${d.failedTasks} failed` : ""),
    d.rolloutStateReason ? h("div", { class: "hint" }, d.rolloutStateReason) : null,
    h("div", { class: "progress", title: `scale: 0 to ${scale} tasks` },
      h("div", { class: "seg", style: `left:0;width:${pct(healthy)};background:${colour}` }),
      h("div", { class: "seg", style: `left:${pct(healthy)};width:${pct(Math.max(0, d.runningCount + d.pendingCount - healthy))};background:${colour};opacity:0.35` }),
      h("div", { class: "mark", style: `left:${pct(s.bounds.minimumHealthy)}` }, h("span", {}, `min healthy ${s.bounds.minimumHealthy}`)),
      h("div", { class: "mark end", style: `left:calc(${pct(s.bounds.maximum)} - 3px)` }, h("span", {}, `max ${s.bounds.maximum}`))));
}

// -- autoscaling: utilization against the target over time, desired count, activities --------

function refreshScaling(s) {
  const now = Date.now();
  if (ui.scaling && ui.scaling.name === s.name && (ui.scaling.loading || now - ui.scaling.at < 3000)) return;
  ui.scaling = { ...(ui.scaling && ui.scaling.name === s.name ? ui.scaling : {}), name: s.name, at: now, loading: true };
  const name = encodeURIComponent(s.name);
  Promise.all([api(`/services/${name}/metrics`), api(`/services/${name}/autoscaling`)])
    .then(([metrics, scaling]) => {
      ui.scaling = { name: s.name, at: Date.now(), metrics, scaling };
      drawScaling();
    })
    .catch((err) => {
      ui.scaling = { name: s.name, at: Date.now(), error: err.message };
      drawScaling();
    });
}

function targetOf(policies) {
  for (const p of policies || []) {
    const c = p.TargetTrackingScalingPolicyConfiguration;
    if (!c) continue;
    const type = (c.PredefinedMetricSpecification || {}).PredefinedMetricType || "";
    return { value: c.TargetValue, metric: type.includes("Memory") ? "MemoryUtilization" : "CPUUtilization", policy: p.PolicyName };
  }
  return null;
}

function drawScaling() {
  const box = document.getElementById("scaling");
  const sc = ui.scaling;
  if (!box || !sc) return;
  if (sc.error) { box.replaceChildren(h("p", { class: "plan-failure" }, sc.error)); return; }
  const points = sc.metrics.datapoints || [];
  const target = targetOf(sc.scaling.ScalingPolicies);
  const metric = target ? target.metric : "CPUUtilization";
  const st = sc.metrics.scalableTarget;
  const summary = h("p", {},
    target ? `target tracking ${target.policy}: ${metric} at ${target.value}%` : "no target-tracking policy",
    st ? ` · capacity ${st.MinCapacity}–${st.MaxCapacity}` : " · no scalable target",
    points.length ? ` · desired ${points[points.length - 1].DesiredCount}` : "");
  const canvas = h("canvas", { id: "scaling-chart" });
  const activities = sc.scaling.ScalingActivities || [];
  box.replaceChildren(summary, h("div", { class: "chart-box" }, canvas),
    h("ul", { class: "events" }, activities.length ? activities.map((a) => h("li", {},
      h("time", {}, a.StartTime ? new Date(typeof a.StartTime === "number" ? a.StartTime * 1000 : a.StartTime).toLocaleTimeString() : ""),
      h("b", {}, a.StatusCode || ""), " ", a.Description || "", a.Cause ? h("div", { class: "hint" }, "cause: ", a.Cause) : null))
      : h("li", { class: "hint" }, "no scaling activity yet")));
  if (ui.chart) { ui.chart.destroy(); ui.chart = null; }
  if (typeof Chart === "undefined" || !points.length) return;
  const t0 = points[points.length - 1].Timestamp;
  const xs = points.map((p) => Math.round(p.Timestamp - t0));
  const datasets = [
    { label: `${metric} %`, data: points.map((p) => p[metric]), borderColor: "#1565c0", yAxisID: "y", pointRadius: 0, borderWidth: 3 },
    { label: "desired count", data: points.map((p) => p.DesiredCount), borderColor: "#2e7d32", yAxisID: "n", stepped: true, pointRadius: 0, borderWidth: 2 },
  ];
  if (target) datasets.push({ label: `target ${target.value}%`, data: points.map(() => target.value), borderColor: "#c62828", borderDash: [8, 6], yAxisID: "y", pointRadius: 0, borderWidth: 2 });
  ui.chart = new Chart(canvas, {
    type: "line",
    data: { labels: xs.map((x) => `${x}s`), datasets },
    options: {
      animation: false, responsive: true, maintainAspectRatio: false,
      plugins: { legend: { labels: { font: { size: 14 } } } },
      scales: {
        y: { min: 0, suggestedMax: 100, title: { display: true, text: "utilization %" } },
        n: { position: "right", min: 0, suggestedMax: st ? st.MaxCapacity : undefined, ticks: { precision: 0 }, grid: { drawOnChartArea: false }, title: { display: true, text: "tasks" } },
      },
    },
  });
}

// -- wiring ------------------------------------------------------------------------------------

function showTab(name) {
  for (const b of document.querySelectorAll("button.tab")) b.classList.toggle("active", b.dataset.tab === name);
  for (const body of document.querySelectorAll(".tab-body")) body.hidden = body.id !== `tab-${name}`;
}

document.addEventListener("DOMContentLoaded", () => {
  for (const b of document.querySelectorAll("button.tab")) b.addEventListener("click", () => showTab(b.dataset.tab));
  document.getElementById("cluster").addEventListener("change", (e) => {
    ui.cluster = e.target.value;
    ui.selected = null;
    history.replaceState(null, "", `/ui?cluster=${encodeURIComponent(ui.cluster)}`);
    connect();
  });
  if (typeof planFormInit === "function") planFormInit();
  // Metric datapoints change nothing the stream draws, so the open service's chart polls.
  setInterval(() => {
    const sel = ui.selected;
    const s = sel && sel.kind === "service" && ui.view && ui.view.services.find((x) => x.arn === sel.arn);
    if (s) refreshScaling(s);
  }, 5000);
  connect();
});
