/* The plan view: one service change (desired count, revision, strategy) sent as a dry run to
   POST /ui/api/services/{name}/plan twice, once per scheduler profile, and the two answers drawn
   side by side as zones and instances with the tasks each would start and stop. Nothing changes.
   `planMoves` is the only code that knows the plan's JSON shape. */
"use strict";

/* What a plan would start and stop, over all its steps: {starts: [{instanceArn, zone, reason}],
   stops: [{taskArn, instanceArn}], steps, unplaced, failure}. Reads the step-by-step shape
   (`steps: [{starts: [...], stops: [...]}]`), the single-step one (`placements`, `stops`), or
   steps that are actions ({action: "StartTask", containerInstanceArn} / {action: "StopTask",
   taskArn}), whichever is there, and skips what it does not know. */
function planMoves(plan) {
  const p = plan || {};
  const starts = [];
  const stops = [];
  const start = (s) => {
    const at = s && (s.containerInstanceArn || (s.placement || {}).containerInstanceArn);
    if (at) starts.push({ instanceArn: at, zone: s.availabilityZone, reason: s.reason, taskArn: s.taskArn });
  };
  const stop = (s) => {
    if (typeof s === "string") stops.push({ taskArn: s });
    else if (s && s.taskArn) stops.push({ taskArn: s.taskArn, instanceArn: s.containerInstanceArn });
  };
  (Array.isArray(p.placements) ? p.placements : []).forEach(start);
  (Array.isArray(p.stops) ? p.stops : []).forEach(stop);
  const steps = Array.isArray(p.steps) ? p.steps : [];
  for (const step of steps) {
    if (!step || typeof step !== "object") continue;
    (Array.isArray(step.starts) ? step.starts : []).forEach(start);
    (Array.isArray(step.stops) ? step.stops : []).forEach(stop);
    const kind = String(step.action || step.type || step.kind || "");
    if (kind && /stop/i.test(kind)) stop(step);
    else if (kind) start(step);
  }
  // Steps that only say something (an event) are no moves.
  const moving = steps.filter((st) => st && ((st.starts || []).length || (st.stops || []).length || st.action)).length;
  return { starts, stops, steps: moving, unplaced: p.unplaced || 0, failure: p.failure || null };
}

function planSide(title, subtitle, plan, error) {
  const side = h("section", { class: "plan-side" }, h("h2", {}, title), h("p", { class: "hint" }, subtitle));
  if (error) {
    side.append(h("p", { class: "plan-failure" }, error));
    return side;
  }
  const moves = planMoves(plan);
  const v = ui.view;
  const started = {};
  for (const s of moves.starts) started[s.instanceArn] = (started[s.instanceArn] || 0) + 1;
  const stoppedOn = {};
  for (const s of moves.stops) {
    const t = v.tasks.find((x) => x.arn === s.taskArn);
    const at = s.instanceArn || (t && t.containerInstanceArn);
    if (at) stoppedOn[at] = (stoppedOn[at] || 0) + 1;
  }
  side.append(h("p", {}, `${moves.starts.length} to start, ${moves.stops.length} to stop`,
    moves.steps > 1 ? ` in ${moves.steps} steps` : "",
    plan.newDeployment ? " (a new deployment: every task is replaced)" : "",
    plan.desiredCount !== undefined ? ` · desired ${plan.desiredCount}` : ""));
  if (moves.failure || moves.unplaced) side.append(h("p", { class: "plan-failure" }, `${moves.unplaced} unplaced. ${moves.failure || ""}`));
  const box = (i) => {
    const plus = started[i.arn] || 0;
    const minus = stoppedOn[i.arn] || 0;
    const now = v.tasks.filter((t) => t.containerInstanceArn === i.arn && t.service === plan.service && t.desiredStatus === "RUNNING").length;
    return h("div", { class: "plan-instance", "data-plan-instance-arn": i.arn, "data-plan-starts": plus, "data-plan-stops": minus },
      h("div", {}, h("b", {}, i.name || shortId(i.id)), " ", h("span", { class: "hint" }, i.instanceType)),
      h("div", { class: "count" }, `+${plus}`, minus ? ` −${minus}` : "", h("span", { class: "hint now" }, ` (${now} now)`)),
      h("div", {},
        Array.from({ length: plus }, () => h("span", { class: "new", title: "a task would start here" })),
        Array.from({ length: minus }, () => h("span", { class: "stop", title: "a task would stop here" }))));
  };
  side.append(h("div", { class: "plan-zones" },
    v.zones.map((zone) => h("div", { class: "zone" }, h("h3", {}, zone), v.instances.filter((i) => i.zone === zone).map(box)))));
  return side;
}

function planRequest(form) {
  const body = {};
  const desired = form.desiredCount.value.trim();
  if (desired !== "") body.desiredCount = Number(desired);
  if (form.taskDefinition.value) body.taskDefinition = form.taskDefinition.value;
  if (form.strategy.value) {
    body.placementStrategy = form.strategy.value.split(",").map((s) => {
      const [type, ...field] = s.split(":");
      return field.length ? { type, field: field.join(":") } : { type };
    });
  }
  return body;
}

async function runPlan(form) {
  const name = form.service.value;
  const body = planRequest(form);
  const result = document.getElementById("plan-result");
  result.replaceChildren(h("p", { class: "hint" }, "Planning…"));
  const ask = (profile) => api(`/services/${encodeURIComponent(name)}/plan`, {
    method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ ...body, schedulerProfile: profile }),
  }).then((plan) => ({ plan }), (err) => ({ error: err.message }));
  const [ecs, kube] = await Promise.all([ask("ecs"), ask("kubernetes")]);
  const strategy = (body.placementStrategy || []).map((s) => s.field ? `${s.type}(${s.field})` : s.type).join(", ") || "the service's strategy";
  result.replaceChildren(
    h("div", { class: "plan-col", "data-plan-profile": "ecs" }, planSide("ECS", `placementStrategy: ${strategy}`, ecs.plan, ecs.error)),
    h("div", { class: "plan-col", "data-plan-profile": "kubernetes" }, planSide("Kubernetes profile", "kube-scheduler: zone topology spread (maxSkew 1), then LeastAllocated + BalancedAllocation", kube.plan, kube.error)));
  for (const col of result.children) col.style.flex = "1";
  result.dataset.planFor = JSON.stringify({ service: name, ...body });
}

let planFor = null; // "service@revision" the form's defaults were filled for

function planFormInit() {
  const form = document.getElementById("plan-form");
  form.addEventListener("submit", (e) => { e.preventDefault(); runPlan(form); });
  form.service.addEventListener("change", () => planServiceChanged(form));
}

function planServiceChanged(form) {
  const s = ui.view && ui.view.services.find((x) => x.name === form.service.value);
  planFor = s ? `${s.name}@${s.taskDefinition}` : null;
  if (!s) return;
  form.desiredCount.value = s.desiredCount;
  // At once, so no revision of the service picked before can ride along with this one's plan.
  const current = () => h("option", { value: "" }, `(current: ${s.taskDefinition})`);
  form.taskDefinition.replaceChildren(current());
  const family = s.taskDefinition.split(":")[0];
  api(`/task-definitions?family=${encodeURIComponent(family)}`).then((r) => {
    const refs = r.taskDefinitionArns.map((a) => a.split("/").pop());
    form.taskDefinition.replaceChildren(current(),
      ...refs.filter((ref) => ref !== s.taskDefinition).map((ref) => h("option", { value: ref }, ref)));
  }).catch(() => {});
}

function planFormRefresh(v) {
  const form = document.getElementById("plan-form");
  const names = v.services.filter((s) => s.status === "ACTIVE").map((s) => s.name);
  const have = [...form.service.options].map((o) => o.value);
  if (have.join("\n") !== names.join("\n")) {
    const keep = form.service.value;
    form.service.replaceChildren(...names.map((n) => h("option", { value: n }, n)));
    if (names.includes(keep)) form.service.value = keep;
  }
  const s = v.services.find((x) => x.name === form.service.value);
  // A new revision (a rollout) changes what "current" means: fill the defaults again.
  if (s && `${s.name}@${s.taskDefinition}` !== planFor) planServiceChanged(form);
}

/* From a task's panel: the plan tab, filled for one more task of its service, and run. */
function planOneMore(name) {
  const form = document.getElementById("plan-form");
  const s = ui.view.services.find((x) => x.name === name);
  if (!s) return;
  showTab("plan");
  form.service.value = name;
  planServiceChanged(form);
  form.desiredCount.value = s.desiredCount + 1;
  runPlan(form);
}
