//! What can make a `medchain` command fail. Messages say what to do next.

use crate::exit::Status;
use medchain_client::{ClientError, build::BuildError, keys::KeyError};
use medchain_gateway::{blobs::SealError, client::GatewayClientError, patient::OpenRecordError};
use medchain_types::TxId;
use std::path::PathBuf;

/// A command's failure.
#[derive(Debug, thiserror::Error)]
pub enum CliError {
    /// A client call failed (node unreachable, refused, unverifiable, …).
    #[error(transparent)]
    Client(#[from] ClientError),
    /// An enrolment did not complete.
    #[error(transparent)]
    Enrol(#[from] medchain_client::enrol::EnrolError),
    /// A key or genesis file is unusable.
    #[error(transparent)]
    Key(#[from] KeyError),
    /// A transaction could not be built from the arguments.
    #[error(transparent)]
    Build(#[from] BuildError),
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file.
        path: PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// No genesis file was given and none was found where the devnet writes it.
    #[error(
        "no genesis document: pass --genesis FILE (or set MEDCHAIN_GENESIS); `medchain devnet` writes ./.devnet/genesis.json"
    )]
    NoGenesis,
    /// A query's answer is far behind another validator's newest finalized block.
    #[error(
        "the answer from {answered_by} is at {answer}, but {cross_check} has finalized {newest}: {lag} blocks later, more than --max-lag {max_lag}. {answered_by} is behind or serving an old state; ask another node (--node URL)"
    )]
    Stale {
        /// The node that answered.
        answered_by: String,
        /// The answer's block.
        answer: String,
        /// The node cross-checked with.
        cross_check: String,
        /// Its newest finalized block.
        newest: String,
        /// Blocks between them.
        lag: u64,
        /// The tolerance.
        max_lag: u64,
    },
    /// Data that is not what it should be: a node's answers that contradict each other (a
    /// listed entry proven absent), a file that is not a saved answer.
    #[error("{0}")]
    Inconsistent(String),
    /// What was asked for does not exist (proven absent where the chain can prove it).
    #[error("not found: {0}")]
    NotFound(String),
    /// Bad arguments clap could not catch.
    #[error("{0}")]
    Usage(String),
    /// `medchain init` refused or failed.
    #[error("init: {0}")]
    Init(String),
    /// `medchain node` stopped with an error.
    #[error("node: {0}")]
    Node(String),
    /// `medchain hospital` could not start.
    #[error("hospital gateway: {0}")]
    Hospital(String),
    /// `medchain portal` could not start.
    #[error("portal: {0}")]
    Portal(String),
    /// `medchain devnet` could not start or supervise its validators.
    #[error("devnet: {0}")]
    Devnet(String),
    /// A hospital gateway failed or refused (a refusal is exit status 7).
    #[error(transparent)]
    Gateway(#[from] GatewayClientError),
    /// A TAKA message, state or key did not check out.
    #[error("TAKA: {0}")]
    Taka(#[from] taka::Error),
    /// A record's blob does not open as the record the chain names (wrong key, altered
    /// bytes, or contents that do not hash to hEMR).
    #[error("{0}; the record was NOT accepted")]
    Sealed(#[from] SealError),
    /// No EMR entry of the patient opens with the template given.
    #[error("{0}")]
    WrongTemplate(String),
    /// The account cannot pay: what it holds, what is needed, and how to fund it.
    #[error("not enough tokens: {0}")]
    Unaffordable(String),
    /// A research flow stopped (the study is closed, a proxy cheated, a key does not fit, …);
    /// the message says what to do next.
    #[error("{0}")]
    Research(medchain_research::ResearchError),
    /// `medchain cloud` could not start.
    #[error("cloud proxy: {0}")]
    Cloud(String),
    /// A light MED node stopped: a header or an inclusion proof did not verify, or the node's
    /// MED chain is not the one SUP checkpointed.
    #[error("MED: {0}")]
    Med(medchain_client::med::LightMedError),
    /// A file that is not what the command expects (a hello, a grant, a stored state).
    #[error("{path}: {reason}")]
    BadFile {
        /// The file.
        path: PathBuf,
        /// What is wrong with it, and what to do.
        reason: String,
    },
}

impl From<OpenRecordError> for CliError {
    fn from(error: OpenRecordError) -> Self {
        match error {
            OpenRecordError::Gateway(error) => Self::Gateway(error),
            OpenRecordError::Seal(error) => Self::Sealed(error),
            OpenRecordError::NotYours { .. } => Self::Usage(error.to_string()),
            other => Self::Inconsistent(other.to_string()),
        }
    }
}

impl From<medchain_client::med::LightMedError> for CliError {
    fn from(error: medchain_client::med::LightMedError) -> Self {
        match error {
            medchain_client::med::LightMedError::Client(error) => Self::Client(error),
            other => Self::Med(other),
        }
    }
}

impl From<medchain_research::ResearchError> for CliError {
    fn from(error: medchain_research::ResearchError) -> Self {
        use medchain_research::ResearchError;
        match error {
            ResearchError::Client(error) => Self::Client(error),
            ResearchError::Build(error) => Self::Build(error),
            ResearchError::UnknownStudy(_) | ResearchError::UnknownEnrolment(_) => {
                Self::NotFound(error.to_string())
            }
            other => Self::Research(other),
        }
    }
}

impl CliError {
    /// Wraps an I/O error with the file it concerns.
    pub fn io(path: impl Into<PathBuf>) -> impl FnOnce(std::io::Error) -> Self {
        let path = path.into();
        move |source| Self::Io { path, source }
    }
}

impl CliError {
    /// The exit status this failure ends the command with (see [`Status`]).
    pub fn status(&self) -> Status {
        match self {
            Self::Usage(_) | Self::Build(_) | Self::Client(ClientError::Build(_)) => Status::Usage,
            Self::Client(ClientError::AmbiguousId { .. }) => Status::Usage,
            Self::Client(ClientError::NoSuchId { .. }) | Self::NotFound(_) => Status::NotFound,
            Self::Client(error) if error.api_code() == Some("not_found") => Status::NotFound,
            Self::Client(ClientError::Dropped { .. }) => Status::Dropped,
            Self::Gateway(GatewayClientError::Refused { .. }) => Status::Refused,
            Self::WrongTemplate(_) => Status::WrongTemplate,
            Self::Unaffordable(_) => Status::Unaffordable,
            Self::Client(error) if error.api_code().is_some_and(is_unaffordable) => {
                Status::Unaffordable
            }
            _ => Status::Error,
        }
    }

    /// The failure as printed: what went wrong, then what to do next. For a node's refusal
    /// the next step is the CLI's own where it knows better than the node's API-level hint.
    pub fn report(&self) -> String {
        match self {
            Self::Client(ClientError::Api { status, body }) => format!(
                "the node refused ({status} {}): {}\nhint: {}",
                body.error,
                body.message,
                cli_hint(&body.error).unwrap_or(&body.hint)
            ),
            Self::Gateway(GatewayClientError::Refused {
                code,
                message,
                access_tx,
            }) => refusal_report(code, message, access_tx.as_ref()),
            other => other.to_string(),
        }
    }
}

/// A gateway's refusal: the reason, the access transaction that logged it, what to do.
fn refusal_report(code: &str, message: &str, access_tx: Option<&TxId>) -> String {
    let logged = access_tx.map_or_else(
        || "the gateway named no access transaction".to_string(),
        |tx| format!("logged on chain as denied in access tx {tx} (`medchain query tx {tx}`)"),
    );
    format!(
        "the hospital gateway refused ({code}): {message}\n{logged}\nhint: {}",
        refusal_hint(code)
    )
}

/// The next step for a gateway's refusal code (the chain's deny reasons, snake_case).
fn refusal_hint(code: &str) -> &'static str {
    match code {
        "no_consent" | "consent_expired" => {
            "ask the patient for an authorisation: you run `medchain doctor ask`, they run `medchain patient authorize` (which also grants the consent on chain)"
        }
        "consent_revoked" => "the patient revoked the consent: only a new authorisation helps",
        "doctor_revoked" => {
            "you are on the revocation list (`medchain revocation check YOUR-IDENTITY`): your hospital or the regulator must lift it"
        }
        "licence_expired" | "unlicensed" => {
            "your hospital must issue or renew your licence (`medchain licence renew`)"
        }
        "licence_mismatch" => {
            "the licence is not your hospital's: pass --hospital with the URL of your own hospital's gateway"
        }
        "bad_authorisation" | "wrong_record" | "authorisation_expired" => {
            "the grant does not authorise this request: ask the patient for a new one (`medchain doctor ask`, then `medchain patient authorize`)"
        }
        "replayed" => {
            "this request was served already: start over with `medchain doctor ask` for a fresh agreement"
        }
        "no_emergency" | "emergency_mismatch" | "emergency_expired" => {
            "the emergency request does not cover this access: run `medchain doctor emergency` again to file a new one"
        }
        "not_our_doctor" => {
            "your own hospital's gateway gives no licence to a doctor the chain says it does not license: check `medchain licence show YOUR-IDENTITY` and `medchain revocation check YOUR-IDENTITY`, and that --hospital is your own hospital's gateway"
        }
        "not_a_doctor" | "requester_not_audited" => {
            "only a licensed doctor of an audited hospital is served: check `medchain identity show --address YOUR-ADDRESS`"
        }
        _ => "see the patient's access log (`medchain patient history`) for the decision",
    }
}

/// Whether a node's error code says the sender cannot pay (its balance or its coins).
fn is_unaffordable(code: &str) -> bool {
    matches!(
        code,
        "insufficient_balance" | "cannot_afford" | "outputs_exceed_inputs"
    )
}

/// The next step for a node's error code, in `medchain` commands.
fn cli_hint(code: &str) -> Option<&'static str> {
    Some(match code {
        "nonce_conflict" => {
            "another transaction from this key is still waiting for a block: let it finalize (`medchain query tx ID`; `medchain query account ADDRESS` shows the next nonce), then run the command again"
        }
        "mempool_full" => "the validators are busy: run the command again in a few seconds",
        "sender_limit" => {
            "this key already has as many transactions waiting as a node holds: let them finalize (`medchain query tx ID`), then run the command again"
        }
        "wrong_chain" => {
            "the node runs another chain than your genesis document: pass the --node and --genesis of one network"
        }
        "insufficient_balance" | "cannot_afford" => {
            "your account balance pays every fee (and stakes and access rewards): `medchain token balance --key YOUR-KEY` shows it and your coins; move coins to it with `medchain token fund --amount N`, or have a funded account send you tokens: `medchain token send --key FUNDED.key --to YOUR-ADDRESS --amount N --to-balance` (on the devnet the regulator and .devnet/accounts/*.key are funded)"
        }
        "outputs_exceed_inputs" | "unknown_output" | "unknown_input" | "fee_mismatch" => {
            "your coins changed since they were listed (another payment spent them, or the payment that made them is not final yet): `medchain token balance` shows them; run the command again"
        }
        "input_conflict" => {
            "another waiting transaction spends one of these coins: let it finalize (`medchain query tx ID`), then run the command again"
        }
        "fee_too_low" => {
            "leave out --fee to pay the least the chain's fee schedule accepts, or name more"
        }
        "not_found" => {
            "nothing is finalized under that id or height (yet): check it, or ask again once its block is final (`medchain query status` shows the height)"
        }
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use medchain_api::IdKind;

    #[test]
    fn an_ambiguous_prefix_is_a_usage_error_and_an_unknown_one_is_not_found() {
        let prefix: medchain_api::IdPrefix = "abcd".parse().unwrap();
        let ambiguous = CliError::Client(ClientError::AmbiguousId {
            kind: IdKind::Record,
            prefix: prefix.clone(),
            candidates: vec![],
            complete: false,
        });
        assert_eq!(ambiguous.status(), Status::Usage);
        let unknown = CliError::Client(ClientError::NoSuchId {
            kind: IdKind::Consent,
            prefix,
        });
        assert_eq!(unknown.status(), Status::NotFound);
        assert_eq!(CliError::NotFound("x".into()).status(), Status::NotFound);
        assert_eq!(CliError::NoGenesis.status(), Status::Error);
    }

    #[test]
    fn a_gateway_refusal_exits_7_naming_its_reason_access_tx_and_next_step() {
        let tx = TxId(medchain_types::Hash32::from([0xab; 32]));
        let refused = CliError::Gateway(GatewayClientError::Refused {
            code: "consent_revoked".into(),
            message: "the patient revoked consent c0ffee".into(),
            access_tx: Some(tx),
        });
        assert_eq!(refused.status(), Status::Refused);
        assert_eq!(refused.status().code(), 7);
        let report = refused.report();
        assert!(report.contains("refused (consent_revoked)"), "{report}");
        assert!(report.contains(&tx.to_string()), "{report}");
        assert!(report.contains("only a new authorisation"), "{report}");
        // Every other gateway failure is a plain error.
        let unreachable = CliError::Gateway(GatewayClientError::Unreachable {
            url: "http://127.0.0.1:1".into(),
            reason: "connection refused".into(),
        });
        assert_eq!(unreachable.status(), Status::Error);
    }

    #[test]
    fn not_enough_tokens_exits_9_with_how_to_fund() {
        assert_eq!(CliError::Unaffordable("x".into()).status().code(), 9);
        let refusal = |code: &str| {
            CliError::Client(ClientError::Api {
                status: 402,
                body: medchain_api::ErrorBody {
                    error: code.into(),
                    message: "the sender cannot pay its waiting transactions' fees".into(),
                    hint: "the node's hint".into(),
                },
            })
        };
        let unfunded = refusal("cannot_afford");
        assert_eq!(unfunded.status(), Status::Unaffordable);
        assert!(
            unfunded.report().contains("medchain token send"),
            "{}",
            unfunded.report()
        );
        assert_eq!(refusal("nonce_conflict").status(), Status::Error);
    }

    #[test]
    fn a_wrong_template_exits_8() {
        let wrong = CliError::WrongTemplate("no entry opens".into());
        assert_eq!(wrong.status().code(), 8);
    }
}
