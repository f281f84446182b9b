// The server's entry error pages (body.entry-error with data-code and data-message): tell an
// embedding page what went wrong with the contract's `error` event, and show the reader's
// language first.
import { emit } from './events.js';

const body = document.body;
if (body && body.classList.contains('entry-error')) {
  emit('error', { code: body.dataset.code || 'error', message: body.dataset.message || '' });
  const preferred = (navigator.language || 'en').toLowerCase().startsWith('de') ? 'de' : 'en';
  const first = document.querySelector(`main > section[lang="${preferred}"]`);
  if (first && first.parentElement.firstElementChild !== first) {
    first.parentElement.insertBefore(first, first.parentElement.firstElementChild);
    document.documentElement.lang = preferred;
    // The title follows: the language shown first, then the other.
    const titles = [...document.querySelectorAll('main > section[lang] h1')].map((h1) => h1.textContent.trim());
    if (titles.length) document.title = titles.join(' / ');
    // "Error code / Fehlercode" in the same order.
    const label = document.querySelector('.error-code-label');
    const mine = label?.querySelector(`span[lang="${preferred}"]`);
    const other = label?.querySelector(`span:not([lang="${preferred}"])`);
    if (mine && other) label.replaceChildren(mine, ' / ', other);
  }
}
