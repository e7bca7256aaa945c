//! Ticket state machines: `{"init", "states", "transitions": [{"name", "from", "to"}]}`.
//!
//! A ticket type's machine is validated once when it is saved and parsed into an [`Fsm`]; the
//! write path then asks it which states a transition may start from and where it leads. Tickets
//! in the `init` state are in line. Three transition names mean something to the server (see
//! [`Special`]): `call` (what call-next applies, so it must leave `init`), `recall` (re-announces
//! a call) and `start` (service begins). Entering a state with no way out finishes the ticket.
//!
//! States that mean something to counts, estimates and reports are named by **roles** rather
//! than by name (`"roles": {"absent": "no_show", "abandoned": "cancelled", "expired": "expired"}`),
//! so a machine whose absent state is called `missed` is counted right. A machine saved without
//! roles gets each role whose conventional state name it has.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};
use serde_json::Value;

const MAX_STATES: usize = 32;
const MAX_TRANSITIONS: usize = 64;

/// Names that event kinds already use (`ticket.joined`, `ticket.transferred_in`, …).
const RESERVED_NAMES: [&str; 3] = ["joined", "transferred_in", "transferred_out"];

/// A validated state machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fsm {
    init: String,
    states: Vec<String>,
    transitions: Vec<Transition>,
    roles: Roles,
}

/// The transitions whose names the server gives a meaning to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Special {
    /// What call-next applies: leaves the line for a counter.
    Call,
    /// Calls the same person again.
    Recall,
    /// Service begins.
    Start,
}

impl Special {
    pub const fn name(self) -> &'static str {
        match self {
            Special::Call => "call",
            Special::Recall => "recall",
            Special::Start => "start",
        }
    }

    /// The word its event is named by (`ticket.called`): checked for every event a hub applies,
    /// so spelled out rather than made each time.
    pub const fn event_word(self) -> &'static str {
        match self {
            Special::Call => "called",
            Special::Recall => "recalled",
            Special::Start => "started",
        }
    }

    pub fn of(transition: &str) -> Option<Special> {
        [Special::Call, Special::Recall, Special::Start].into_iter().find(|s| s.name() == transition)
    }
}

/// The states that counts, estimates and reports look for, each optional.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Roles {
    /// Called but did not come (counted as a no-show; holds no counter).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub absent: Option<String>,
    /// Left the line (counted as cancelled; abandoned when never called).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub abandoned: Option<String>,
    /// Waited past the queue's time limit.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expired: Option<String>,
}

impl Roles {
    /// `(role, state)` for each role given.
    fn given(&self) -> impl Iterator<Item = (&'static str, &str)> {
        [("absent", &self.absent), ("abandoned", &self.abandoned), ("expired", &self.expired)]
            .into_iter()
            .filter_map(|(role, state)| state.as_deref().map(|s| (role, s)))
    }

    /// Each role whose conventional state name the machine has (other than its init state, so
    /// a machine saved before roles existed always still parses).
    fn conventional(states: &BTreeSet<&str>, init: &str) -> Roles {
        let named = |s: &str| (states.contains(s) && s != init).then(|| s.to_owned());
        Roles { absent: named("no_show"), abandoned: named("cancelled"), expired: named("expired") }
    }
}

/// One named transition: from any of `from` to `to`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Transition {
    pub name: String,
    pub from: Vec<String>,
    pub to: String,
}

/// Why a machine was refused, or why a transition cannot happen.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FsmError {
    #[error("the state machine is not of the form {{init, states, transitions}}: {0}")]
    Shape(String),
    #[error("{0}")]
    Invalid(String),
    #[error("no transition `{name}` from `{from}`")]
    NotAllowed { name: String, from: String },
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFsm {
    init: String,
    states: Vec<String>,
    transitions: Vec<RawTransition>,
    #[serde(default)]
    roles: Option<Roles>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawTransition {
    name: String,
    from: OneOrMany,
    to: String,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum OneOrMany {
    One(String),
    Many(Vec<String>),
}

fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    matches!(chars.next(), Some('a'..='z'))
        && name.len() <= 32
        && chars.all(|c| matches!(c, 'a'..='z' | '0'..='9' | '_'))
}

impl Fsm {
    /// Parses and validates a machine as clients send it.
    pub fn parse(value: &Value) -> Result<Fsm, FsmError> {
        let raw: RawFsm = serde_json::from_value(value.clone()).map_err(|e| FsmError::Shape(e.to_string()))?;
        let invalid = |msg: String| Err(FsmError::Invalid(msg));

        if raw.states.is_empty() || raw.states.len() > MAX_STATES {
            return invalid(format!("a machine has 1 to {MAX_STATES} states"));
        }
        let mut states = BTreeSet::new();
        for s in &raw.states {
            if !valid_name(s) {
                return invalid(format!("state `{s}` is not a lowercase name (a-z, 0-9, _; at most 32)"));
            }
            if !states.insert(s.as_str()) {
                return invalid(format!("state `{s}` is listed twice"));
            }
        }
        if !states.contains(raw.init.as_str()) {
            return invalid(format!("init state `{}` is not among the states", raw.init));
        }
        if raw.transitions.is_empty() || raw.transitions.len() > MAX_TRANSITIONS {
            return invalid(format!("a machine has 1 to {MAX_TRANSITIONS} transitions"));
        }

        let mut names = BTreeSet::new();
        let mut transitions = Vec::with_capacity(raw.transitions.len());
        for t in raw.transitions {
            if !valid_name(&t.name) {
                return invalid(format!("transition `{}` is not a lowercase name", t.name));
            }
            if RESERVED_NAMES.contains(&t.name.as_str()) {
                return invalid(format!("transition name `{}` is reserved", t.name));
            }
            if !names.insert(t.name.clone()) {
                return invalid(format!("transition `{}` is defined twice", t.name));
            }
            let from = match t.from {
                OneOrMany::One(s) => vec![s],
                OneOrMany::Many(v) => v,
            };
            if from.is_empty() {
                return invalid(format!("transition `{}` has no `from` state", t.name));
            }
            for s in from.iter().chain(std::iter::once(&t.to)) {
                if !states.contains(s.as_str()) {
                    return invalid(format!("transition `{}` names unknown state `{s}`", t.name));
                }
            }
            transitions.push(Transition { name: t.name, from, to: t.to });
        }

        let roles = match raw.roles {
            Some(roles) => roles,
            None => Roles::conventional(&states, &raw.init),
        };
        let mut taken = BTreeSet::new();
        for (role, state) in roles.given() {
            if !states.contains(state) {
                return invalid(format!("role `{role}` names unknown state `{state}`"));
            }
            if state == raw.init {
                return invalid(format!("role `{role}` cannot be the init state `{state}`: tickets in it are in line"));
            }
            if !taken.insert(state) {
                return invalid(format!("state `{state}` has two roles"));
            }
        }

        let fsm = Fsm { init: raw.init, states: raw.states, transitions, roles };
        match fsm.transition(Special::Call.name()) {
            Some(call) if call.from.contains(&fsm.init) && call.to != fsm.init => Ok(fsm),
            _ => invalid(format!(
                "a machine needs a `call` transition out of its init state `{}` (call-next applies it)",
                fsm.init
            )),
        }
    }

    /// The built-in `default` type of the protocol.
    pub fn default_type() -> Fsm {
        // unwrap: a constant that the tests below parse.
        Fsm::parse(&default_type_json()).unwrap()
    }

    /// The state new tickets start in; tickets in it are in line.
    pub fn init(&self) -> &str {
        &self.init
    }

    pub fn states(&self) -> &[String] {
        &self.states
    }

    pub fn roles(&self) -> &Roles {
        &self.roles
    }

    /// The states with no way out, in the machine's order.
    pub fn final_states(&self) -> Vec<&str> {
        self.states.iter().map(String::as_str).filter(|s| self.is_terminal(s)).collect()
    }

    /// The state a special transition leads to, when the machine has it.
    pub fn leads_to(&self, special: Special) -> Option<&str> {
        self.transition(special.name()).map(|t| t.to.as_str())
    }

    pub fn transition(&self, name: &str) -> Option<&Transition> {
        self.transitions.iter().find(|t| t.name == name)
    }

    /// The first transition (in the machine's order) from `from` straight to `to`.
    pub fn transition_between(&self, from: &str, to: &str) -> Option<&str> {
        self.transitions.iter().find(|t| t.to == to && t.from.iter().any(|s| s == from)).map(|t| t.name.as_str())
    }

    /// Where `name` leads from `from`, or why it cannot be taken.
    pub fn check(&self, from: &str, name: &str) -> Result<&Transition, FsmError> {
        match self.transition(name) {
            Some(t) if t.from.iter().any(|s| s == from) => Ok(t),
            _ => Err(FsmError::NotAllowed { name: name.to_owned(), from: from.to_owned() }),
        }
    }

    /// A state with no way out: entering it finishes the ticket.
    pub fn is_terminal(&self, state: &str) -> bool {
        !self.transitions.iter().any(|t| t.from.iter().any(|s| s == state))
    }

    /// The machine in the form clients send, with its roles.
    pub fn to_json(&self) -> Value {
        serde_json::json!({
            "init": self.init,
            "states": self.states,
            "transitions": self.transitions,
            "roles": self.roles,
        })
    }
}

/// `waiting → called → serving → completed`, with recall, no-show, requeue and cancel. `expired`
/// has no transition: only the server puts a ticket there, when it waited past the queue's
/// `ticket_ttl_minutes` (its `expired` role, by its conventional name).
pub fn default_type_json() -> Value {
    serde_json::json!({
        "init": "waiting",
        "states": ["waiting", "called", "serving", "completed", "cancelled", "no_show", "expired"],
        "transitions": [
            {"name": "call", "from": "waiting", "to": "called"},
            {"name": "recall", "from": "called", "to": "called"},
            {"name": "start", "from": "called", "to": "serving"},
            {"name": "complete", "from": "serving", "to": "completed"},
            {"name": "no_show", "from": "called", "to": "no_show"},
            {"name": "requeue", "from": ["called", "no_show"], "to": "waiting"},
            {"name": "cancel", "from": ["waiting", "called"], "to": "cancelled"}
        ]
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn refused(v: Value) -> String {
        Fsm::parse(&v).unwrap_err().to_string()
    }

    fn pharmacy(roles: Option<Value>) -> Value {
        let mut doc = json!({
            "init": "received",
            "states": ["received", "in_progress", "ready", "completed", "missed", "withdrawn"],
            "transitions": [
                {"name": "call", "from": "received", "to": "in_progress"},
                {"name": "ready", "from": "in_progress", "to": "ready"},
                {"name": "complete", "from": "ready", "to": "completed"},
                {"name": "miss", "from": "ready", "to": "missed"},
                {"name": "withdraw", "from": ["received", "in_progress"], "to": "withdrawn"}
            ]
        });
        if let Some(roles) = roles {
            doc["roles"] = roles;
        }
        doc
    }

    #[test]
    fn the_default_type_names_its_absent_and_abandoned_states_by_role() {
        let fsm = Fsm::default_type();
        assert_eq!(fsm.roles().absent.as_deref(), Some("no_show"));
        assert_eq!(fsm.roles().abandoned.as_deref(), Some("cancelled"));
        assert_eq!(fsm.roles().expired.as_deref(), Some("expired"));
        assert_eq!(fsm.final_states(), ["completed", "cancelled", "expired"]);
        assert_eq!(fsm.leads_to(Special::Call), Some("called"));
        assert_eq!(fsm.transition_between("called", "no_show"), Some("no_show"));
        assert_eq!(fsm.transition_between("waiting", "expired"), None, "only the server expires a ticket");
        assert_eq!(
            fsm.to_json()["roles"],
            json!({"absent": "no_show", "abandoned": "cancelled", "expired": "expired"})
        );
    }

    #[test]
    fn a_custom_type_names_its_own_absent_state_and_roles_are_checked() {
        let fsm = Fsm::parse(&pharmacy(Some(json!({"absent": "missed", "abandoned": "withdrawn"})))).unwrap();
        assert_eq!(fsm.roles().absent.as_deref(), Some("missed"));
        assert_eq!(Fsm::parse(&fsm.to_json()).unwrap(), fsm);
        // Without roles, none of its states has a conventional name: no role.
        assert_eq!(Fsm::parse(&pharmacy(None)).unwrap().roles(), &Roles::default());

        assert!(refused(pharmacy(Some(json!({"absent": "gone"})))).contains("role `absent` names unknown state `gone`"));
        assert!(refused(pharmacy(Some(json!({"absent": "received"})))).contains("cannot be the init state"));
        assert!(refused(pharmacy(Some(json!({"absent": "missed", "expired": "missed"})))).contains("two roles"));
        assert!(refused(pharmacy(Some(json!({"late": "missed"})))).contains("unknown field"));
    }

    #[test]
    fn the_default_type_has_the_protocols_states_and_transitions() {
        let fsm = Fsm::default_type();
        assert_eq!(fsm.init(), "waiting");
        assert_eq!(fsm.check("waiting", "call").unwrap().to, "called");
        assert_eq!(fsm.check("called", "recall").unwrap().to, "called");
        assert_eq!(fsm.check("called", "start").unwrap().to, "serving");
        assert_eq!(fsm.check("serving", "complete").unwrap().to, "completed");
        assert_eq!(fsm.check("called", "no_show").unwrap().to, "no_show");
        assert_eq!(fsm.check("no_show", "requeue").unwrap().to, "waiting");
        assert_eq!(fsm.check("called", "requeue").unwrap().to, "waiting");
        assert_eq!(fsm.check("waiting", "cancel").unwrap().to, "cancelled");
        assert_eq!(fsm.check("called", "cancel").unwrap().to, "cancelled");
        for terminal in ["completed", "cancelled", "expired"] {
            assert!(fsm.is_terminal(terminal), "{terminal}");
        }
        assert!(!fsm.is_terminal("no_show"), "a no-show can still be requeued");
        assert!(!fsm.is_terminal("waiting"));
    }

    #[test]
    fn transitions_not_in_the_machine_are_refused() {
        let fsm = Fsm::default_type();
        for (from, name) in [
            ("waiting", "start"),
            ("waiting", "complete"),
            ("waiting", "recall"),
            ("called", "complete"),
            ("serving", "cancel"),
            ("completed", "requeue"),
            ("cancelled", "call"),
            ("waiting", "teleport"),
        ] {
            assert_eq!(fsm.check(from, name), Err(FsmError::NotAllowed { name: name.into(), from: from.into() }));
        }
    }

    #[test]
    fn from_may_be_one_state_or_a_list() {
        let fsm = Fsm::parse(&json!({
            "init": "in_line", "states": ["in_line", "at_desk", "done"],
            "transitions": [
                {"name": "call", "from": "in_line", "to": "at_desk"},
                {"name": "finish", "from": ["in_line", "at_desk"], "to": "done"}
            ]
        }))
        .unwrap();
        assert_eq!(fsm.transition("finish").unwrap().from, vec!["in_line", "at_desk"]);
        assert!(fsm.is_terminal("done"));
        assert_eq!(Fsm::parse(&fsm.to_json()).unwrap(), fsm, "to_json round-trips");
    }

    #[test]
    fn malformed_machines_are_refused_with_a_reason() {
        let ok_transitions = json!([{"name": "call", "from": "a", "to": "b"}]);
        assert!(refused(json!({"init": "a"})).contains("not of the form"));
        assert!(refused(json!({"init": "a", "states": ["a","b"], "transitions": ok_transitions, "x": 1}))
            .contains("unknown field"));
        assert!(refused(json!({"init": "z", "states": ["a","b"], "transitions": ok_transitions}))
            .contains("init state `z`"));
        assert!(refused(json!({"init": "a", "states": ["a","a"], "transitions": ok_transitions})).contains("twice"));
        assert!(refused(json!({"init": "a", "states": ["a","B"], "transitions": ok_transitions})).contains("lowercase"));
        assert!(refused(json!({"init": "a", "states": [], "transitions": ok_transitions})).contains("1 to"));
        assert!(refused(json!({"init": "a", "states": ["a","b"], "transitions": []})).contains("1 to"));
        assert!(refused(json!({"init": "a", "states": ["a","b"],
            "transitions": [{"name": "call", "from": "a", "to": "c"}]}))
        .contains("unknown state `c`"));
        assert!(refused(json!({"init": "a", "states": ["a","b"],
            "transitions": [{"name": "call", "from": [], "to": "b"}]}))
        .contains("no `from`"));
        assert!(refused(json!({"init": "a", "states": ["a","b"], "transitions": [
            {"name": "call", "from": "a", "to": "b"}, {"name": "call", "from": "b", "to": "a"}]}))
        .contains("defined twice"));
        assert!(refused(json!({"init": "a", "states": ["a","b"], "transitions": [
            {"name": "call", "from": "a", "to": "b"}, {"name": "joined", "from": "b", "to": "a"}]}))
        .contains("reserved"));
        assert!(refused(json!({"init": "a", "states": ["a","b"],
            "transitions": [{"name": "go", "from": "a", "to": "b"}]}))
        .contains("needs a `call`"));
        assert!(refused(json!({"init": "a", "states": ["a","b"],
            "transitions": [{"name": "call", "from": "b", "to": "a"}]}))
        .contains("needs a `call`"));
        let many: Vec<String> = (0..40).map(|i| format!("s{i}")).collect();
        assert!(refused(json!({"init": "s0", "states": many, "transitions": ok_transitions})).contains("1 to 32"));
    }
}

#[cfg(test)]
mod props {
    use proptest::prelude::*;
    use serde_json::{json, Value};

    use super::*;

    /// Any JSON at all, a few levels deep.
    fn any_json() -> impl Strategy<Value = Value> {
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::from),
            any::<i64>().prop_map(Value::from),
            "[a-z_]{0,6}".prop_map(Value::from),
        ];
        leaf.prop_recursive(3, 24, 4, |inner| {
            prop_oneof![
                prop::collection::vec(inner.clone(), 0..4).prop_map(Value::from),
                prop::collection::btree_map("init|states|transitions|name|from|to|[a-z]{1,3}", inner, 0..4)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// Machines made of a few names: mostly well formed, sometimes not (an unknown init, a
    /// reserved or malformed transition name, no `call`, a call that stays put).
    fn machine() -> impl Strategy<Value = Value> {
        prop::sample::subsequence(vec!["waiting", "called", "serving", "done", "gone"], 1..=5)
            .prop_flat_map(|states| {
                let pick = prop::sample::select(states.clone());
                let init = prop_oneof![9 => pick.clone(), 1 => Just("nowhere")];
                let transitions =
                    prop::sample::subsequence(vec!["call", "start", "finish", "recall", "seq", "Bad"], 1..=6)
                        .prop_flat_map(move |names| {
                            let n = names.len();
                            let ends = (prop::collection::vec(pick.clone(), 1..3), pick.clone());
                            (Just(names), prop::collection::vec(ends, n))
                        })
                        .prop_map(|(names, ends)| {
                            names
                                .into_iter()
                                .zip(ends)
                                .map(|(name, (from, to))| json!({"name": name, "from": from, "to": to}))
                                .collect::<Vec<_>>()
                        });
                (Just(states), init, transitions)
            })
            .prop_map(|(states, init, transitions)| json!({"init": init, "states": states, "transitions": transitions}))
    }

    proptest! {
        #[test]
        fn any_document_is_refused_or_accepted_without_panic(doc in any_json()) {
            let _ = Fsm::parse(&doc);
        }

        /// What is accepted is coherent: its states are named, its transitions join them, a call
        /// leaves the init state, it survives its own JSON, and `check` follows its table.
        #[test]
        fn an_accepted_machine_is_coherent(doc in machine()) {
            let Ok(fsm) = Fsm::parse(&doc) else { return Ok(()) };
            prop_assert!(fsm.states().contains(&fsm.init().to_owned()));
            let call = fsm.transition("call").unwrap();
            prop_assert!(call.from.contains(&fsm.init().to_owned()) && call.to != fsm.init());
            prop_assert_eq!(Fsm::parse(&fsm.to_json()).unwrap(), fsm.clone());
            for state in fsm.states() {
                for name in ["call", "start", "finish", "seq"] {
                    let allowed = fsm.transition(name).is_some_and(|t| t.from.contains(state));
                    prop_assert_eq!(fsm.check(state, name).is_ok(), allowed);
                }
            }
        }
    }
}
