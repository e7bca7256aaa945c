//! Messages off the page, as pure logic: who may be told (contacts, checked), what a queue's
//! `settings.notify` asks for, and the words of each message in the customer's language, from
//! the queue's templates or the defaults, an SMS shortened to one segment.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::{Event, Ticket};

/// Where a message goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Channel {
    Sms,
    Email,
    Push,
}

impl Channel {
    pub const ALL: [Channel; 3] = [Channel::Sms, Channel::Email, Channel::Push];

    pub fn as_str(self) -> &'static str {
        match self {
            Channel::Sms => "sms",
            Channel::Email => "email",
            Channel::Push => "push",
        }
    }

    pub fn parse(s: &str) -> Option<Channel> {
        Channel::ALL.into_iter().find(|c| c.as_str() == s)
    }
}

/// Why a message is sent: the moment of the ticket's life it announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum MessageKind {
    Joined,
    Ahead,
    Called,
    Recalled,
    NoShow,
    /// The customer stepped back in line (`ticket.snoozed`): where they are now.
    Snoozed,
    /// An appointment's reminder (a day and an hour before, by default), written by the clock.
    Reminder,
}

impl MessageKind {
    pub const ALL: [MessageKind; 7] = [
        MessageKind::Joined,
        MessageKind::Ahead,
        MessageKind::Called,
        MessageKind::Recalled,
        MessageKind::NoShow,
        MessageKind::Snoozed,
        MessageKind::Reminder,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            MessageKind::Joined => "joined",
            MessageKind::Ahead => "ahead",
            MessageKind::Called => "called",
            MessageKind::Recalled => "recalled",
            MessageKind::NoShow => "no_show",
            MessageKind::Snoozed => "snoozed",
            MessageKind::Reminder => "reminder",
        }
    }

    pub fn parse(s: &str) -> Option<MessageKind> {
        MessageKind::ALL.into_iter().find(|k| k.as_str() == s)
    }

    /// The kinds written when their event commits (`ahead` is written when a line moves).
    pub const ON_EVENT: [MessageKind; 5] =
        [MessageKind::Joined, MessageKind::Called, MessageKind::Recalled, MessageKind::NoShow, MessageKind::Snoozed];

    /// The message an event brings, if any: `ticket.<kind>` of one of [`ON_EVENT`](Self::ON_EVENT)
    /// that moved its ticket to a state, or stepped it back in line (a snooze keeps its state).
    pub fn told_by(event: &Event) -> Option<MessageKind> {
        let name = event.kind.name();
        let kind = MessageKind::parse(name.strip_prefix("ticket.")?).filter(|k| Self::ON_EVENT.contains(k))?;
        (event.to.is_some() || kind == MessageKind::Snoozed).then_some(kind)
    }
}

/// The values a ticket's message is written with (`vars`): its number, its counter and how many
/// people are ahead of it, each only when known.
pub fn message_vars(ticket: &Ticket) -> Value {
    let mut vars = serde_json::Map::with_capacity(3);
    vars.insert("number".into(), Value::String(ticket.number.clone()));
    if let Some(counter) = &ticket.counter {
        vars.insert("counter".into(), Value::String(counter.clone()));
    }
    if let Some(position) = ticket.position {
        vars.insert("ahead".into(), Value::from(i64::from(position) - 1));
    }
    Value::Object(vars)
}

/// The languages of the pages, and so of the default words.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Lang {
    En,
    Fr,
    De,
    Es,
    Ja,
}

impl Lang {
    pub const ALL: [Lang; 5] = [Lang::En, Lang::Fr, Lang::De, Lang::Es, Lang::Ja];

    pub fn as_str(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::Fr => "fr",
            Lang::De => "de",
            Lang::Es => "es",
            Lang::Ja => "ja",
        }
    }

    pub fn parse(s: &str) -> Option<Lang> {
        Lang::ALL.into_iter().find(|l| l.as_str() == s)
    }
}

/// Why a join's `notify` (or a queue's `settings.notify`) was refused: a stable code and words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refusal {
    pub code: &'static str,
    pub detail: String,
}

fn refuse<T>(code: &'static str, detail: impl Into<String>) -> Result<T, Refusal> {
    Err(Refusal { code, detail: detail.into() })
}

/// What a customer agreed to be told by, checked: the join page sends these only with an
/// explicit opt-in.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Contacts {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sms: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub email: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<Value>,
    pub lang: Option<String>,
}

impl Contacts {
    /// Checks and normalises: a phone to E.164 (`+` and 8 to 15 digits; spaces, dashes, dots and
    /// brackets dropped), an address lower-cased, a push subscription's shape, a known language.
    pub fn checked(mut self) -> Result<Contacts, Refusal> {
        if let Some(phone) = self.sms.take() {
            self.sms = Some(e164(&phone).ok_or(Refusal {
                code: "invalid_phone",
                detail: "notify.sms: a phone number in international form, + and 8 to 15 digits".into(),
            })?);
        }
        if let Some(email) = self.email.take() {
            self.email = Some(email_address(&email).ok_or(Refusal {
                code: "invalid_email",
                detail: "notify.email: an e-mail address (name@domain.example)".into(),
            })?);
        }
        if let Some(push) = &self.push {
            if !valid_subscription(push) {
                return refuse(
                    "invalid_push_subscription",
                    "notify.push: a PushSubscription {endpoint: https URL, keys: {p256dh, auth}}",
                );
            }
        }
        match &self.lang {
            None => {}
            Some(l) if Lang::parse(l).is_some() => {}
            Some(l) => {
                let known: Vec<&str> = Lang::ALL.iter().map(|l| l.as_str()).collect();
                return refuse("unknown_lang", format!("notify.lang: `{l}` is not one of {}", known.join(", ")));
            }
        }
        Ok(self)
    }

    /// Whether any channel was given.
    pub fn any(&self) -> bool {
        self.sms.is_some() || self.email.is_some() || self.push.is_some()
    }

    pub fn lang(&self) -> Lang {
        self.lang.as_deref().and_then(Lang::parse).unwrap_or(Lang::En)
    }
}

/// `+` and 8 to 15 digits, from what people type (`+33 6 12-34-56-78`, `(+1) 555.010.9999`).
pub fn e164(phone: &str) -> Option<String> {
    let phone = phone.trim();
    if phone.len() > 32 || !phone.starts_with(['+', '(']) {
        return None;
    }
    if !phone.chars().all(|c| c.is_ascii_digit() || " +-().".contains(c)) || phone.matches('+').count() != 1 {
        return None;
    }
    let digits: String = phone.chars().filter(char::is_ascii_digit).collect();
    ((8..=15).contains(&digits.len()) && !digits.starts_with('0')).then(|| format!("+{digits}"))
}

/// A plain address: one `@`, a local part and a dotted domain, no spaces or brackets.
pub fn email_address(email: &str) -> Option<String> {
    let email = email.trim().to_lowercase();
    let (local, domain) = email.split_once('@')?;
    let ok_chars = |s: &str| s.chars().all(|c| c.is_ascii_graphic() && !"<>()[]\\,;:@\"".contains(c));
    let labels_ok = domain.split('.').all(|l| !l.is_empty() && l.len() <= 63);
    let ok = !local.is_empty()
        && local.len() <= 64
        && email.len() <= 254
        && domain.contains('.')
        && labels_ok
        && ok_chars(local)
        && ok_chars(domain);
    ok.then_some(email)
}

fn valid_subscription(push: &Value) -> bool {
    let endpoint = push.get("endpoint").and_then(Value::as_str).unwrap_or("");
    let key = |k: &str| push.get("keys").and_then(|keys| keys.get(k)).and_then(Value::as_str).is_some();
    (endpoint.starts_with("https://") || endpoint.starts_with("http://127.0.0.1"))
        && endpoint.len() <= 2000
        && key("p256dh")
        && key("auth")
}

/// A queue's `settings.notify`: which moments are told, and its own words.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct QueueNotify {
    /// "N ahead": a ticket is told when N people are ahead of it (at most 10, each 0 to 49).
    pub ahead: Vec<i32>,
    /// Moments switched off (all on unless set to false).
    pub off: Vec<MessageKind>,
    /// Templates by language, then kind: `{"fr": {"called": "…"}}`.
    pub templates: BTreeMap<String, BTreeMap<String, String>>,
}

/// The most people ahead "N ahead" may name (the writer reads N + 1 tickets of the line).
pub const MAX_AHEAD: i32 = 49;
/// A template's length at most.
const MAX_TEMPLATE: usize = 1000;

/// The placeholders a template may use.
/// `ticket_url` is the ticket's page, or a reminder's booking page; `when` is a reminder's
/// appointment time, in the queue's zone.
pub const PLACEHOLDERS: [&str; 6] = ["number", "counter", "ahead", "queue", "ticket_url", "when"];

impl QueueNotify {
    /// Reads and checks `settings.notify` (absent: the defaults).
    pub fn parse(value: Option<&Value>) -> Result<QueueNotify, Refusal> {
        let bad = |d: String| Refusal { code: "invalid_notify_settings", detail: d };
        let Some(value) = value.filter(|v| !v.is_null()) else { return Ok(QueueNotify::default()) };
        let map = value.as_object().ok_or_else(|| bad("settings.notify must be an object".into()))?;
        let mut out = QueueNotify::default();
        for (key, v) in map {
            match key.as_str() {
                "ahead" => {
                    let list = v.as_array().ok_or_else(|| bad("settings.notify.ahead must be a list".into()))?;
                    for n in list {
                        let n = n.as_i64().filter(|n| (0..=i64::from(MAX_AHEAD)).contains(n)).ok_or_else(|| {
                            bad(format!("settings.notify.ahead: whole numbers of people ahead, 0 to {MAX_AHEAD}"))
                        })?;
                        if !out.ahead.contains(&(n as i32)) {
                            out.ahead.push(n as i32);
                        }
                    }
                    if out.ahead.len() > 10 {
                        return Err(bad("settings.notify.ahead: at most 10 positions".into()));
                    }
                }
                "templates" => out.templates = parse_templates(v)?,
                other => {
                    let kind = MessageKind::parse(other).filter(|k| *k != MessageKind::Ahead).ok_or_else(|| {
                        bad(format!(
                            "settings.notify: unknown key `{other}` (ahead, templates, joined, called, recalled, no_show, snoozed, reminder)"
                        ))
                    })?;
                    match v.as_bool() {
                        Some(true) => {}
                        Some(false) => out.off.push(kind),
                        None => return Err(bad(format!("settings.notify.{other} must be true or false"))),
                    }
                }
            }
        }
        Ok(out)
    }

    pub fn wants(&self, kind: MessageKind) -> bool {
        match kind {
            MessageKind::Ahead => !self.ahead.is_empty(),
            k => !self.off.contains(&k),
        }
    }

    /// The queue's template for `kind` in `lang`, if it has one.
    fn template(&self, lang: Lang, kind: MessageKind) -> Option<&str> {
        self.templates.get(lang.as_str()).and_then(|t| t.get(kind.as_str())).map(String::as_str)
    }
}

fn parse_templates(v: &Value) -> Result<BTreeMap<String, BTreeMap<String, String>>, Refusal> {
    let bad = |d: String| Refusal { code: "invalid_template", detail: d };
    let langs = v.as_object().ok_or_else(|| bad("settings.notify.templates: {lang: {kind: text}}".into()))?;
    let mut out = BTreeMap::new();
    for (lang, kinds) in langs {
        if Lang::parse(lang).is_none() {
            return Err(bad(format!("settings.notify.templates: unknown language `{lang}`")));
        }
        let kinds = kinds.as_object().ok_or_else(|| bad(format!("settings.notify.templates.{lang} is an object")))?;
        let mut texts = BTreeMap::new();
        for (kind, text) in kinds {
            if MessageKind::parse(kind).is_none() {
                return Err(bad(format!("settings.notify.templates.{lang}: unknown message `{kind}`")));
            }
            let text = text.as_str().ok_or_else(|| bad(format!("settings.notify.templates.{lang}.{kind} is text")))?;
            check_template(text).map_err(|d| bad(format!("settings.notify.templates.{lang}.{kind}: {d}")))?;
            texts.insert(kind.clone(), text.to_owned());
        }
        out.insert(lang.clone(), texts);
    }
    Ok(out)
}

/// A template is 1 to 1000 characters whose `{…}` are known placeholders.
pub fn check_template(text: &str) -> Result<(), String> {
    if text.trim().is_empty() || text.chars().count() > MAX_TEMPLATE {
        return Err(format!("1 to {MAX_TEMPLATE} characters"));
    }
    let mut rest = text;
    while let Some(open) = rest.find('{') {
        let after = &rest[open + 1..];
        let close = after.find('}').ok_or("a `{` is not closed")?;
        let name = &after[..close];
        if !PLACEHOLDERS.contains(&name) {
            return Err(format!("unknown placeholder `{{{name}}}` (known: {})", PLACEHOLDERS.join(", ")));
        }
        rest = &after[close + 1..];
    }
    if rest.contains('}') {
        return Err("a `}` without its `{`".into());
    }
    Ok(())
}

/// The default words, per language and kind.
fn default_template(lang: Lang, kind: MessageKind) -> &'static str {
    use MessageKind::*;
    match (lang, kind) {
        (Lang::En, Joined) => "You are in line at {queue}: your number is {number}. Follow your place: {ticket_url}",
        (Lang::En, Ahead) => "{queue}: {ahead} ahead of you. Please head back now. {number}: {ticket_url}",
        (Lang::En, Called) => "It's your turn at {queue}: {number}, please go to {counter}.",
        (Lang::En, Recalled) => "{queue}: we are still waiting for you, {number}: please go to {counter} now.",
        (Lang::En, NoShow) => "{queue}: we called {number} but could not find you. Please see the staff.",
        (Lang::En, Snoozed) => {
            "{queue}: more time for {number}. {ahead} ahead of you now. Follow your place: {ticket_url}"
        }
        (Lang::Fr, Snoozed) => {
            "{queue} : plus de temps pour {number}. Encore {ahead} avant vous. Suivez votre place : {ticket_url}"
        }
        (Lang::De, Snoozed) => "{queue}: mehr Zeit für {number}. Jetzt {ahead} vor Ihnen. Ihr Platz: {ticket_url}",
        (Lang::Es, Snoozed) => {
            "{queue}: más tiempo para {number}. Ahora {ahead} antes que usted. Su lugar: {ticket_url}"
        }
        (Lang::Fr, Joined) => {
            "Vous êtes dans la file {queue} : votre numéro est {number}. Suivez votre place : {ticket_url}"
        }
        (Lang::Fr, Ahead) => "{queue} : encore {ahead} avant vous. Merci de revenir. {number} : {ticket_url}",
        (Lang::Fr, Called) => "C'est votre tour à {queue} : {number}, présentez-vous à {counter}.",
        (Lang::Fr, Recalled) => "{queue} : nous vous attendons, {number} : présentez-vous à {counter}.",
        (Lang::Fr, NoShow) => "{queue} : nous avons appelé {number} sans vous trouver. Adressez-vous au personnel.",
        (Lang::De, Joined) => "Sie stehen in der Schlange {queue}: Ihre Nummer ist {number}. Ihr Platz: {ticket_url}",
        (Lang::De, Ahead) => "{queue}: noch {ahead} vor Ihnen. Bitte kommen Sie zurück. {number}: {ticket_url}",
        (Lang::De, Called) => "Sie sind dran bei {queue}: {number}, bitte zu {counter}.",
        (Lang::De, Recalled) => "{queue}: wir warten auf Sie, {number}: bitte jetzt zu {counter}.",
        (Lang::De, NoShow) => "{queue}: wir haben {number} aufgerufen, Sie aber nicht gefunden. Bitte melden Sie sich.",
        (Lang::Es, Joined) => "Está en la fila de {queue}: su número es {number}. Siga su lugar: {ticket_url}",
        (Lang::Es, Ahead) => "{queue}: quedan {ahead} antes que usted. Vuelva ya, por favor. {number}: {ticket_url}",
        (Lang::Es, Called) => "Es su turno en {queue}: {number}, acuda a {counter}.",
        (Lang::Es, Recalled) => "{queue}: le seguimos esperando, {number}: acuda a {counter} ahora.",
        (Lang::Es, NoShow) => "{queue}: llamamos a {number} pero no le encontramos. Hable con el personal.",
        (Lang::En, Reminder) => {
            "Reminder: your appointment at {queue} is on {when}. Change, cancel or check in: {ticket_url}"
        }
        (Lang::Fr, Reminder) => {
            "Rappel : votre rendez-vous à {queue} est le {when}. Modifier, annuler ou vous présenter : {ticket_url}"
        }
        (Lang::De, Reminder) => {
            "Erinnerung: Ihr Termin bei {queue} ist am {when}. Ändern, absagen oder einchecken: {ticket_url}"
        }
        (Lang::Es, Reminder) => "Recordatorio: su cita en {queue} es el {when}. Cambiar, anular o llegar: {ticket_url}",
        (Lang::Ja, Joined) => "{queue}の列に並びました。番号は{number}です。順番の確認：{ticket_url}",
        (Lang::Ja, Ahead) => "{queue}：あと{ahead}人です。お戻りください。{number}：{ticket_url}",
        (Lang::Ja, Called) => "{queue}：{number}番の方、{counter}へお越しください。",
        (Lang::Ja, Recalled) => "{queue}：{number}番の方、お待ちしています。{counter}へお越しください。",
        (Lang::Ja, NoShow) => {
            "{queue}：{number}番をお呼びしましたが、いらっしゃいませんでした。係員にお声がけください。"
        }
        (Lang::Ja, Snoozed) => "{queue}：{number}番の順番を遅らせました。あと{ahead}人です。順番の確認：{ticket_url}",
        (Lang::Ja, Reminder) => "リマインダー：{queue}のご予約は{when}です。変更・キャンセル・受付：{ticket_url}",
    }
}

/// The subject line of an e-mail, per language and kind.
fn subject(lang: Lang, kind: MessageKind) -> &'static str {
    use MessageKind::*;
    match (lang, kind) {
        (Lang::En, Joined) => "You are in line: {number}",
        (Lang::En, Ahead) => "Almost your turn: {number}",
        (Lang::En, Called | Recalled) => "It's your turn: {number}",
        (Lang::En, NoShow) => "We missed you: {number}",
        (Lang::En, Snoozed) => "More time: {number}",
        (Lang::Fr, Snoozed) => "Plus de temps : {number}",
        (Lang::De, Snoozed) => "Mehr Zeit: {number}",
        (Lang::Es, Snoozed) => "Más tiempo: {number}",
        (Lang::Fr, Joined) => "Vous êtes dans la file : {number}",
        (Lang::Fr, Ahead) => "Bientôt votre tour : {number}",
        (Lang::Fr, Called | Recalled) => "C'est votre tour : {number}",
        (Lang::Fr, NoShow) => "Nous vous avons manqué : {number}",
        (Lang::De, Joined) => "Sie stehen in der Schlange: {number}",
        (Lang::De, Ahead) => "Bald sind Sie dran: {number}",
        (Lang::De, Called | Recalled) => "Sie sind dran: {number}",
        (Lang::De, NoShow) => "Wir haben Sie verpasst: {number}",
        (Lang::Es, Joined) => "Está en la fila: {number}",
        (Lang::Es, Ahead) => "Casi es su turno: {number}",
        (Lang::Es, Called | Recalled) => "Es su turno: {number}",
        (Lang::Es, NoShow) => "No le encontramos: {number}",
        (Lang::En, Reminder) => "Reminder: {queue}, {when}",
        (Lang::Fr, Reminder) => "Rappel : {queue}, {when}",
        (Lang::De, Reminder) => "Erinnerung: {queue}, {when}",
        (Lang::Es, Reminder) => "Recordatorio: {queue}, {when}",
        (Lang::Ja, Joined) => "列に並びました：{number}",
        (Lang::Ja, Ahead) => "まもなく順番です：{number}",
        (Lang::Ja, Called | Recalled) => "順番が来ました：{number}",
        (Lang::Ja, NoShow) => "お呼びしました：{number}",
        (Lang::Ja, Snoozed) => "順番を遅らせました：{number}",
        (Lang::Ja, Reminder) => "リマインダー：{queue}、{when}",
    }
}

/// What fills the placeholders.
#[derive(Debug, Clone, Default)]
pub struct Vars {
    pub number: String,
    pub counter: Option<String>,
    pub ahead: Option<i32>,
    pub queue: String,
    pub ticket_url: String,
    pub when: Option<String>,
}

impl Vars {
    fn get(&self, name: &str) -> String {
        match name {
            "number" => self.number.clone(),
            "counter" => self.counter.clone().unwrap_or_default(),
            "ahead" => self.ahead.map(|n| n.to_string()).unwrap_or_default(),
            "queue" => self.queue.clone(),
            "ticket_url" => self.ticket_url.clone(),
            "when" => self.when.clone().unwrap_or_default(),
            _ => String::new(),
        }
    }
}

/// Fills a template's placeholders (an unknown one is left as it is; saved templates have none).
pub fn fill(template: &str, vars: &Vars) -> String {
    let mut out = String::with_capacity(template.len() + 32);
    let mut rest = template;
    while let Some(open) = rest.find('{') {
        out.push_str(&rest[..open]);
        let after = &rest[open + 1..];
        match after.find('}') {
            Some(close) if PLACEHOLDERS.contains(&&after[..close]) => {
                out.push_str(&vars.get(&after[..close]));
                rest = &after[close + 1..];
            }
            _ => {
                out.push('{');
                rest = after;
            }
        }
    }
    out.push_str(rest);
    out
}

/// A message's words: the text (SMS, push, the e-mail's plain part), the e-mail's subject and
/// HTML part.
#[derive(Debug, Clone, PartialEq)]
pub struct Rendered {
    pub subject: String,
    pub text: String,
    pub html: String,
}

/// Renders `kind` in `lang` from the queue's settings (or the defaults).
pub fn render(settings: &QueueNotify, lang: Lang, kind: MessageKind, vars: &Vars) -> Rendered {
    let template = settings.template(lang, kind).unwrap_or_else(|| default_template(lang, kind));
    let text = fill(template, vars);
    let html = format!(
        "<!doctype html><html lang=\"{}\"><body><p>{}</p><p><a href=\"{}\">{}</a></p></body></html>",
        lang.as_str(),
        escape_html(&text),
        escape_html(&vars.ticket_url),
        // A reminder has no number yet: the link shows itself.
        escape_html(if vars.number.is_empty() { &vars.ticket_url } else { &vars.number }),
    );
    Rendered { subject: fill(subject(lang, kind), vars), text, html }
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;").replace('"', "&quot;")
}

/// GSM 03.38's basic characters: a message of only these fits 160 in a segment, else 70 (UCS-2).
const GSM7: &str = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà";
/// GSM 03.38's extension characters: each takes two septets.
const GSM7_EXT: &str = "^{}\\[~]|€\u{c}";

/// What one segment holds of `text`, in septets or characters, and what `text` takes.
fn segment_cost(text: &str) -> (usize, usize) {
    if text.chars().all(|c| GSM7.contains(c) || GSM7_EXT.contains(c)) {
        (160, text.chars().map(|c| if GSM7_EXT.contains(c) { 2 } else { 1 }).sum())
    } else {
        // UCS-2: a character outside the basic plane takes two units.
        (70, text.chars().map(char::len_utf16).sum())
    }
}

/// Shortens `text` to one SMS segment: cut at a word boundary with `…` when it would not fit.
/// (A segment is 160 GSM-7 septets, or 70 UCS-2 units when any character is outside GSM-7.)
pub fn one_segment(text: &str) -> String {
    let (room, cost) = segment_cost(text);
    if cost <= room {
        return text.to_owned();
    }
    // `…` is not GSM-7: a GSM-7 text cut ends in "..." to stay in its alphabet.
    let gsm = room == 160;
    let ellipsis = if gsm { "..." } else { "…" };
    let budget = room - if gsm { 3 } else { 1 };
    let mut used = 0;
    let mut cut = 0;
    for (i, c) in text.char_indices() {
        let w = if gsm {
            if GSM7_EXT.contains(c) {
                2
            } else {
                1
            }
        } else {
            c.len_utf16()
        };
        if used + w > budget {
            break;
        }
        used += w;
        cut = i + c.len_utf8();
    }
    let head = &text[..cut];
    // Back to the last space when there is one in the second half, so no word is cut.
    let head = match head.rfind(' ') {
        Some(space) if space > head.len() / 2 => &head[..space],
        _ => head,
    };
    format!("{}{ellipsis}", head.trim_end())
}

/// Whether an incoming SMS asks to stop messages ("STOP", "stop all", "ARRET", "UNSUBSCRIBE"…).
pub fn is_opt_out(text: &str) -> bool {
    let word = text.split_whitespace().next().unwrap_or("").to_uppercase();
    matches!(
        word.trim_matches(|c: char| !c.is_alphanumeric()),
        "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" | "ARRET" | "ARRÊT" | "HALT" | "BAJA"
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn events_that_move_a_ticket_or_step_it_back_are_told_with_its_words() {
        use crate::domain::EventKind;
        let ticket = crate::domain::ticket::a_ticket_with_every_field();
        let event = |kind: EventKind, to: Option<&str>| Event {
            seq: 1,
            queue_id: ticket.queue_id,
            kind,
            ticket: Some(ticket.clone()),
            actor: "staff".into(),
            at: ticket.joined_at,
            from: None,
            to: to.map(Into::into),
            queue: None,
            appointment: None,
            line: None,
            presence: None,
        };
        let told = |kind: EventKind, to: Option<&str>| MessageKind::told_by(&event(kind, to));
        assert_eq!(told(EventKind::Joined, Some("waiting")), Some(MessageKind::Joined));
        assert_eq!(told(EventKind::transition("call"), Some("called")), Some(MessageKind::Called));
        assert_eq!(told(EventKind::transition("recall"), Some("called")), Some(MessageKind::Recalled));
        assert_eq!(told(EventKind::transition("no_show"), Some("no_show")), Some(MessageKind::NoShow));
        assert_eq!(told(EventKind::ticket(crate::domain::event::words::SNOOZED), None), Some(MessageKind::Snoozed));
        // Not a moment that is told, or one that moved nothing.
        assert_eq!(told(EventKind::transition("start"), Some("serving")), None);
        assert_eq!(told(EventKind::transition("call"), None), None);
        assert_eq!(told(EventKind::TransferredIn, Some("waiting")), None);
        assert_eq!(told(EventKind::QueueUpdated, None), None);

        assert_eq!(message_vars(&ticket), json!({"number": "VIP007", "counter": "Desk 2", "ahead": 2}));
        let bare = Ticket { counter: None, position: None, ..ticket.clone() };
        assert_eq!(message_vars(&bare), json!({"number": "VIP007"}));
    }

    #[test]
    fn phones_are_kept_in_international_form() {
        assert_eq!(e164("+33 6 12-34-56-78").as_deref(), Some("+33612345678"));
        assert_eq!(e164("(+1) 555.010.9999").as_deref(), Some("+15550109999"));
        for bad in ["0612345678", "+33", "+33 6 12 34 56 78 90 12 34", "+33 6x", "++336123456", "+0612345678", ""] {
            assert_eq!(e164(bad), None, "{bad}");
        }
    }

    #[test]
    fn addresses_are_plain_and_lower_cased() {
        assert_eq!(email_address(" Ada@Example.ORG ").as_deref(), Some("ada@example.org"));
        for bad in ["ada", "ada@", "@example.org", "ada@localhost", "a da@example.org", "<a@b.c>", "a@b..c"] {
            assert_eq!(email_address(bad), None, "{bad}");
        }
    }

    #[test]
    fn contacts_are_refused_with_a_code_per_field() {
        let c = |v: Value| serde_json::from_value::<Contacts>(v).unwrap().checked().map_err(|r| r.code);
        assert_eq!(c(json!({"sms": "+33 612345678", "lang": "fr"})).unwrap().sms.as_deref(), Some("+33612345678"));
        assert_eq!(c(json!({"sms": "12"})), Err("invalid_phone"));
        assert_eq!(c(json!({"email": "nope"})), Err("invalid_email"));
        assert_eq!(c(json!({"lang": "xx"})), Err("unknown_lang"));
        assert_eq!(c(json!({"push": {"endpoint": "ftp://x"}})), Err("invalid_push_subscription"));
        let push = json!({"endpoint": "https://push.example/1", "keys": {"p256dh": "BA", "auth": "x"}});
        assert!(c(json!({ "push": push })).is_ok());
    }

    #[test]
    fn settings_choose_moments_and_words() {
        let s = QueueNotify::parse(Some(&json!({
            "ahead": [3, 1], "recalled": false,
            "templates": {"fr": {"called": "{number} au guichet {counter}"}}
        })))
        .unwrap();
        assert_eq!(s.ahead, vec![3, 1]);
        assert!(s.wants(MessageKind::Called) && !s.wants(MessageKind::Recalled) && s.wants(MessageKind::Ahead));
        let vars = Vars { number: "A042".into(), counter: Some("2".into()), ..Vars::default() };
        assert_eq!(render(&s, Lang::Fr, MessageKind::Called, &vars).text, "A042 au guichet 2");
        // No template for German: the default words.
        assert!(render(&s, Lang::De, MessageKind::Called, &vars).text.contains("Sie sind dran"));
        assert!(!QueueNotify::default().wants(MessageKind::Ahead));
    }

    #[test]
    fn bad_settings_are_refused_with_a_stable_code() {
        let code = |v: Value| QueueNotify::parse(Some(&v)).unwrap_err().code;
        assert_eq!(code(json!({"templates": {"fr": {"called": "{nmber}"}}})), "invalid_template");
        assert_eq!(code(json!({"templates": {"xx": {"called": "hi"}}})), "invalid_template");
        assert_eq!(code(json!({"templates": {"fr": {"called": "{number"}}})), "invalid_template");
        assert_eq!(code(json!({"ahead": [-1]})), "invalid_notify_settings");
        assert_eq!(code(json!({"ahead": [50]})), "invalid_notify_settings");
        assert_eq!(code(json!({"ahead": (0..=10).collect::<Vec<_>>()})), "invalid_notify_settings");
        assert_eq!(code(json!({"shout": true})), "invalid_notify_settings");
        assert_eq!(code(json!({"called": "yes"})), "invalid_notify_settings");
    }

    #[test]
    fn every_language_has_every_message_with_its_parts() {
        let vars = Vars {
            number: "A042".into(),
            counter: Some("Desk 2".into()),
            ahead: Some(3),
            queue: "Main".into(),
            ticket_url: "https://q.example/t/1".into(),
            when: Some("2026-12-02 10:00".into()),
        };
        for lang in Lang::ALL {
            for kind in MessageKind::ALL {
                let r = render(&QueueNotify::default(), lang, kind, &vars);
                // A reminder is before any ticket: it names the time instead of the number.
                let part = if kind == MessageKind::Reminder { "2026-12-02 10:00" } else { "A042" };
                assert!(r.text.contains(part) && !r.text.contains('{'), "{lang:?} {kind:?}: {}", r.text);
                assert!(r.subject.contains(part));
                assert!(r.text.contains("https://q.example/t/1") || !matches!(kind, MessageKind::Reminder));
                check_template(default_template(lang, kind)).unwrap();
                if matches!(kind, MessageKind::Called | MessageKind::Recalled) {
                    assert!(r.text.contains("Desk 2"));
                }
                if kind == MessageKind::Ahead {
                    assert!(r.text.contains('3'));
                }
            }
        }
    }

    #[test]
    fn html_is_escaped() {
        let vars = Vars { number: "<b>".into(), ticket_url: "https://x/?a=1&b=2".into(), ..Vars::default() };
        let r = render(&QueueNotify::default(), Lang::En, MessageKind::Joined, &vars);
        assert!(r.html.contains("&lt;b&gt;") && r.html.contains("a=1&amp;b=2"));
        assert!(r.text.contains("<b>"));
    }

    #[test]
    fn a_long_sms_is_cut_to_one_segment_at_a_word() {
        let short = "It's your turn: A042, desk 2.";
        assert_eq!(one_segment(short), short);
        let long = "word ".repeat(40);
        let cut = one_segment(&long);
        assert!(cut.len() <= 160 && cut.ends_with("...") && cut.trim_end_matches("...").ends_with("word"), "{cut}");
        // Outside GSM-7 (a Greek small letter is not in it): 70 units.
        let greek = "αβγ ".repeat(30);
        let cut = one_segment(&greek);
        assert!(cut.encode_utf16().count() <= 70 && cut.ends_with('…'), "{cut}");
        // Japanese has no spaces to cut at: cut at a character, within 70 units.
        let vars = Vars {
            number: "A042".into(),
            queue: "中央窓口".into(),
            ticket_url: "https://q.example/t/1".into(),
            ..Vars::default()
        };
        let ja = render(&QueueNotify::default(), Lang::Ja, MessageKind::NoShow, &vars).text;
        let cut = one_segment(&format!("{ja}{ja}"));
        assert!(cut.encode_utf16().count() <= 70 && cut.ends_with('…') && cut.starts_with("中央窓口"), "{cut}");
        // Exactly one segment stays whole; extension characters count twice.
        assert_eq!(one_segment(&"a".repeat(160)), "a".repeat(160));
        assert_ne!(one_segment(&format!("{}€", "a".repeat(159))), format!("{}€", "a".repeat(159)));
    }

    #[test]
    fn stop_words_opt_out() {
        for yes in ["STOP", "stop", " Stop all", "ARRET", "unsubscribe.", "STOP!"] {
            assert!(is_opt_out(yes), "{yes}");
        }
        for no in ["", "stopping by", "hello", "YES"] {
            assert!(!is_opt_out(no), "{no}");
        }
    }
}
