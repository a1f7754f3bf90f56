// The Lvyue helper: domain templates for the selected element, so a designer picks
// "PAYMENT_OVERDUE, orange, deadline rule P01" instead of typing expressions.
//  - on a user task (or its ladder): add or edit its warning ladder — one boundary timer carrying
//    lvyue:warningLadder and its steps, which the engine expands at deploy (bpmn/README.md "Warning ladders");
//  - on a timer event: set a statutory deadline from the rule registry;
//  - on a throw event: make it the warning construct (escalation code + lvyue:alert).
import { is } from 'bpmn-js/lib/util/ModelUtil';
import { el } from './common.js';

const KINDS = [['arrears', 'arrears 欠款'], ['non_performance', 'non-performance 未履约']];
const SEVERITIES = [['yellow', 'yellow 黄色 (3 days before 届满前3日)'], ['orange', 'orange 橙色 (at the deadline 届满)'],
  ['red', 'red 红色 (30 days after 逾期30日)']];
const RESPONSIBLE = [['employer', 'employer 招标人/采购人'], ['contractor', 'contractor 中标人'], ['guarantor', 'guarantor 担保人']];
const CODES = ['PAYMENT_OVERDUE', 'SIGNING_OVERDUE', 'FILING_OVERDUE', 'BID_BOND_REFUND_OVERDUE', 'GUARANTEE_RELEASE_OVERDUE',
  'RETENTION_RELEASE_OVERDUE', 'DELIVERY_LATE', 'ACCEPTANCE_OVERDUE'];
const OFFSETS = { yellow: ['before', 3], orange: ['at', 0], red: ['after', 30] };
// A ladder's steps in days from the deadline (bpmn/tools/layout.py STEP_DAYS); the orange step is the deadline.
const STEP_DAYS = { yellow: -3, orange: 0, red: 30 };
const STEP_LABEL = { yellow: '黄 −3日', orange: '橙 到期', red: '红 +30日' };
// The process field that usually holds a rule's start event (rules.json start_event → form field).
const START_FIELDS = {
  award_notice: 'award_notice_date', signing: 'signed_at', delivery: 'delivered_at', acceptance: 'accepted_at',
  completion_acceptance: 'completed_at', retention_release_request: 'requested_at', contract_change: 'changed_at',
  winner_determined: 'winner_determined_at',
};
const startField = (rule) => (rule ? START_FIELDS[rule.start_event] || `${rule.start_event}_date` : '');

let rendered = null; // the element the panel was built for

// ------------------------------------------------------------------ expressions
export function dueExpression(ruleId, start, agreed) {
  return agreed ? `deadline('${ruleId}', ${start}, ${agreed})` : `deadline('${ruleId}', ${start})`;
}

export function timerExpression(due, when, days) {
  if (when === 'before') return `before(${due}, ${days})`;
  if (when === 'after') return `after(${due}, ${days})`;
  return due;
}

function ruleOptions(rules) {
  // One entry per rule id: the version in force today (else the newest).
  const byId = new Map();
  for (const r of rules) {
    const seen = byId.get(r.id);
    if (!seen || r.in_force || (!seen.in_force && r.effective_from > seen.effective_from)) byId.set(r.id, r);
  }
  return [...byId.values()].sort((a, b) => a.id.localeCompare(b.id));
}

function unitText(rule) {
  return rule.unit === 'workdays' ? `${rule.days} working days 工作日` : `${rule.days} days 日`;
}

// ------------------------------------------------------------------ form bits
function field(label, control) {
  return el('label', { class: 'lvyue-field' }, el('span', {}, label), control);
}

function select(name, options, value, label) {
  return el('select', { name, 'aria-label': label || name },
    ...options.map(([v, text]) => el('option', { value: v, selected: v === value }, text)));
}

function ruleSelect(rules, value) {
  const options = ruleOptions(rules);
  const control = el('select', { name: 'rule', 'aria-label': 'Deadline rule' },
    ...options.map((r) => el('option', { value: r.id, selected: r.id === value },
      `${r.id} · ${r.title} · ${unitText(r)}`)));
  const basis = el('p', { class: 'lvyue-basis' });
  const show = () => {
    const rule = options.find((r) => r.id === control.value);
    basis.textContent = rule ? `${rule.legal_basis} — counted from ${rule.start_event}${rule.cap ? `, agreed at most ${rule.cap}` : ''}` : '';
  };
  control.addEventListener('change', show);
  show();
  return { control, basis, options };
}

function values(form) {
  return Object.fromEntries(new FormData(form).entries());
}

// ------------------------------------------------------------------ model changes
function services(modeler) {
  const get = (name) => modeler.get(name);
  return {
    modeling: get('modeling'), bpmnFactory: get('bpmnFactory'), elementFactory: get('elementFactory'),
    bpmnReplace: get('bpmnReplace'), moddle: get('moddle'), canvas: get('canvas'), selection: get('selection'),
  };
}

function timerDefinition(element) {
  return (element.businessObject.eventDefinitions || []).find((d) => is(d, 'bpmn:TimerEventDefinition'));
}

function timerText(element) {
  const def = timerDefinition(element);
  const expr = def && (def.timeDate || def.timeDuration || def.timeCycle);
  return expr ? expr.body : null;
}

export function setTimer(modeler, element, expression) {
  const { bpmnReplace, bpmnFactory, modeling } = services(modeler);
  let target = element;
  if (!timerDefinition(target)) {
    const type = is(target, 'bpmn:BoundaryEvent') ? 'bpmn:BoundaryEvent'
      : is(target, 'bpmn:StartEvent') ? 'bpmn:StartEvent' : 'bpmn:IntermediateCatchEvent';
    const attrs = { type, eventDefinitionType: 'bpmn:TimerEventDefinition' };
    if (type === 'bpmn:BoundaryEvent') attrs.cancelActivity = false;
    target = bpmnReplace.replaceElement(target, attrs);
  }
  const body = bpmnFactory.create('bpmn:FormalExpression', { body: expression });
  modeling.updateModdleProperties(target, timerDefinition(target), { timeDate: body, timeDuration: undefined, timeCycle: undefined });
  return target;
}

function escalationFor(modeler, code) {
  const { bpmnFactory } = services(modeler);
  const definitions = modeler.getDefinitions();
  let escalation = definitions.rootElements.find((r) => is(r, 'bpmn:Escalation') && r.escalationCode === code);
  if (!escalation) {
    const id = `esc_${code.toLowerCase()}`;
    const taken = definitions.rootElements.some((r) => r.id === id) || modeler.get('elementRegistry').get(id);
    escalation = bpmnFactory.create('bpmn:Escalation', { ...(taken ? {} : { id }), name: code, escalationCode: code });
    escalation.$parent = definitions;
    definitions.rootElements.push(escalation);
  }
  return escalation;
}

function alertOf(element) {
  const ext = element.businessObject.extensionElements;
  return ext ? (ext.values || []).find((v) => is(v, 'lvyue:Alert')) : null;
}

export function setAlert(modeler, element, a) {
  const { bpmnReplace, bpmnFactory, modeling, moddle } = services(modeler);
  let target = element;
  const escalationDef = () => (target.businessObject.eventDefinitions || []).find((d) => is(d, 'bpmn:EscalationEventDefinition'));
  if (!escalationDef()) {
    const type = is(target, 'bpmn:EndEvent') ? 'bpmn:EndEvent' : 'bpmn:IntermediateThrowEvent';
    target = bpmnReplace.replaceElement(target, { type, eventDefinitionType: 'bpmn:EscalationEventDefinition' });
  }
  modeling.updateModdleProperties(target, escalationDef(), { escalationRef: escalationFor(modeler, a.code) });
  const attrs = { kind: a.kind, severity: a.severity, responsible: a.responsible, rule: a.rule, due: a.due };
  if (a.met_date) attrs.met_date = a.met_date;
  if (a.amount) attrs.amount = a.amount;
  const alert = moddle.create('lvyue:Alert', attrs);
  const bo = target.businessObject;
  if (!bo.extensionElements) {
    const ext = bpmnFactory.create('bpmn:ExtensionElements', { values: [alert] });
    alert.$parent = ext;
    ext.$parent = bo;
    modeling.updateProperties(target, { extensionElements: ext });
  } else {
    alert.$parent = bo.extensionElements;
    const kept = (bo.extensionElements.values || []).filter((v) => !is(v, 'lvyue:Alert'));
    modeling.updateModdleProperties(target, bo.extensionElements, { values: [...kept, alert] });
  }
  if (!bo.name) {
    modeling.updateProperties(target, { name: `${a.code} – ${a.severity}` });
  }
  return target;
}

function ladderOf(element) {
  const ext = element && element.businessObject.extensionElements;
  return ext ? (ext.values || []).find((v) => is(v, 'lvyue:WarningLadder')) : null;
}

/** The ladder boundary event on `task`, if it has one (the first: the lint allows one per obligation). */
export function ladderOn(modeler, task) {
  return (task.attachers || []).find((b) => ladderOf(b)) || null;
}

/** The task's warning ladder: one non-interrupting boundary timer at `due` carrying lvyue:warningLadder with a
 *  step per severity. A task that has a ladder gets it rewritten (the same element, its id kept); one that has
 *  none gets a new one on its bottom-right corner. The engine expands it at deploy (engine/runtime/ladders.py). */
export function setLadder(modeler, task, a, severities) {
  const { modeling, elementFactory, moddle, bpmnFactory } = services(modeler);
  let boundary = ladderOn(modeler, task);
  if (!boundary) {
    boundary = modeling.createShape(
      elementFactory.createShape({ type: 'bpmn:BoundaryEvent', eventDefinitionType: 'bpmn:TimerEventDefinition', cancelActivity: false }),
      { x: task.x + task.width - 24, y: task.y + task.height }, task, { attach: true });
    const id = `${task.id}_ladder`;
    if (!modeler.get('elementRegistry').get(id)) modeling.updateProperties(boundary, { id });
  }
  boundary = setTimer(modeler, boundary, a.due);
  const attrs = { code: a.code, kind: a.kind, responsible: a.responsible, due: a.due };
  if (a.rule) attrs.rule = a.rule;
  if (a.met_date) attrs.met_date = a.met_date;
  if (a.amount) attrs.amount = a.amount;
  const ladder = moddle.create('lvyue:WarningLadder', attrs);
  ladder.steps = severities.map((severity) => {
    const step = moddle.create('lvyue:Step', STEP_DAYS[severity] ? { severity, days: String(STEP_DAYS[severity]) } : { severity });
    step.$parent = ladder;
    return step;
  });
  const bo = boundary.businessObject;
  if (!bo.extensionElements) {
    const ext = bpmnFactory.create('bpmn:ExtensionElements', { values: [ladder] });
    ladder.$parent = ext;
    ext.$parent = bo;
    modeling.updateProperties(boundary, { extensionElements: ext });
  } else {
    ladder.$parent = bo.extensionElements;
    const kept = (bo.extensionElements.values || []).filter((v) => !is(v, 'lvyue:WarningLadder'));
    modeling.updateModdleProperties(boundary, bo.extensionElements, { values: [...kept, ladder] });
  }
  modeling.updateProperties(boundary, { name: `${a.code}: ${severities.map((s) => STEP_LABEL[s]).join(' · ')}` });
  return boundary;
}

/** What the ladder on `task` holds, for the form (empty when it has none). */
function ladderValues(modeler, task) {
  const boundary = ladderOn(modeler, task);
  const ladder = boundary && ladderOf(boundary);
  if (!ladder) return { current: {}, severities: ['orange'] };
  const steps = (ladder.steps || []).map((s) => s.severity).filter((s) => s in STEP_DAYS);
  return {
    boundary,
    current: { ...parseDue(ladder.due), rule: ladder.rule || parseDue(ladder.due).rule, code: ladder.code,
      kind: ladder.kind, responsible: ladder.responsible, met_date: ladder.met_date, amount: ladder.amount },
    severities: steps.length ? steps : ['orange'],
  };
}

/** The warning construct drawn out (before ladders): per severity a non-interrupting boundary timer, an escalation
 *  throw event carrying lvyue:alert, and an end event. The helper draws ladders (setLadder); kept for diagrams
 *  edited by hand in the old form. */
export function addWarning(modeler, task, a, severities) {
  const { modeling, elementFactory } = services(modeler);
  const parent = task.parent;
  const created = [];
  severities.forEach((severity, i) => {
    const [when, days] = OFFSETS[severity];
    const x = task.x + (task.width * (i + 1)) / (severities.length + 1);
    const y = task.y + task.height;
    const boundary = modeling.createShape(
      elementFactory.createShape({ type: 'bpmn:BoundaryEvent', eventDefinitionType: 'bpmn:TimerEventDefinition', cancelActivity: false }),
      { x, y }, task, { attach: true });
    setTimer(modeler, boundary, timerExpression(a.due, when, days));
    modeling.updateProperties(boundary, { name: when === 'at' ? 'Deadline (期限届满)' : when === 'before' ? `${days} days before (届满前${days}日)` : `${days} days after (逾期${days}日)` });
    let thrown = modeling.createShape(
      elementFactory.createShape({ type: 'bpmn:IntermediateThrowEvent', eventDefinitionType: 'bpmn:EscalationEventDefinition' }),
      { x, y: y + 70 + i * 60 }, parent);
    modeling.connect(boundary, thrown);
    thrown = setAlert(modeler, thrown, { ...a, severity });
    modeling.updateProperties(thrown, { name: `${a.code} – ${severity}` });
    const end = modeling.createShape(elementFactory.createShape({ type: 'bpmn:EndEvent' }), { x: task.x + task.width + 90, y: y + 70 + i * 60 }, parent);
    modeling.updateProperties(end, { name: 'Warned (已预警)' });
    modeling.connect(thrown, end);
    created.push(boundary.id, thrown.id);
  });
  return created;
}

// ------------------------------------------------------------------ the panel
function deadlineInputs(rules, current) {
  const rule = ruleSelect(rules, current.rule);
  const first = rule.options.find((r) => r.id === rule.control.value);
  const start = el('input', { name: 'start', value: current.start || startField(first), 'aria-label': 'Start date field', required: true, pattern: '[A-Za-z_][A-Za-z0-9_.]*' });
  rule.control.addEventListener('change', () => {
    const r = rule.options.find((x) => x.id === rule.control.value);
    if (r) start.value = startField(r);
  });
  const agreed = el('input', { name: 'agreed', type: 'number', min: '1', 'aria-label': 'Agreed days', placeholder: 'statutory 法定' });
  return [field('Deadline rule 期限规则', rule.control), rule.basis,
    field('Counted from (field) 起算日期字段', start), field('Agreed days (optional) 约定天数', agreed)];
}

function alertInputs(current) {
  const code = el('input', { name: 'code', list: 'lvyue-codes', value: current.code || 'PAYMENT_OVERDUE', 'aria-label': 'Alert code', required: true, pattern: '[A-Z][A-Z0-9_]*' });
  const codes = el('datalist', { id: 'lvyue-codes' }, ...CODES.map((c) => el('option', { value: c })));
  return [
    field('Alert code 预警代码', code), codes,
    field('Kind 类型', select('kind', KINDS, current.kind || 'arrears', 'Alert kind')),
    field('Responsible 责任方', select('responsible', RESPONSIBLE, current.responsible || 'employer', 'Responsible role')),
    field('Met when (task field) 履行日期字段', el('input', { name: 'met_date', value: current.met_date || 'paid_at', 'aria-label': 'Met date field' })),
    field('Amount overdue (arrears) 欠款金额', el('input', { name: 'amount', value: current.amount || '', 'aria-label': 'Amount expression', placeholder: 'amount' })),
  ];
}

function parseDue(due) {
  const m = /deadline\('([^']+)',\s*([A-Za-z_][\w.]*)(?:,\s*(\d+))?\)/.exec(due || '');
  return m ? { rule: m[1], start: m[2], agreed: m[3] } : {};
}

function describe(element) {
  const bo = element.businessObject;
  return `${element.type.replace('bpmn:', '')} ${element.id}${bo.name ? ` “${bo.name}”` : ''}`;
}

export function renderHelper(modeler, state, element, soft = false) {
  const body = document.getElementById('helper-body');
  if (soft && element === rendered && element) {
    const now = body.querySelector('[data-current]');
    if (now) now.textContent = currentText(element);
    return;
  }
  rendered = element;
  if (!element || element.labelTarget) {
    body.replaceChildren(el('p', { class: 'lvyue-muted' },
      'Select a user task (add a warning), a timer event (statutory deadline) or a throw event (warning). 请选择用户任务、定时事件或抛出事件。'));
    return;
  }
  const report = el('p', { class: 'lvyue-muted', role: 'status' });
  const done = (text) => { report.textContent = text; };
  const rules = state.rules || [];

  const ladderHost = is(element, 'bpmn:UserTask') || is(element, 'bpmn:ManualTask') ? element
    : is(element, 'bpmn:BoundaryEvent') && ladderOf(element) ? element.host : null;
  if (ladderHost) {
    const task = ladderHost;
    const { boundary, current, severities: held } = ladderValues(modeler, task);
    const form = el('form', { class: 'lvyue-form', 'aria-label': 'Add a warning' },
      el('p', {}, boundary
        ? `Warning ladder ${boundary.id} on ${describe(task)}: editing it rewrites the ladder. 编辑预警阶梯。`
        : `Warning on ${describe(task)}: the obligation is met when this task completes. 完成此任务即履行义务。`),
      ...alertInputs(current), ...deadlineInputs(rules, current),
      el('fieldset', {}, el('legend', {}, 'Steps 预警级别'),
        ...SEVERITIES.map(([v, text]) => el('label', { class: 'lvyue-check' },
          el('input', { type: 'checkbox', name: `sev_${v}`, checked: held.includes(v) }), ` ${text}`))),
      el('button', { type: 'submit' }, boundary ? 'Update warning ' : 'Add warning ',
        el('span', { lang: 'zh-CN', 'aria-hidden': 'true' }, boundary ? '更新预警' : '添加预警')), report);
    if (current.agreed) form.querySelector('[name=agreed]').value = current.agreed;
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const v = values(form);
      const severities = SEVERITIES.map(([s]) => s).filter((s) => v[`sev_${s}`]);
      if (!severities.length) { done('Pick at least one severity. 请选择预警级别。'); return; }
      const due = dueExpression(v.rule, v.start, v.agreed);
      const ladder = setLadder(modeler, task, { ...v, due }, severities);
      done(`Warning ladder ${ladder.id} on ${task.id} (${severities.join(', ')}): due = ${due}. 已设置。`);
    });
    body.replaceChildren(form);
    return;
  }

  if (['bpmn:BoundaryEvent', 'bpmn:IntermediateCatchEvent', 'bpmn:StartEvent'].includes(element.type)) {
    const current = parseDue(timerText(element));
    const when = el('select', { name: 'when', 'aria-label': 'When' },
      el('option', { value: 'at' }, 'at the deadline 届满时'), el('option', { value: 'before' }, 'days before 届满前'),
      el('option', { value: 'after' }, 'days after 逾期后'));
    const form = el('form', { class: 'lvyue-form', 'aria-label': 'Statutory deadline' },
      el('p', {}, `Statutory deadline of ${describe(element)} 法定期限`),
      el('p', { class: 'lvyue-current-expr' }, 'Now 当前: ', el('code', { 'data-current': '' }, currentText(element))),
      ...deadlineInputs(rules, current),
      field('When 时点', when), field('Days 天数', el('input', { name: 'days', type: 'number', min: '1', value: '3', 'aria-label': 'Days' })),
      el('button', { type: 'submit' }, 'Apply deadline ', el('span', { lang: 'zh-CN', 'aria-hidden': 'true' }, '应用期限')), report);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const v = values(form);
      const expression = timerExpression(dueExpression(v.rule, v.start, v.agreed), v.when, v.days);
      const target = setTimer(modeler, element, expression);
      done(`Timer set: ${expression}`);
      if (target !== element) services(modeler).selection.select(target);
    });
    body.replaceChildren(form);
    return;
  }

  if (is(element, 'bpmn:IntermediateThrowEvent') || is(element, 'bpmn:EndEvent')) {
    const existing = alertOf(element) || {};
    const def = (element.businessObject.eventDefinitions || []).find((d) => is(d, 'bpmn:EscalationEventDefinition'));
    const current = { ...parseDue(existing.due), kind: existing.kind, responsible: existing.responsible,
      met_date: existing.met_date, amount: existing.amount, code: def && def.escalationRef ? def.escalationRef.escalationCode : undefined };
    const form = el('form', { class: 'lvyue-form', 'aria-label': 'Warning construct' },
      el('p', {}, `Warning construct on ${describe(element)} 预警`),
      ...alertInputs(current),
      field('Severity 级别', select('severity', SEVERITIES, existing.severity || 'orange', 'Severity')),
      ...deadlineInputs(rules, current),
      el('button', { type: 'submit' }, 'Apply warning ', el('span', { lang: 'zh-CN', 'aria-hidden': 'true' }, '应用预警')), report);
    form.addEventListener('submit', (event) => {
      event.preventDefault();
      const v = values(form);
      const due = dueExpression(v.rule, v.start, v.agreed);
      const target = setAlert(modeler, element, { ...v, due });
      done(`Warning ${v.code} (${v.severity}, rule ${v.rule}) set: due = ${due}`);
      if (target !== element) services(modeler).selection.select(target);
    });
    body.replaceChildren(form);
    return;
  }

  body.replaceChildren(el('p', { class: 'lvyue-muted' }, `${describe(element)}: no Lvyue template for this element. 此元素无模板。`));
}

function currentText(element) {
  return timerText(element) || '—';
}
