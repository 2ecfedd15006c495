//! The exit statuses of every `medchain` command: one table, printed by `medchain --help` and
//! documented in docs/cli.md, so scripts can branch without parsing the output.

use std::process::ExitCode;

/// How a command ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Status {
    /// Done: the command did what was asked (a query found and verified its answer).
    Ok,
    /// Failed: node unreachable, answer unverifiable, transaction refused, file unreadable, ….
    Error,
    /// The command line is wrong (clap's own usage status): bad flag, value or combination.
    Usage,
    /// An access request was finalized and the chain denied it (it is still logged).
    Denied,
    /// The thing asked for does not exist: a state value proven absent, an unknown
    /// transaction, a block not finalized yet.
    NotFound,
    /// A transaction the node had accepted was dropped before reaching a block (its reason is
    /// printed).
    Dropped,
    /// `revocation check`: the doctor is on the revocation list (proven).
    Revoked,
    /// A hospital gateway refused to release a record (and logged the refusal on chain).
    Refused,
    /// `doctor emergency`: no EMR entry of the patient opens with the template given.
    WrongTemplate,
    /// Not enough tokens: the balance or the coins cannot pay the amount and the fee (the
    /// message says what the account holds and how to fund it).
    Unaffordable,
}

impl Status {
    /// Every status, in numeric order.
    pub const ALL: [Self; 10] = [
        Self::Ok,
        Self::Error,
        Self::Usage,
        Self::Denied,
        Self::NotFound,
        Self::Dropped,
        Self::Revoked,
        Self::Refused,
        Self::WrongTemplate,
        Self::Unaffordable,
    ];

    /// The number the process exits with.
    pub fn code(self) -> u8 {
        match self {
            Self::Ok => 0,
            Self::Error => 1,
            Self::Usage => 2,
            Self::Denied => 3,
            Self::NotFound => 4,
            Self::Dropped => 5,
            Self::Revoked => 6,
            Self::Refused => 7,
            Self::WrongTemplate => 8,
            Self::Unaffordable => 9,
        }
    }

    fn meaning(self) -> &'static str {
        match self {
            Self::Ok => "ok",
            Self::Error => "error (unreachable node, unverifiable answer, refused transaction, …)",
            Self::Usage => "usage: a wrong flag, value or combination of arguments",
            Self::Denied => "an access request was denied by the chain (and logged)",
            Self::NotFound => "not found: proven absent, unknown transaction, or no such block",
            Self::Dropped => "a transaction the node accepted was dropped before a block",
            Self::Revoked => "`revocation check`: the doctor is on the revocation list (proven)",
            Self::Refused => {
                "a hospital gateway refused to release a record (the refusal is logged on chain)"
            }
            Self::WrongTemplate => {
                "`doctor emergency`: no EMR entry of the patient opens with this template"
            }
            Self::Unaffordable => {
                "not enough tokens to pay the amount and the fee (`medchain token balance`)"
            }
        }
    }

    /// The table, for `--help`.
    pub fn table() -> String {
        let rows: Vec<String> = Self::ALL
            .iter()
            .map(|status| format!("  {}  {}", status.code(), status.meaning()))
            .collect();
        format!("Exit status:\n{}", rows.join("\n"))
    }
}

impl From<Status> for ExitCode {
    fn from(status: Status) -> Self {
        Self::from(status.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_distinct_and_in_order() {
        let codes: Vec<u8> = Status::ALL.iter().map(|s| s.code()).collect();
        assert_eq!(codes, [0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        assert!(Status::table().contains("  4  not found"));
    }
}
