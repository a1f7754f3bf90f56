// The contracts the caller may see (GET /api/v1/contracts), filtered by status, department, employer and the
// severity of an open alert; the filters are kept in the address (?status=…) so a filtered list can be shared.
import './lvyue.css';
import './pages.css';

import { api, el, problemText, signIn, status, yuan } from './common.js';

const $ = (id) => document.getElementById(id);
const FILTERS = ['status', 'department', 'employer', 'severity'];
let cursor = null;

function party(c, role) {
  const p = c.parties.find((x) => x.role === role);
  return p ? `${p.name || p.org_code} (${p.org_code})` : '';
}

function row(c) {
  const a = c.open_alerts;
  return el('tr', { 'data-business-key': c.business_key, class: c.worst_severity ? `severity-${c.worst_severity}` : '' },
    el('td', {}, el('a', { href: `/contracts/${encodeURIComponent(c.business_key)}` }, c.business_key)),
    el('td', {}, c.project_name || ''),
    el('td', {}, el('span', { class: `lvyue-badge status-${c.status}` }, c.status)),
    el('td', {}, c.department ? `${c.department.name || ''} (${c.department.code})` : ''),
    el('td', {}, party(c, 'employer')), el('td', {}, party(c, 'contractor')),
    el('td', { class: 'num' }, yuan(c.contract_amount)),
    el('td', { class: 'num', 'data-open-alerts': `${a.red}/${a.orange}/${a.yellow}` }, `${a.red} / ${a.orange} / ${a.yellow}`));
}

function query() {
  const params = new URLSearchParams();
  for (const name of FILTERS) {
    const value = $(`filter-${name}`).value.trim();
    if (value) params.set(name, value);
  }
  return params;
}

async function load(more = false) {
  const params = query();
  params.set('limit', '100');
  if (more && cursor) params.set('cursor', cursor);
  const page = await api(`/contracts?${params}`);
  const rows = page.items.map(row);
  const body = $('contracts').tBodies[0];
  if (more) body.append(...rows);
  else body.replaceChildren(...(rows.length ? rows : [el('tr', {}, el('td', { colspan: 8, class: 'lvyue-muted' }, 'No contract. 无合同。'))]));
  cursor = page.next_cursor;
  $('more').hidden = !cursor;
  status(`${body.querySelectorAll('tr[data-business-key]').length} contract(s) 份合同`);
  document.body.dataset.ready = 'true';
}

async function main() {
  await signIn(() => api('/contracts?limit=1'));
  const given = new URLSearchParams(window.location.search);
  for (const name of FILTERS) if (given.get(name)) $(`filter-${name}`).value = given.get(name);
  $('filters').addEventListener('submit', (event) => {
    event.preventDefault();
    const params = query();
    window.history.replaceState(null, '', `/contracts${params.toString() ? `?${params}` : ''}`);
    document.body.dataset.ready = 'false';
    load().catch((e) => status(problemText(e), true));
  });
  $('more').addEventListener('click', () => load(true).catch((e) => status(problemText(e), true)));
  await load();
}

main().catch((e) => status(problemText(e), true));
