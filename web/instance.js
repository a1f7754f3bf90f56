// The live view of one contract: its diagram (bpmn-js NavigatedViewer) with completed and active
// elements marked, and its open tasks, timers and alerts with their due instants.
import 'bpmn-js/dist/assets/diagram-js.css';
import 'bpmn-js/dist/assets/bpmn-js.css';
import 'bpmn-js/dist/assets/bpmn-font/css/bpmn-embedded.css';
import './lvyue.css';

import NavigatedViewer from 'bpmn-js/lib/NavigatedViewer';

import lvyueModdle from './lvyue-moddle.json';
import { drawable } from './layout.js';
import { api, chinaTime, codeLabel, codeNames, deadline, el, problemText, signIn, status, yuan } from './common.js';

const $ = (id) => document.getElementById(id);
const instanceId = $('instance-root').dataset.instanceId;
const viewer = new NavigatedViewer({ container: '#canvas', moddleExtensions: { lvyue: lvyueModdle } });
window.lvyueViewer = viewer;

const SEVERITY = { yellow: '黄色 yellow', orange: '橙色 orange', red: '红色 red' };
let marked = [];

function focus(elementId) {
  const shape = viewer.get('elementRegistry').get(elementId);
  if (shape) {
    viewer.get('canvas').scrollToElement(shape);
    viewer.get('canvas').addMarker(shape.id, 'lvyue-focus');
    setTimeout(() => viewer.get('canvas').removeMarker(shape.id, 'lvyue-focus'), 1500);
  }
}

function itemButton(elementId, label) {
  return el('button', { type: 'button', class: 'lvyue-link', onclick: () => focus(elementId) }, label);
}

function render(instance, diagram, firstTime) {
  const canvas = viewer.get('canvas');
  const registry = viewer.get('elementRegistry');
  for (const [id, cls] of marked) canvas.removeMarker(id, cls);
  marked = [];
  const mark = (ids, cls) => ids.forEach((id) => {
    if (registry.get(id)) { canvas.addMarker(id, cls); marked.push([id, cls]); }
  });
  mark(diagram.completed, 'lvyue-completed');
  mark(diagram.active, 'lvyue-active');
  if (firstTime) canvas.zoom('fit-viewport', 'auto');

  $('business-key').textContent = instance.business_key;
  document.title = `${instance.business_key} · Lvyue 履约`;
  const row = (term, value) => [el('dt', {}, term), el('dd', {}, value)];
  $('summary').replaceChildren(
    ...row('Status 状态', el('span', { class: `lvyue-badge status-${instance.status}`, 'data-status': instance.status }, instance.status)),
    ...row('Definition 流程', `${instance.definition.key} v${instance.definition.version}`),
    ...row('Parties 当事人', Object.entries(instance.roles || {}).map(([r, c]) => `${r}: ${c}`).join(' · ')),
    ...row('Updated 更新', chinaTime(instance.updated_at)),
  );
  $('tasks').replaceChildren(...(instance.tasks.length ? instance.tasks.map((t) => el('li', { 'data-element-id': t.element_id },
    itemButton(t.element_id, t.name || t.element_id), ` · ${t.lane || ''}`,
    t.due_at ? el('span', { class: 'lvyue-due' }, ' · last day 最后期限 ', deadline(t.due_at)) : null))
    : [el('li', { class: 'lvyue-muted' }, 'none 无')]));
  const timers = instance.timers.filter((t) => ['waiting', 'leased'].includes(t.status));
  $('timers').replaceChildren(...(timers.length ? timers.map((t) => el('li', { 'data-element-id': t.element_id },
    // A warning ladder's step timer (filing_timer_orange) is drawn as the ladder (filing): focus that.
    itemButton((diagram.drawn || {})[t.element_id] || t.element_id, t.element_id), ' · due 到期 ', chinaTime(t.due_at),
    ` · ${t.status}`))
    : [el('li', { class: 'lvyue-muted' }, 'none waiting 无')]));
  const alerts = instance.alerts.filter((a) => a.status !== 'resolved');
  $('alerts').replaceChildren(...(alerts.length ? alerts.map((a) => el('li', { class: `lvyue-alert severity-${a.severity}`, 'data-alert-id': a.id },
    codeLabel(a.code, codeNames(diagram.xml)), ` · ${SEVERITY[a.severity] || a.severity} · ${a.status} · last day 最后期限 `,
    deadline(a.due_at),
    a.days_overdue ? ` · ${a.days_overdue} days overdue 逾期${a.days_overdue}日` : '',
    a.amount_overdue ? ` · ${yuan(a.amount_overdue)}` : '',
    a.legal_basis ? el('div', { class: 'lvyue-basis' }, a.legal_basis) : null))
    : [el('li', { class: 'lvyue-muted' }, 'no open alerts 无未处理预警')]));
}

let shownXml = null;


/** The award this contract started from (an imported OCDS award) and its tender's risk indicators, for the
 * callers the award API serves (operators, supervisors, admins); for anyone else the section stays hidden. */
async function loadAward() {
  let award = null;
  try {
    const [found] = (await api(`/awards?instance_id=${encodeURIComponent(instanceId)}`)).items;
    if (found) award = await api(`/awards/${encodeURIComponent(found.id)}`);
  } catch (e) {
    if (!(e.status === 403 || e.status === 404)) throw e;
  }
  $('award-section').hidden = !award;
  if (!award) return;
  const check = award.contract && award.contract.signed_vs_award;
  $('award').replaceChildren(`${award.ocid} · ${award.award_id} · ${yuan(award.amount)} · ${award.date || ''}`,
    check ? el('span', { id: 'signed-vs-award', class: check.matches ? '' : 'lvyue-error' },
      ` · signed 签约 ${yuan(check.signed)} (${check.matches ? 'matches the award 与中标一致' : `differs by 差额 ${yuan(check.difference)}`})`) : '');
  $('risk').replaceChildren(...(award.risk.length ? award.risk.map((h) => el('li', { class: 'lvyue-alert', 'data-indicator': h.indicator },
    el('strong', {}, h.indicator), ` · ${h.title} · ${h.ocids.join(', ')}`, el('div', { class: 'lvyue-basis' }, h.legal_basis)))
    : [el('li', { class: 'lvyue-muted' }, 'no indicator flags its tender 无风险指标')]));
}

async function load() {
  const [instance, diagram] = await Promise.all([
    api(`/instances/${encodeURIComponent(instanceId)}`),
    api(`/instances/${encodeURIComponent(instanceId)}/diagram`),
  ]);
  const firstTime = shownXml !== diagram.xml;
  if (firstTime) {
    const shown = await drawable(diagram.xml); // a diagram deployed without DI is laid out here (web/layout.js)
    await viewer.importXML(shown.xml);
    document.body.dataset.laidOut = String(shown.laidOut);
    shownXml = diagram.xml;
  }
  render(instance, diagram, firstTime);
  await loadAward();
  status(`Loaded ${new Date().toLocaleTimeString('zh-CN', { hour12: false })}. 已加载。`);
  document.body.dataset.ready = 'true';
}

async function main() {
  await signIn(() => api(`/instances/${encodeURIComponent(instanceId)}`));
  await load();
  $('refresh').addEventListener('click', () => load().catch((e) => status(problemText(e), true)));
}

main().catch((e) => status(problemText(e), true));
