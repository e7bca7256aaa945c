// Messages off the page, as the join page asks for them: pure logic, no DOM.
// A phone or an address goes to the server only with its box ticked (explicit consent), in the
// language the customer picked; the words of the consent are in that language too.

/** The languages of the messages (the server's defaults exist in each). */
export const LANGS = [
  ['en', 'English'],
  ['fr', 'Français'],
  ['de', 'Deutsch'],
  ['es', 'Español'],
  ['ja', '日本語'],
];

/** The consent's words, by language. */
export const WORDS = {
  en: {
    title: 'Tell me off this page (optional)',
    sms: 'Text me at the phone number above when my turn is near (reply STOP to end)',
    email: 'E-mail me when my turn is near',
    lang: 'Language of the messages',
    needPhone: 'Enter your phone number in international form (+44 …) to get text messages.',
    needEmail: 'Enter your e-mail address to get e-mails.',
  },
  fr: {
    title: 'Me prévenir hors de cette page (facultatif)',
    sms: 'M’envoyer un SMS au numéro ci-dessus quand mon tour approche (répondre STOP pour arrêter)',
    email: 'M’envoyer un e-mail quand mon tour approche',
    lang: 'Langue des messages',
    needPhone: 'Saisissez votre numéro au format international (+33 …) pour recevoir des SMS.',
    needEmail: 'Saisissez votre adresse e-mail pour recevoir des e-mails.',
  },
  de: {
    title: 'Benachrichtigen Sie mich außerhalb dieser Seite (optional)',
    sms: 'SMS an die Nummer oben, wenn ich bald dran bin (STOP zum Beenden)',
    email: 'E-Mail, wenn ich bald dran bin',
    lang: 'Sprache der Nachrichten',
    needPhone: 'Geben Sie Ihre Nummer international ein (+49 …), um SMS zu erhalten.',
    needEmail: 'Geben Sie Ihre E-Mail-Adresse ein, um E-Mails zu erhalten.',
  },
  es: {
    title: 'Avisarme fuera de esta página (opcional)',
    sms: 'Enviarme un SMS al número de arriba cuando se acerque mi turno (responda STOP para terminar)',
    email: 'Enviarme un correo cuando se acerque mi turno',
    lang: 'Idioma de los mensajes',
    needPhone: 'Escriba su número en formato internacional (+34 …) para recibir SMS.',
    needEmail: 'Escriba su correo electrónico para recibir correos.',
  },
  ja: {
    title: 'このページ以外でもお知らせを受け取る（任意）',
    sms: '順番が近づいたら上の電話番号にSMSを送る（停止するにはSTOPと返信）',
    email: '順番が近づいたらメールを送る',
    lang: 'メッセージの言語',
    needPhone: 'SMSを受け取るには国際形式（+81 …）で電話番号を入力してください。',
    needEmail: 'メールを受け取るにはメールアドレスを入力してください。',
  },
};

/** The first of the browser's languages we speak (`navigator.languages`), else English. */
export function pickLang(languages) {
  for (const l of languages || []) {
    const base = String(l).toLowerCase().split('-')[0];
    if (LANGS.some(([code]) => code === base)) return base;
  }
  return 'en';
}

/**
 * What the join sends: `{ notify }` with only the channels whose box is ticked (and nothing
 * when none is), or `{ error }` (in the customer's language) when a ticked one lacks its value.
 */
export function notifyRequest({ smsOptIn, phone, emailOptIn, email, lang }) {
  const words = WORDS[lang] || WORDS.en;
  const notify = {};
  if (smsOptIn) {
    const p = String(phone || '').trim();
    if (!p.startsWith('+') || p.replace(/\D/g, '').length < 8) return { error: words.needPhone };
    notify.sms = p;
  }
  if (emailOptIn) {
    const e = String(email || '').trim();
    if (!/^[^\s@]+@[^\s@]+\.[^\s@]+$/.test(e)) return { error: words.needEmail };
    notify.email = e;
  }
  if (!notify.sms && !notify.email) return { notify: undefined };
  notify.lang = WORDS[lang] ? lang : 'en';
  return { notify };
}

/** A base64url key (the server's VAPID public key) as the bytes `PushManager.subscribe` takes. */
export function keyBytes(b64url) {
  const b64 = String(b64url).replace(/-/g, '+').replace(/_/g, '/');
  const raw = atob(b64 + '='.repeat((4 - (b64.length % 4)) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}
