//! The command center's domain: incident states and the actions that move them, roles and
//! village scopes. Pure.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

/// Where an incident stands for the command center.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum State {
    /// Not yet seen by an operator.
    New,
    /// An operator has seen it.
    Acknowledged,
    /// Someone was sent (village doctor, neighbour, police).
    Dispatched,
    /// Dealt with.
    Resolved,
    /// Not a real event.
    FalseAlarm,
}

impl State {
    pub const ALL: [State; 5] = [
        State::New,
        State::Acknowledged,
        State::Dispatched,
        State::Resolved,
        State::FalseAlarm,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            State::New => "new",
            State::Acknowledged => "acknowledged",
            State::Dispatched => "dispatched",
            State::Resolved => "resolved",
            State::FalseAlarm => "false_alarm",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|x| x.as_str() == s)
    }

    /// Resolved or false alarm: nothing more to do.
    pub fn is_closed(self) -> bool {
        matches!(self, State::Resolved | State::FalseAlarm)
    }
}

/// What an operator does to an incident.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Acknowledge,
    Dispatch,
    Resolve,
    FalseAlarm,
}

impl Action {
    pub fn as_str(self) -> &'static str {
        match self {
            Action::Acknowledge => "acknowledge",
            Action::Dispatch => "dispatch",
            Action::Resolve => "resolve",
            Action::FalseAlarm => "false_alarm",
        }
    }
}

/// The state `action` leads to from `state`, or why it cannot be done.
///
/// new → acknowledged → dispatched → resolved; resolve is also allowed straight from
/// acknowledged (nobody needed to go); false alarm from any open state. Closed incidents stay
/// closed (a new event opens a new incident).
pub fn transition(state: State, action: Action) -> Result<State, String> {
    use Action as A;
    use State as S;
    match (state, action) {
        (S::New, A::Acknowledge) => Ok(S::Acknowledged),
        (S::Acknowledged, A::Dispatch) => Ok(S::Dispatched),
        (S::Acknowledged | S::Dispatched, A::Resolve) => Ok(S::Resolved),
        (S::New | S::Acknowledged | S::Dispatched, A::FalseAlarm) => Ok(S::FalseAlarm),
        (s, a) => Err(format!(
            "cannot {} an incident that is {}",
            a.as_str(),
            s.as_str()
        )),
    }
}

/// What a user may do.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Role {
    /// Everything, every village; manages users.
    Admin,
    /// Sees and acts on the alerts and cameras of their villages.
    Operator,
    /// Sees (read-only) the alerts and cameras of their villages.
    Viewer,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Operator => "operator",
            Role::Viewer => "viewer",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        [Role::Admin, Role::Operator, Role::Viewer]
            .into_iter()
            .find(|r| r.as_str() == s)
    }
}

/// A signed-in user as requests see them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
pub struct User {
    pub username: String,
    pub role: Role,
    /// The villages an operator or viewer is scoped to; ignored for an admin.
    pub villages: BTreeSet<String>,
}

impl User {
    /// Whether this user may see what happens in `village`.
    pub fn sees(&self, village: &str) -> bool {
        self.role == Role::Admin || self.villages.contains(village)
    }

    /// Whether this user may act on incidents of `village`.
    pub fn may_act(&self, village: &str) -> bool {
        self.role != Role::Viewer && self.sees(village)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loop_and_its_shortcuts() {
        use Action as A;
        use State as S;
        assert_eq!(transition(S::New, A::Acknowledge), Ok(S::Acknowledged));
        assert_eq!(transition(S::Acknowledged, A::Dispatch), Ok(S::Dispatched));
        assert_eq!(transition(S::Dispatched, A::Resolve), Ok(S::Resolved));
        assert_eq!(transition(S::Acknowledged, A::Resolve), Ok(S::Resolved));
        for s in [S::New, S::Acknowledged, S::Dispatched] {
            assert_eq!(transition(s, A::FalseAlarm), Ok(S::FalseAlarm));
        }
        assert_eq!(
            transition(S::New, A::Resolve),
            Err("cannot resolve an incident that is new".into()),
            "acknowledge first"
        );
        assert!(transition(S::New, A::Dispatch).is_err());
        for s in [S::Resolved, S::FalseAlarm] {
            for a in [A::Acknowledge, A::Dispatch, A::Resolve, A::FalseAlarm] {
                assert!(transition(s, a).is_err(), "{s:?} {a:?}");
            }
        }
    }

    #[test]
    fn scopes_by_village_and_role() {
        let op = User {
            username: "op".into(),
            role: Role::Operator,
            villages: ["Xiaohe".to_string()].into_iter().collect(),
        };
        assert!(op.sees("Xiaohe") && op.may_act("Xiaohe"));
        assert!(!op.sees("Dahe") && !op.may_act("Dahe"));
        let viewer = User {
            role: Role::Viewer,
            ..op.clone()
        };
        assert!(viewer.sees("Xiaohe") && !viewer.may_act("Xiaohe"));
        let admin = User {
            role: Role::Admin,
            villages: BTreeSet::new(),
            ..op
        };
        assert!(admin.sees("anywhere") && admin.may_act("anywhere"));
    }
}
