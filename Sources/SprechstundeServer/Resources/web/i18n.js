// Texts of the video pages in German and English, and a tiny binding so that a language switch
// re-renders every text on the page: elements carry `data-i18n` (the key) and, for dynamic
// texts, `data-i18n-args` (JSON of the placeholders).

const texts = {
  de: {
    'page.title': 'Videosprechstunde',
    'language': 'Sprache',
    'loading': 'Verbindung wird vorbereitet …',
    'skip': 'Zum Inhalt springen',

    'signin.title': 'Anmeldung zur Videosprechstunde',
    'signin.intro': 'Melden Sie sich mit Ihrem Praxiszugang an, um an diesem Termin teilzunehmen.',
    'signin.email': 'E-Mail-Adresse',
    'signin.password': 'Passwort',
    'signin.submit': 'Anmelden',
    'signin.busy': 'Anmeldung läuft …',
    'signin.failed': 'Anmeldung fehlgeschlagen. Bitte prüfen Sie E-Mail-Adresse und Passwort.',
    'signin.missing': 'Bitte geben Sie E-Mail-Adresse und Passwort ein.',

    'check.title': 'Technik prüfen',
    'check.prejoin.title': 'Kamera und Mikrofon',
    'check.intro': 'Bevor Sie das Wartezimmer betreten, prüfen Sie bitte Kamera, Mikrofon und Lautsprecher.',
    'check.preview': 'Ihre Kamera-Vorschau',
    'check.camera': 'Kamera',
    'check.mic': 'Mikrofon',
    'check.level': 'Mikrofonpegel',
    'check.level.hint': 'Sprechen Sie: Der Balken sollte sich bewegen.',
    'check.speaker': 'Lautsprecher testen',
    'check.speaker.playing': 'Ein Testton wird abgespielt. Hören Sie ihn?',
    'check.speaker.done': 'Testton beendet. Falls Sie nichts gehört haben, prüfen Sie die Lautstärke.',
    'check.consent.title': 'Einwilligung',
    'check.consent.data': 'Ich willige in die Verarbeitung meiner Daten für diese Videosprechstunde ein.',
    'check.consent.descriptions': 'Ich habe die Hinweise zum Ablauf und zum Datenschutz der Videosprechstunde gelesen.',
    'check.consent.needed': 'Bitte bestätigen Sie beide Einwilligungen, um fortzufahren.',
    'check.consent.privacy': 'Datenschutzerklärung der Praxis (öffnet in einem neuen Tab)',
    'notices.title': 'Hinweise zum Ablauf und zum Datenschutz',
    'notices.media': 'Bild und Ton gehen verschlüsselt direkt zwischen den Browsern der Teilnehmenden hin und her. Ist keine direkte Verbindung möglich, leitet ein Relay-Server die verschlüsselten Daten weiter, ohne sie entschlüsseln zu können.',
    'notices.server': 'Der Server der Videosprechstunde stellt nur die Verbindung her. Bild und Ton sieht und speichert er nicht.',
    'notices.record': 'Die Sprechstunde wird nicht aufgezeichnet.',
    'notices.log': 'Die Praxis sieht, wann Sie beigetreten sind und wann Sie die Sprechstunde verlassen haben (Protokoll der Sprechstunde).',
    'notices.delete': 'Diese Verbindungsdaten werden nach Ablauf der Aufbewahrungsfrist gelöscht.',
    'notices.leave': 'Sie können die Sprechstunde jederzeit verlassen.',
    'check.enter': 'Wartezimmer betreten',
    'check.busy': 'Einen Moment …',
    'device.none': 'Kein Gerät gefunden',
    'device.denied': 'Zugriff nicht erlaubt',
    'device.default': 'Standard',
    'device.unnamed': 'Gerät {n}',
    'devices.title': 'Geräte',

    'media.denied.title': 'Kein Zugriff auf Kamera oder Mikrofon',
    'media.denied.help': 'Der Browser hat den Zugriff verweigert. Erlauben Sie Kamera und Mikrofon über das Symbol in der Adressleiste und versuchen Sie es erneut.',
    'media.notfound.help': 'Es wurde keine Kamera und kein Mikrofon gefunden. Schließen Sie ein Gerät an und versuchen Sie es erneut.',
    'media.busy.help': 'Kamera oder Mikrofon werden gerade von einem anderen Programm verwendet. Schließen Sie es und versuchen Sie es erneut.',
    'media.insecure.help': 'Kamera und Mikrofon sind nur über eine sichere Verbindung (https) verfügbar.',
    'media.other.help': 'Kamera und Mikrofon konnten nicht gestartet werden ({name}).',
    'media.iframe.help': 'Diese Seite ist in eine andere Seite eingebettet, die Kamera und Mikrofon nicht freigibt. Das iframe der einbettenden Seite braucht das Attribut allow="camera; microphone; fullscreen; display-capture; autoplay".',
    'media.retry': 'Erneut versuchen',
    'media.without': 'Ohne Kamera und Mikrofon teilnehmen',
    'media.without.note': 'Sie können trotzdem teilnehmen: Sie sehen und hören die anderen, diese sehen und hören Sie aber nicht.',
    'media.receiveonly': 'Sie nehmen ohne Kamera und Mikrofon teil.',

    'waiting.title': 'Wartezimmer',
    'waiting.connecting': 'Verbindung zum Wartezimmer wird hergestellt …',
    'waiting.wait': 'Sie sind im Wartezimmer. Die Praxis weiß, dass Sie da sind. Bitte warten Sie, bis die Ärztin oder der Arzt Sie hereinholt.',
    'waiting.doctor': 'Eine Ärztin oder ein Arzt ist da und holt Sie gleich herein.',
    'waiting.reconnecting': 'Die Verbindung wurde unterbrochen und wird wiederhergestellt …',
    'waiting.declined': 'Die Praxis hat Ihren Eintritt abgelehnt. Bitte wenden Sie sich bei Fragen an die Praxis. Sie können dieses Fenster jetzt schließen.',
    'waiting.admitted': 'Sie werden hereingeholt …',
    'waiting.hint': 'Lassen Sie dieses Fenster geöffnet. Kamera und Mikrofon bleiben bis zum Eintritt privat.',

    'call.you': 'Sie',
    'call.local': 'Ihr eigenes Bild',
    'call.alone': 'Noch niemand sonst ist da. Die anderen erscheinen hier, sobald sie beitreten.',
    'call.alone.waiting.one': 'Eine Person wartet im Wartezimmer. Holen Sie sie mit „Hereinholen“ in die Sprechstunde.',
    'call.alone.waiting': '{n} Personen warten im Wartezimmer. Holen Sie sie mit „Hereinholen“ in die Sprechstunde.',
    'call.camera': 'Kamera',
    'call.mic': 'Mikrofon',
    'call.on': 'an',
    'call.off': 'aus',
    'call.share': 'Bildschirm teilen',
    'call.sharing': 'Teilen beenden',
    'call.settings': 'Geräte',
    'call.leave': 'Verlassen',
    'call.controls': 'Steuerung',
    'call.connecting': 'verbindet …',
    'call.reconnecting': 'Verbindung wird wiederhergestellt …',
    'call.socket.lost': 'Verbindung zum Server unterbrochen, wird wiederhergestellt …',
    'call.socket.back': 'Verbindung zum Server wiederhergestellt.',
    'call.joined': '{name} ist beigetreten.',
    'call.left': '{name} hat die Sprechstunde verlassen.',
    'call.sound': 'Ton einschalten',
    'call.share.failed': 'Bildschirm konnte nicht geteilt werden.',
    'call.camera.none': 'Keine Kamera',
    'call.mic.none': 'Kein Mikrofon',
    'call.camera.off': 'Kamera aus',
    'call.mic.off': 'Mikrofon aus',

    'time.remaining': 'Noch {min} Min.',
    'time.remaining.short': 'Noch unter 1 Min.',
    'time.over': 'Geplante Zeit vorbei',
    'time.over.notice': 'Die geplante Zeit (bis {planned} Uhr) ist vorbei. Die Sprechstunde wird nicht automatisch beendet.',
    'time.over.ending': 'Die geplante Zeit (bis {planned} Uhr) ist vorbei. Die Sprechstunde wird in einigen Minuten automatisch beendet.',
    'time.over.ends-at': 'Die geplante Zeit (bis {planned} Uhr) ist vorbei. Die Sprechstunde wird um {time} Uhr automatisch beendet.',
    'time.label': 'Verbleibende Zeit',

    'quality.label': 'Verbindung',
    'quality.good': 'gut',
    'quality.fair': 'mittel',
    'quality.poor': 'schlecht',
    'quality.unknown': '–',
    'quality.detail': 'Laufzeit {rtt} ms, Paketverlust {loss} %',

    'wait.title': 'Wartezimmer',
    'wait.empty': 'Niemand wartet.',
    'wait.since': 'wartet seit {time}',
    'wait.admit': 'Hereinholen',
    'wait.decline': 'Ablehnen',
    'wait.arrived': '{name} wartet im Wartezimmer.',
    'wait.admit.label': '{name} hereinholen',
    'wait.decline.label': '{name} ablehnen',

    'rel.now': 'weniger als einer Minute',
    'rel.min': '{n} Min.',
    'rel.hour': '{n} Std.',

    'left.title': 'Sie haben die Sprechstunde verlassen',
    'left.detail': 'Sie können dieses Fenster jetzt schließen.',
    'left.rejoin': 'Wieder beitreten',

    'ended.title': 'Die Sprechstunde ist beendet',
    'ended.close': 'Sie können dieses Fenster jetzt schließen.',
    'ended.declined.title': 'Eintritt abgelehnt',
    'ended.declined': 'Die Praxis hat Ihren Eintritt abgelehnt.',
    'ended.replaced.title': 'In einem anderen Fenster geöffnet',
    'ended.replaced': 'Sie haben diese Sprechstunde in einem anderen Fenster oder Gerät geöffnet. Dieses Fenster ist nicht mehr verbunden.',
    'ended.session.title': 'Sitzung ungültig',
    'ended.session': 'Ihre Sitzung ist abgelaufen oder ungültig. Bitte öffnen Sie den Link erneut.',

    'error.title': 'Die Sprechstunde kann nicht geöffnet werden',
    'error.tan-invalid': 'Dieser Zugangscode ist ungültig. Bitte prüfen Sie den Link oder bitten Sie die Praxis um einen neuen.',
    'error.tan-expired': 'Dieser Zugangscode ist abgelaufen. Bitte fordern Sie bei der Praxis einen neuen Termin-Link an.',
    'error.otp-invalid': 'Dieser Anmelde-Link ist ungültig oder wurde bereits benutzt. Öffnen Sie den Termin erneut aus Ihrem Praxissystem.',
    'error.call-deleted': 'Dieser Termin wurde abgesagt. Die Videosprechstunde existiert nicht mehr.',
    'error.call-ended': 'Diese Videosprechstunde ist beendet.',
    'error.not-a-participant': 'Sie nehmen an diesem Termin nicht teil, oder es gibt ihn nicht. Bitte prüfen Sie den Link.',
    'error.forbidden': 'Sie nehmen an diesem Termin nicht teil, oder es gibt ihn nicht. Bitte prüfen Sie den Link.',
    'error.throttled': 'Zu viele Versuche. Bitte warten Sie einige Minuten und versuchen Sie es dann erneut.',
    'error.session-invalid': 'Ihre Sitzung ist abgelaufen oder ungültig. Bitte öffnen Sie den Link erneut.',
    'error.bad-link': 'Dieser Link ist unvollständig. Bitte prüfen Sie ihn.',
    'error.network': 'Der Server ist nicht erreichbar. Bitte prüfen Sie Ihre Internetverbindung.',
    'error.unknown': 'Ein unerwarteter Fehler ist aufgetreten ({message}).',
    'error.retry': 'Erneut versuchen',
    'error.code': 'Fehlercode: {code}',
  },
  en: {
    'page.title': 'Video consultation',
    'language': 'Language',
    'loading': 'Preparing the connection …',
    'skip': 'Skip to content',

    'signin.title': 'Sign in to the video consultation',
    'signin.intro': 'Sign in with your practice account to take part in this appointment.',
    'signin.email': 'E-mail address',
    'signin.password': 'Password',
    'signin.submit': 'Sign in',
    'signin.busy': 'Signing in …',
    'signin.failed': 'Sign-in failed. Please check your e-mail address and password.',
    'signin.missing': 'Please enter your e-mail address and password.',

    'check.title': 'Check your devices',
    'check.prejoin.title': 'Camera and microphone',
    'check.intro': 'Before you enter the waiting room, please check your camera, microphone and speakers.',
    'check.preview': 'Your camera preview',
    'check.camera': 'Camera',
    'check.mic': 'Microphone',
    'check.level': 'Microphone level',
    'check.level.hint': 'Say something: the bar should move.',
    'check.speaker': 'Test speakers',
    'check.speaker.playing': 'A test tone is playing. Can you hear it?',
    'check.speaker.done': 'Test tone finished. If you heard nothing, check your volume.',
    'check.consent.title': 'Consent',
    'check.consent.data': 'I consent to my data being processed for this video consultation.',
    'check.consent.descriptions': 'I have read the information on how the video consultation works and on data protection.',
    'check.consent.needed': 'Please confirm both consents to continue.',
    'check.consent.privacy': "The practice's privacy policy (opens in a new tab)",
    'notices.title': 'How the consultation works and data protection',
    'notices.media': 'Video and sound travel encrypted directly between the participants\' browsers. If no direct connection is possible, a relay server forwards the encrypted data without being able to decrypt it.',
    'notices.server': 'The video consultation server only connects the participants. It neither sees nor stores video or sound.',
    'notices.record': 'The consultation is not recorded.',
    'notices.log': 'The practice sees when you joined and when you left the consultation (call log).',
    'notices.delete': 'This connection data is deleted after the retention period.',
    'notices.leave': 'You can leave the consultation at any time.',
    'check.enter': 'Enter the waiting room',
    'check.busy': 'One moment …',
    'device.none': 'No device found',
    'device.denied': 'Access not allowed',
    'device.default': 'Default',
    'device.unnamed': 'Device {n}',
    'devices.title': 'Devices',

    'media.denied.title': 'No access to camera or microphone',
    'media.denied.help': 'The browser refused access. Allow camera and microphone using the icon in the address bar, then try again.',
    'media.notfound.help': 'No camera and no microphone were found. Connect a device and try again.',
    'media.busy.help': 'The camera or microphone is in use by another program. Close it and try again.',
    'media.insecure.help': 'Camera and microphone are only available over a secure connection (https).',
    'media.other.help': 'Camera and microphone could not be started ({name}).',
    'media.iframe.help': 'This page is embedded in another page that does not grant camera and microphone. The embedding page\'s iframe needs the attribute allow="camera; microphone; fullscreen; display-capture; autoplay".',
    'media.retry': 'Try again',
    'media.without': 'Join without camera and microphone',
    'media.without.note': 'You can still take part: you will see and hear the others, but they will not see or hear you.',
    'media.receiveonly': 'You are taking part without camera and microphone.',

    'waiting.title': 'Waiting room',
    'waiting.connecting': 'Connecting to the waiting room …',
    'waiting.wait': 'You are in the waiting room. The practice knows you are here. Please wait until the doctor lets you in.',
    'waiting.doctor': 'A doctor is here and will let you in shortly.',
    'waiting.reconnecting': 'The connection was interrupted and is being restored …',
    'waiting.declined': 'The practice has declined your entry. Please contact the practice if you have questions. You can close this window now.',
    'waiting.admitted': 'You are being let in …',
    'waiting.hint': 'Keep this window open. Your camera and microphone stay private until you are let in.',

    'call.you': 'You',
    'call.local': 'Your own picture',
    'call.alone': 'Nobody else is here yet. The others appear here as soon as they join.',
    'call.alone.waiting.one': 'One person is waiting in the waiting room. Use “Let in” to bring them into the consultation.',
    'call.alone.waiting': '{n} people are waiting in the waiting room. Use “Let in” to bring them into the consultation.',
    'call.camera': 'Camera',
    'call.mic': 'Microphone',
    'call.on': 'on',
    'call.off': 'off',
    'call.share': 'Share screen',
    'call.sharing': 'Stop sharing',
    'call.settings': 'Devices',
    'call.leave': 'Leave',
    'call.controls': 'Controls',
    'call.connecting': 'connecting …',
    'call.reconnecting': 'Reconnecting …',
    'call.socket.lost': 'Connection to the server lost, reconnecting …',
    'call.socket.back': 'Connection to the server restored.',
    'call.joined': '{name} has joined.',
    'call.left': '{name} has left the consultation.',
    'call.sound': 'Turn on sound',
    'call.share.failed': 'The screen could not be shared.',
    'call.camera.none': 'No camera',
    'call.mic.none': 'No microphone',
    'call.camera.off': 'Camera off',
    'call.mic.off': 'Microphone off',

    'time.remaining': '{min} min left',
    'time.remaining.short': 'Less than 1 min left',
    'time.over': 'Planned time over',
    'time.over.notice': 'The planned time (until {planned}) is over. The consultation will not be ended automatically.',
    'time.over.ending': 'The planned time (until {planned}) is over. The consultation will be ended automatically in a few minutes.',
    'time.over.ends-at': 'The planned time (until {planned}) is over. The consultation will be ended automatically at {time}.',
    'time.label': 'Time left',

    'quality.label': 'Connection',
    'quality.good': 'good',
    'quality.fair': 'fair',
    'quality.poor': 'poor',
    'quality.unknown': '–',
    'quality.detail': 'round trip {rtt} ms, packet loss {loss} %',

    'wait.title': 'Waiting room',
    'wait.empty': 'Nobody is waiting.',
    'wait.since': 'waiting for {time}',
    'wait.admit': 'Let in',
    'wait.decline': 'Decline',
    'wait.arrived': '{name} is waiting in the waiting room.',
    'wait.admit.label': 'Let {name} in',
    'wait.decline.label': 'Decline {name}',

    'rel.now': 'less than a minute',
    'rel.min': '{n} min',
    'rel.hour': '{n} h',

    'left.title': 'You have left the consultation',
    'left.detail': 'You can close this window now.',
    'left.rejoin': 'Join again',

    'ended.title': 'The consultation has ended',
    'ended.close': 'You can close this window now.',
    'ended.declined.title': 'Entry declined',
    'ended.declined': 'The practice has declined your entry.',
    'ended.replaced.title': 'Opened in another window',
    'ended.replaced': 'You opened this consultation in another window or on another device. This window is no longer connected.',
    'ended.session.title': 'Session invalid',
    'ended.session': 'Your session has expired or is invalid. Please open the link again.',

    'error.title': 'The consultation cannot be opened',
    'error.tan-invalid': 'This access code is not valid. Please check the link or ask the practice for a new one.',
    'error.tan-expired': 'This access code has expired. Please ask the practice for a new appointment link.',
    'error.otp-invalid': 'This sign-in link is invalid or has been used already. Open the appointment again from your practice system.',
    'error.call-deleted': 'This appointment was cancelled. The video consultation no longer exists.',
    'error.call-ended': 'This video consultation has ended.',
    'error.not-a-participant': 'You do not take part in this appointment, or it does not exist. Please check the link.',
    'error.forbidden': 'You do not take part in this appointment, or it does not exist. Please check the link.',
    'error.throttled': 'Too many attempts. Please wait a few minutes and then try again.',
    'error.session-invalid': 'Your session has expired or is invalid. Please open the link again.',
    'error.bad-link': 'This link is incomplete. Please check it.',
    'error.network': 'The server cannot be reached. Please check your internet connection.',
    'error.unknown': 'An unexpected error occurred ({message}).',
    'error.retry': 'Try again',
    'error.code': 'Error code: {code}',
  },
};

const languageKey = 'sprechstunde.language';

function initialLanguage() {
  try {
    const chosen = sessionStorage.getItem(languageKey); // the switch's choice survives a reload of this tab
    if (chosen === 'de' || chosen === 'en') return chosen;
  } catch {
    // storage blocked
  }
  return (navigator.language || 'en').toLowerCase().startsWith('de') ? 'de' : 'en';
}

let language = initialLanguage();
const listeners = [];

export function currentLanguage() {
  return language;
}

export function otherLanguage() {
  return language === 'de' ? 'en' : 'de';
}

export function has(key) {
  return key in texts.en;
}

/** The text for `key` in `lang` (default: the current language) with `{name}` placeholders filled. */
export function t(key, args = {}, lang = language) {
  const template = texts[lang][key] ?? texts.en[key] ?? key;
  return template.replace(/\{(\w+)\}/g, (whole, name) => (name in args ? String(args[name]) : whole));
}

/** Binds `element`'s text to `key`: it follows later language switches. */
export function bind(element, key, args) {
  if (!element) return element;
  element.dataset.i18n = key;
  if (args && Object.keys(args).length) element.dataset.i18nArgs = JSON.stringify(args);
  else delete element.dataset.i18nArgs;
  element.textContent = t(key, args);
  return element;
}

/** Binds an attribute (aria-label, title, placeholder) of `element` to `key`. */
export function bindAttr(element, attribute, key, args) {
  const bindings = JSON.parse(element.dataset.i18nAttrs || '{}');
  bindings[attribute] = args ? [key, args] : [key];
  element.dataset.i18nAttrs = JSON.stringify(bindings);
  element.setAttribute(attribute, t(key, args));
  return element;
}

function render(root = document) {
  document.documentElement.lang = language;
  for (const element of root.querySelectorAll('[data-i18n]')) {
    const args = element.dataset.i18nArgs ? JSON.parse(element.dataset.i18nArgs) : undefined;
    element.textContent = t(element.dataset.i18n, args);
  }
  for (const element of root.querySelectorAll('[data-i18n-attrs]')) {
    const bindings = JSON.parse(element.dataset.i18nAttrs);
    for (const [attribute, [key, args]] of Object.entries(bindings)) element.setAttribute(attribute, t(key, args));
  }
  for (const element of root.querySelectorAll('[data-i18n-lang="other"]')) {
    element.lang = otherLanguage();
    if (!element.dataset.i18nKey) continue;
    const args = element.dataset.i18nArgs ? JSON.parse(element.dataset.i18nArgs) : undefined;
    element.textContent = t(element.dataset.i18nKey, args, otherLanguage());
  }
}

export function setLanguage(lang) {
  if (!(lang in texts)) return;
  language = lang;
  try {
    sessionStorage.setItem(languageKey, lang);
  } catch {
    // storage blocked: the choice lasts until a reload
  }
  render();
  for (const listener of listeners) listener(lang);
}

export function onLanguageChange(listener) {
  listeners.push(listener);
}

/** Renders the page once and wires `select#language`. */
export function setUpLanguage() {
  const select = document.getElementById('language');
  if (select) {
    select.value = language;
    select.addEventListener('change', () => setLanguage(select.value));
  }
  render();
}
