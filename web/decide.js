// A supervisor's finding on a red alert, from any page: a note, then Confirm (a breach: a credit record and a lead
// are written) or Dismiss, through POST /api/v1/alerts/{id}/confirm. An alert is decided once; a second attempt
// is the API's 409, shown in place of the buttons.
import { api, ApiError, el, problemText, status } from './common.js';

export function decisionText(d) {
  return d ? `${d.decision === 'confirmed' ? '已认定 confirmed' : '已排除 dismissed'} · ${d.by}${d.note ? ` · ${d.note}` : ''}` : '';
}

export function decide(alert, cellNode) {
  const note = el('input', { type: 'text', maxlength: 4000, placeholder: 'Note 处理意见', 'aria-label': `Note on ${alert.code}` });
  const act = (decision) => async () => {
    try {
      const out = await api(`/alerts/${encodeURIComponent(alert.id)}/confirm`, { method: 'POST', json: { decision, note: note.value.trim() || null } });
      cellNode.replaceChildren(el('span', { class: 'lvyue-decision' }, decisionText({ decision: out.decision.decision,
        by: out.decision.decided_by, note: out.decision.note })));
      status(`${alert.code}: ${decision}. 已处理。`);
    } catch (e) {
      if (e instanceof ApiError && e.status === 409) cellNode.replaceChildren(el('span', { class: 'lvyue-decision' }, problemText(e)));
      else status(problemText(e), true);
    }
  };
  return el('div', { class: 'lvyue-decide' }, note,
    el('button', { type: 'button', class: 'primary', onclick: act('confirmed') }, 'Confirm 认定'),
    el('button', { type: 'button', onclick: act('dismissed') }, 'Dismiss 排除'));
}

