// /demo/embed: a call in an iframe, and every event it posts to this page listed as it arrives.
// An integrator's starting point; see docs/video.md.

const texts = {
  de: {
    subtitle: 'Einbettungs-Demo',
    language: 'Sprache',
    'intro.title': 'Eine Videosprechstunde in die eigene Seite einbetten',
    'intro.text1': 'Diese Seite zeigt, wie ein Integrator Sprechstunde in ein iframe setzt und dessen Ereignisse empfängt.',
    'intro.text2': 'Fügen Sie einen Zugangslink ein (zum Beispiel /video/12?tan=… oder /video/login?tan=…). Die Sprechstunde öffnet sich hier in einem iframe, und jedes Ereignis, das sie an diese Seite sendet, wird beim Eintreffen aufgelistet.',
    'form.label': 'Zugangslink',
    'form.open': 'Im iframe öffnen',
    'form.hint': 'Nur Links zu den /video/-Seiten dieses Servers werden angenommen.',
    'form.invalid': 'Das ist kein Link zu einer /video/-Seite dieses Servers.',
    'events.title': 'Ereignisse aus dem iframe',
    'events.hint': 'postMessage-Ereignisse mit source "sprechstunde", das neueste zuletzt.',
    'snippet.title': 'Für Ihre Seite zum Kopieren',
    'snippet.hint': 'Der Link enthält den Zugangscode der Patientin oder des Patienten: erzeugen Sie ihn je Termin auf Ihrem Server und veröffentlichen Sie ihn nie.',
    'snippet.copy': 'Code kopieren',
    'snippet.copied': 'Kopiert.',
    'snippet.failed': 'Kopieren nicht möglich: bitte markieren und kopieren.',
    other: 'Anderen Link öffnen',
    frame: 'Videosprechstunde',
  },
  en: {
    subtitle: 'Embedding demo',
    language: 'Language',
    'intro.title': 'Embed a video consultation in your own page',
    'intro.text1': 'This page shows how an integrator puts Sprechstunde into an iframe and listens to its events.',
    'intro.text2': 'Paste a join link (for example /video/12?tan=… or /video/login?tan=…). The call opens in an iframe here, and every event it sends to this page is listed as it arrives.',
    'form.label': 'Join link',
    'form.open': 'Open in iframe',
    'form.hint': "Only links to this server's /video/ pages are accepted.",
    'form.invalid': "That is not a link to one of this server's /video/ pages.",
    'events.title': 'Events from the iframe',
    'events.hint': 'postMessage events with source "sprechstunde", newest last.',
    'snippet.title': 'Copy this into your page',
    'snippet.hint': "The link contains the patient's access code: build it per appointment on your server, never publish it.",
    'snippet.copy': 'Copy snippet',
    'snippet.copied': 'Copied.',
    'snippet.failed': 'Copying is not possible here: please select and copy.',
    other: 'Open another link',
    frame: 'Video consultation',
  },
};

const $ = (id) => document.getElementById(id);
let language = (navigator.language || 'en').toLowerCase().startsWith('de') ? 'de' : 'en';
const t = (key) => texts[language][key] ?? texts.en[key] ?? key;

function render() {
  document.documentElement.lang = language;
  for (const element of document.querySelectorAll('[data-t]')) element.textContent = t(element.dataset.t);
  $('call').title = t('frame');
}

/** The /video/ path (with query) that `value` names on this server, or null. */
export function videoPath(value) {
  if (!value) return null;
  let url;
  try {
    url = new URL(value.trim(), location.origin);
  } catch {
    return null;
  }
  if (url.origin !== location.origin || !url.pathname.startsWith('/video/') || url.pathname.startsWith('/video/assets/')) {
    return null;
  }
  return url.pathname + url.search;
}

window.receivedEvents = [];

function snippet(path) {
  const src = new URL(path, location.origin).href;
  return [
    `<iframe src="${src.replace(/&/g, '&amp;').replace(/"/g, '&quot;')}"`,
    '        allow="camera; microphone; fullscreen; display-capture; autoplay"',
    '        title="Videosprechstunde"',
    '        width="100%" height="640" frameborder="0"></iframe>',
    '<script>',
    '  window.addEventListener("message", (event) => {',
    `    if (event.origin !== "${location.origin}") return;`,
    '    const data = event.data;',
    '    if (!data || data.source !== "sprechstunde") return;',
    '    console.log(data.event, data); // ready, waiting, admitted, joined, ..., left, error',
    '  });',
    '</script>',
  ].join('\n');
}

function showEvent(data) {
  // The item's text is exactly the event's JSON (tests parse it); the arrival time is its title.
  const item = document.createElement('li');
  const code = document.createElement('code');
  code.textContent = JSON.stringify(data);
  item.dataset.event = String(data.event);
  item.title = new Date().toLocaleTimeString(language);
  item.append(code);
  $('events').append(item);
  $('event-count').textContent = String(window.receivedEvents.length);
}

function start() {
  render();
  const select = $('language');
  select.value = language;
  select.addEventListener('change', () => {
    language = select.value;
    render();
  });

  const src = new URLSearchParams(location.search).get('src');
  const path = videoPath(src);
  if (!path) {
    $('intro').hidden = false;
    if (src) $('join-error').textContent = t('form.invalid');
    $('open-form').addEventListener('submit', (event) => {
      event.preventDefault();
      const chosen = videoPath($('join-link').value);
      if (!chosen) {
        $('join-error').textContent = t('form.invalid');
        $('join-link').setAttribute('aria-invalid', 'true');
        $('join-link').focus();
        return;
      }
      location.assign(`/demo/embed?src=${encodeURIComponent(chosen)}`);
    });
    return;
  }

  const frame = $('call');
  window.addEventListener('message', (event) => {
    if (event.source !== frame.contentWindow || event.origin !== location.origin) return;
    const data = event.data;
    if (!data || typeof data !== 'object' || data.source !== 'sprechstunde') return;
    window.receivedEvents.push(data);
    showEvent(data);
  });
  frame.src = path;
  $('demo').hidden = false;
  $('snippet').textContent = snippet(path);
  $('copy-snippet').addEventListener('click', async () => {
    try {
      await navigator.clipboard.writeText($('snippet').textContent);
      $('copy-status').textContent = t('snippet.copied');
    } catch {
      const range = document.createRange();
      range.selectNodeContents($('snippet'));
      const selection = window.getSelection();
      selection.removeAllRanges();
      selection.addRange(range);
      $('copy-status').textContent = t('snippet.failed');
    }
  });
}

start();
