// One contract: its ledger (GET /api/v1/contracts/{key}), the documents' hashes and the timeline (the audit trail,
// GET /api/v1/instances/{id}/history), open and resolved alerts (GET /api/v1/alerts?business_key=) named as the
// diagram names them; a supervisor confirms or dismisses a red alert with a note (POST /api/v1/alerts/{id}/confirm).
import './lvyue.css';
import './pages.css';

import { api, chinaTime, codeLabel, codeNames, deadline, el, me, problemText, signIn, status, yuan } from './common.js';
import { decide, decisionText } from './decide.js';

const $ = (id) => document.getElementById(id);
const businessKey = $('contract-key').dataset.businessKey;
const SEVERITY = { yellow: '黄色 yellow', orange: '橙色 orange', red: '红色 red' };
const KIND = { milestone: '节点款 milestone', advance: '预付款 advance', progress: '进度款 progress', settlement: '结算款 settlement' };
let names = {};
let who = null;

const cell = (content, cls) => el('td', { class: cls }, content);
const empty = (cols, text) => el('tr', {}, el('td', { colspan: cols, class: 'lvyue-muted' }, text));

function renderSummary(ledger) {
  const row = (term, value) => [el('dt', {}, term), el('dd', {}, value)];
  const a = ledger.amounts;
  $('summary').replaceChildren(
    ...row('Project 项目', `${ledger.project_name || ''}${ledger.project_code ? ` (${ledger.project_code})` : ''}`),
    ...row('Status 状态', el('span', { class: `lvyue-badge status-${ledger.status}`, id: 'contract-status' }, ledger.status)),
    ...row('Track · category 类型', [ledger.track, ledger.category, ledger.funding_source].filter(Boolean).join(' · ')),
    ...row('Department 监管部门', ledger.department ? `${ledger.department.name} (${ledger.department.code})` : ''),
    ...row('Parties 当事人', ledger.parties.map((p) => `${p.role}: ${p.name || p.org_code} (${p.org_code})`).join(' · ')),
    ...row('Award notice 中标通知', ledger.dates.award_notice_date || ''),
    ...row('Signed · filed 签订 · 备案', [ledger.dates.signed_at, ledger.dates.filed_at].map((d) => d || '—').join(' · ')),
    ...row('Contract amount 合同金额', el('span', { class: 'num', id: 'amount-contract' }, yuan(a.contract_amount))),
    ...row('Signed amount 签约金额', yuan(a.signed_amount)),
    ...row('Invoiced 已开票', yuan(a.invoiced)),
    ...row('Paid 已付', el('span', { id: 'amount-paid' }, yuan(a.paid))),
    ...row('Arrears 欠款', el('strong', { id: 'arrears' }, yuan(ledger.arrears_amount) || yuan('0'))),
    ...(ledger.interest_accrued ? row('Late-payment interest 逾期利息', yuan(ledger.interest_accrued)) : []),
  );
}

function renderMoney(ledger) {
  $('milestones').tBodies[0].replaceChildren(...(ledger.milestones.length ? ledger.milestones.map((m) => el('tr', { 'data-no': m.no },
    cell(m.no, 'num'), cell(m.name || ''), cell(yuan(m.amount), 'num'), cell(m.planned_date || ''), cell(m.delivered_at || ''),
    cell(m.accepted_at || ''), cell(deadline(m.payment_due_at)), cell(yuan(m.paid_amount), 'num'),
    cell(yuan(m.outstanding), 'num'), cell(m.status))) : [empty(10, 'No milestone. 无履约节点。')]));
  const works = ledger.works;
  $('works').hidden = !works;
  if (works) {
    const entries = [works.advance, ...(works.applications || []), works.settlement].filter(Boolean);
    $('works-table').tBodies[0].replaceChildren(...entries.map((w) => el('tr', { 'data-kind': w.kind },
      cell(KIND[w.kind] || w.kind), cell(w.period || ''), cell(w.applied_at || ''), cell(yuan(w.amount), 'num'),
      cell(w.review_last_day ? `${w.review_last_day} (${w.review_rule || ''})` : ''),
      cell(w.confirmed_amount ? `${yuan(w.confirmed_amount)}${w.deemed ? ' deemed 视为确认' : ''}` : ''),
      cell(yuan(w.payable), 'num'), cell(yuan(w.paid), 'num'), cell(yuan(w.outstanding), 'num'), cell(w.payment_last_day || ''))));
  }
  $('payments').tBodies[0].replaceChildren(...(ledger.payments.length ? ledger.payments.map((p) => el('tr', { 'data-kind': p.kind },
    cell(KIND[p.kind] || p.kind), cell(p.milestone_no ?? ''), cell(p.paid_at), cell(yuan(p.amount), 'num'), cell(p.voucher_no || ''),
    cell(`${p.payer || ''} → ${p.payee || ''}${p.overpayment ? ` · overpaid 超付: ${p.overpayment_reason || ''}` : ''}`)))
    : [empty(6, 'No payment. 暂无付款。')]));
  $('invoices').tBodies[0].replaceChildren(...(ledger.invoices.length ? ledger.invoices.map((i) => el('tr', {},
    cell(i.invoice_no || ''), cell(i.milestone_no ?? ''), cell(i.issued_at || ''), cell(yuan(i.amount), 'num')))
    : [empty(4, 'No invoice. 暂无发票。')]));
  $('guarantees').replaceChildren(...(ledger.guarantees.length ? ledger.guarantees.map((g) => el('li', {},
    `${g.kind || ''} · ${g.form || ''} · ${yuan(g.amount)} · ${g.status || ''}`))
    : [el('li', { class: 'lvyue-muted' }, 'none 无')]));
}

function renderDocuments(instance, history) {
  const docs = new Map();
  for (const [key, value] of Object.entries(instance.data || {})) {
    if (/sha256/.test(key) && typeof value === 'string') docs.set(key, value);
  }
  for (const event of history) {
    for (const [key, value] of Object.entries(event.data || {})) {
      if (/sha256/.test(key) && typeof value === 'string') docs.set(`${event.element_id || event.action} · ${key}`, value);
    }
  }
  $('documents').tBodies[0].replaceChildren(...(docs.size ? [...docs].map(([what, hash]) => el('tr', {},
    cell(what), cell(el('span', { class: 'lvyue-hash' }, hash)))) : [empty(2, 'No document hash recorded. 暂无文件哈希。')]));
}

function renderTimeline(history) {
  $('timeline').replaceChildren(...history.map((e) => el('li', { 'data-seq': e.seq, 'data-action': e.action },
    chinaTime(e.at), ' · ', el('strong', {}, e.action), e.element_id ? ` · ${e.element_id}` : '', ` · ${e.actor}`)));
}

function decisionsOf(history) {
  const out = {};
  for (const e of history) {
    if ((e.action === 'alert_confirmed' || e.action === 'alert_dismissed') && e.data && e.data.alert_id) {
      out[e.data.alert_id] = { decision: e.action.slice(6), by: e.actor, at: e.at, note: e.data.note };
    }
  }
  return out;
}

function renderAlerts(items, decisions) {
  const mayDecide = who && ['supervisor', 'admin'].includes(who.role);
  const open = items.filter((a) => a.status !== 'resolved');
  const resolved = items.filter((a) => a.status === 'resolved');
  const label = (a) => el('span', {}, codeLabel(a.code, names), a.kind === 'arrears' ? ' · 欠款 arrears' : '');
  $('open-alerts').tBodies[0].replaceChildren(...(open.length ? open.map((a) => {
    const action = el('td', { class: 'lvyue-action' });
    if (decisions[a.id]) action.append(decisionText(decisions[a.id]));
    else if (mayDecide && a.severity === 'red' && (who.role === 'admin' || who.departments.includes(a.department))) action.append(decide(a, action));
    return el('tr', { class: `severity-${a.severity}`, 'data-alert-id': a.id, 'data-code': a.code },
      cell(SEVERITY[a.severity]), cell(label(a)), cell(a.responsible_org || ''), cell(deadline(a.due_at)),
      cell(a.days_overdue, 'num'), cell(yuan(a.amount_overdue), 'num'), cell(el('span', { class: 'lvyue-basis' }, a.legal_basis || '')), action);
  }) : [empty(8, 'No open alert. 无未解除预警。')]));
  $('resolved-alerts').tBodies[0].replaceChildren(...(resolved.length ? resolved.map((a) => el('tr',
    { class: `severity-${a.severity}`, 'data-alert-id': a.id, 'data-code': a.code },
    cell(SEVERITY[a.severity]), cell(label(a)), cell(a.responsible_org || ''), cell(deadline(a.due_at)),
    cell(chinaTime(a.resolved_at)), cell(a.resolution || ''), cell(decisionText(decisions[a.id]))))
    : [empty(7, 'No resolved alert. 无已解除预警。')]));
}

async function all(path) {
  const out = [];
  let cursor = null;
  do {
    const page = await api(`${path}${path.includes('?') ? '&' : '?'}limit=500${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    out.push(...page.items);
    cursor = page.next_cursor;
  } while (cursor && out.length < 5000);
  return out;
}

async function load() {
  const ledger = await api(`/contracts/${encodeURIComponent(businessKey)}`);
  $('view-link').href = `/instances/${encodeURIComponent(ledger.instance_id)}/view`;
  renderSummary(ledger);
  renderMoney(ledger);
  const [instance, history, alerts, diagram] = await Promise.all([
    api(`/instances/${encodeURIComponent(ledger.instance_id)}`), all(`/instances/${encodeURIComponent(ledger.instance_id)}/history`),
    all(`/alerts?business_key=${encodeURIComponent(businessKey)}`),
    api(`/instances/${encodeURIComponent(ledger.instance_id)}/diagram`).catch(() => null)]);
  names = codeNames(diagram && diagram.xml);
  renderDocuments(instance, history);
  renderTimeline(history);
  renderAlerts(alerts, decisionsOf(history));
  status('');
  document.body.dataset.ready = 'true';
}

async function main() {
  await signIn(() => api(`/contracts/${encodeURIComponent(businessKey)}`));
  who = await me();
  await load();
}

main().catch((e) => status(problemText(e), true));
