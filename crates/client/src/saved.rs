//! Answers kept for later: a node's whole answer — header, finalization certificate, proof,
//! and what was asked — as a self-describing JSON file that verifies again, with no node,
//! against the genesis document alone.
//!
//! A file says what it holds (`kind`: a state value, access-log entries, a block or a
//! transaction) and what was asked, so verification also checks the answer is for that
//! question: a proof for another key, block or transaction is refused. Answers fetched online
//! go through the same [`Answer::verify`] as saved ones, so what `medchain verify` accepts is
//! exactly what `medchain query` accepted.

use crate::{
    Client, ClientError, Confirmed, FinalizedHeader, LightClient, StateQuery, TxEvidence, Verified,
    VerifiedBlock, VerifyError,
};
use medchain_api::{BlockView, ProvenView};
use medchain_state::{StateValue, values::AccessLogEntry};
use medchain_types::{Address, ChainId, ConsentId, IdentityName, OrgName, Purpose, RecordId};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use std::fmt;

/// The `format` of a saved answer; changed only if the layout changes incompatibly.
pub const SAVED_FORMAT: &str = "medchain-answer/1";

/// A provable question about state: which value, and so which key its proof must be for.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "of", rename_all = "snake_case")]
pub enum Question {
    /// An organisation (S2-register, S2-state).
    Org {
        /// Its name.
        name: OrgName,
    },
    /// An account's next nonce.
    Account {
        /// The address.
        address: Address,
    },
    /// The organisation an address belongs to.
    Member {
        /// The address.
        address: Address,
    },
    /// A released record (S1-release).
    Record {
        /// The record id.
        id: RecordId,
    },
    /// A record's storage pointer (S1-storage).
    Storage {
        /// The record id.
        record: RecordId,
    },
    /// A consent (S1-sharing).
    Consent {
        /// The consent id.
        id: ConsentId,
    },
    /// The consent covering a grantee, record and purpose (S1-sharing).
    Grant {
        /// Who would access.
        grantee: Address,
        /// Which record.
        record: RecordId,
        /// For what.
        purpose: Purpose,
    },
    /// Entry `seq` (from 0) of a patient's access log (S1-rights).
    AccessLogEntry {
        /// The patient.
        patient: Address,
        /// Position in the log.
        seq: u64,
    },
    /// An enrolled identity (S3-register, S4-ca).
    Identity {
        /// Its name.
        name: IdentityName,
    },
    /// The identity bound to an address.
    IdentityOf {
        /// The address.
        address: Address,
    },
    /// A doctor's licence (S3-register).
    Licence {
        /// The doctor's identity.
        doctor: IdentityName,
    },
    /// A doctor's entry on the revocation list (S3-revoke): absent means not revoked.
    Revocation {
        /// The doctor's identity.
        doctor: IdentityName,
        /// The height asked about; the newest the node proves if not given.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        height: Option<u64>,
    },
    /// The threshold PKG: threshold and public polynomial (S3-setup).
    Pkg,
}

/// Verifies a node's answer to one question, its value as JSON.
type VerifyAnswer = Box<dyn Fn(&LightClient, &ProvenView) -> Result<Verified<Value>, VerifyError>>;

/// A question with its value type erased: where to ask it, and how to verify the answer.
struct Erased {
    path: String,
    verify: VerifyAnswer,
}

fn erase<V: StateValue + Serialize + 'static>(query: StateQuery<V>) -> Erased {
    Erased {
        path: query.path().to_string(),
        verify: Box::new(move |light, view| {
            let verified = query.verify(light, view)?;
            Ok(Verified {
                // Plain data structs: serialising them cannot fail.
                value: verified
                    .value
                    .map(|value| serde_json::to_value(value).unwrap_or(Value::Null)),
                at: verified.at,
            })
        }),
    }
}

impl Question {
    fn erased(&self) -> Erased {
        match self {
            Self::Org { name } => erase(StateQuery::org(name)),
            Self::Account { address } => erase(StateQuery::account(address)),
            Self::Member { address } => erase(StateQuery::membership(address)),
            Self::Record { id } => erase(StateQuery::record(id)),
            Self::Storage { record } => erase(StateQuery::storage(record)),
            Self::Consent { id } => erase(StateQuery::consent(id)),
            Self::Grant {
                grantee,
                record,
                purpose,
            } => erase(StateQuery::grant(grantee, record, *purpose)),
            Self::AccessLogEntry { patient, seq } => {
                erase(StateQuery::access_log_entry(patient, *seq))
            }
            Self::Identity { name } => erase(StateQuery::identity(name)),
            Self::IdentityOf { address } => erase(StateQuery::identity_of(address)),
            Self::Licence { doctor } => erase(StateQuery::licence(doctor)),
            Self::Revocation { doctor, height } => {
                let query = StateQuery::revocation(doctor);
                erase(match height {
                    Some(height) => query.at_height(*height),
                    None => query,
                })
            }
            Self::Pkg => erase(StateQuery::pkg()),
        }
    }

    /// The API path that answers it (`/v1/state/...`).
    pub fn path(&self) -> String {
        self.erased().path
    }

    /// Verifies `view` as the answer to this question: a final header, and a proof for this
    /// question's key against its state root. The value comes back as JSON.
    pub fn verify(
        &self,
        light: &LightClient,
        view: &ProvenView,
    ) -> Result<Verified<Value>, VerifyError> {
        (self.erased().verify)(light, view)
    }
}

impl fmt::Display for Question {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Org { name } => write!(f, "organisation {name:?}"),
            Self::Account { address } => write!(f, "the nonce of account {address}"),
            Self::Member { address } => write!(f, "the organisation of {address}"),
            Self::Record { id } => write!(f, "record {id}"),
            Self::Storage { record } => write!(f, "the storage pointer of record {record}"),
            Self::Consent { id } => write!(f, "consent {id}"),
            Self::Grant {
                grantee,
                record,
                purpose,
            } => write!(
                f,
                "the consent letting {grantee} access record {record} for {}",
                crate::purpose_name(*purpose)
            ),
            Self::AccessLogEntry { patient, seq } => {
                write!(f, "entry {seq} of the access log of {patient}")
            }
            Self::Identity { name } => write!(f, "identity {name}"),
            Self::IdentityOf { address } => write!(f, "the identity of {address}"),
            Self::Licence { doctor } => write!(f, "the licence of {doctor}"),
            Self::Revocation {
                doctor,
                height: None,
            } => write!(f, "the revocation of {doctor}"),
            Self::Revocation {
                doctor,
                height: Some(height),
            } => write!(f, "the revocation of {doctor} at height {height}"),
            Self::Pkg => f.write_str("the threshold PKG"),
        }
    }
}

/// One entry of a saved access log.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct LoggedAnswer {
    /// Position in the log.
    pub seq: u64,
    /// The node's proven answer for it.
    pub answer: ProvenView,
}

/// A node's answer, by kind, with what was asked.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Answer {
    /// A state value, or its proven absence.
    #[serde(rename = "state_value")]
    State {
        /// What was asked.
        question: Question,
        /// `GET /v1/state/...`.
        answer: ProvenView,
    },
    /// Entries of a patient's access log, each proven on its own.
    AccessLog {
        /// The patient.
        patient: Address,
        /// The entries, in order.
        entries: Vec<LoggedAnswer>,
    },
    /// A finalized block.
    Block {
        /// The height asked for.
        height: u64,
        /// `GET /v1/blocks/{height}`.
        answer: BlockView,
    },
    /// A transaction's inclusion in a finalized block.
    Transaction(TxEvidence),
}

/// What an answer proved.
#[derive(Clone, Debug)]
pub enum Proven {
    /// A state value (`None`: proven absent), as JSON.
    State {
        /// What was asked.
        question: Question,
        /// The value and the finalized header it was proven at.
        verified: Verified<Value>,
    },
    /// Access-log entries.
    AccessLog {
        /// The patient.
        patient: Address,
        /// Each entry with its position (`None`: proven absent).
        entries: Vec<(u64, Verified<AccessLogEntry>)>,
    },
    /// A finalized block.
    Block(VerifiedBlock),
    /// A transaction in a finalized block (boxed, it is large).
    Transaction(Box<Confirmed>),
}

impl Proven {
    /// The finalized header the answer was verified at (the newest, for several entries;
    /// `None` for an empty access-log page).
    pub fn at(&self) -> Option<&FinalizedHeader> {
        match self {
            Self::State { verified, .. } => Some(&verified.at),
            Self::AccessLog { entries, .. } => entries
                .iter()
                .map(|(_, entry)| &entry.at)
                .max_by_key(|at| at.header.height),
            Self::Block(block) => Some(&block.at),
            Self::Transaction(confirmed) => Some(&confirmed.block.at),
        }
    }
}

impl Answer {
    /// Verifies the answer against the genesis validators, and that it answers what was asked.
    pub fn verify(&self, light: &LightClient) -> Result<Proven, VerifyError> {
        Ok(match self {
            Self::State { question, answer } => Proven::State {
                verified: question.verify(light, answer)?,
                question: question.clone(),
            },
            Self::AccessLog { patient, entries } => Proven::AccessLog {
                patient: *patient,
                entries: entries
                    .iter()
                    .map(|logged| {
                        let query = StateQuery::access_log_entry(patient, logged.seq);
                        Ok((
                            logged.seq,
                            light.verify_proven(&logged.answer, query.key())?,
                        ))
                    })
                    .collect::<Result<_, VerifyError>>()?,
            },
            Self::Block { height, answer } => {
                let block = light.verify_block(answer)?;
                if block.at.header.height != *height {
                    return Err(VerifyError::OtherQuestion {
                        answered: format!("block {}", block.at.header.height),
                        asked: format!("block {height}"),
                    });
                }
                Proven::Block(block)
            }
            Self::Transaction(evidence) => {
                Proven::Transaction(Box::new(evidence.clone().verify(light)?))
            }
        })
    }
}

/// An answer as saved to a file: the answer, the chain it is from, and where and when it
/// was fetched (those two are for the reader; verification trusts only the genesis).
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SavedAnswer {
    /// [`SAVED_FORMAT`].
    pub format: String,
    /// The chain the answer is from.
    pub chain_id: ChainId,
    /// The node that answered.
    pub node: String,
    /// When it was fetched, unix milliseconds (the saving machine's clock).
    pub saved_at_ms: u64,
    /// The answer.
    #[serde(flatten)]
    pub answer: Answer,
}

impl SavedAnswer {
    /// Wraps `answer`, fetched from `client`'s node at `now_ms`.
    pub fn new(client: &Client, answer: Answer, now_ms: u64) -> Self {
        Self {
            format: SAVED_FORMAT.to_string(),
            chain_id: client.light.chain_id().clone(),
            node: client.node.url().to_string(),
            saved_at_ms: now_ms,
            answer,
        }
    }

    /// Verifies the saved answer with `light` alone (no node is contacted).
    pub fn verify(&self, light: &LightClient) -> Result<Proven, VerifyError> {
        if self.format != SAVED_FORMAT {
            return Err(VerifyError::SavedFormat(self.format.clone()));
        }
        if &self.chain_id != light.chain_id() {
            return Err(VerifyError::OtherChain {
                answer: self.chain_id.clone(),
                genesis: light.chain_id().clone(),
            });
        }
        self.answer.verify(light)
    }
}

/// An answer that verified, kept with the node's answer so it can be saved.
#[derive(Clone, Debug)]
pub struct Checked {
    /// The node's answer.
    pub answer: Answer,
    /// What it proved.
    pub proven: Proven,
}

impl Checked {
    fn of(answer: Answer, light: &LightClient) -> Result<Self, ClientError> {
        let proven = answer.verify(light)?;
        Ok(Self { answer, proven })
    }
}

impl Client {
    /// Asks the node `question` and verifies the answer.
    pub fn ask(&self, question: Question) -> Result<Checked, ClientError> {
        self.verifying(|| {
            let answer = self.node.state(&question.path())?;
            Checked::of(
                Answer::State {
                    question: question.clone(),
                    answer,
                },
                &self.light,
            )
        })
    }

    /// Entries `from..from + limit` of `patient`'s access log, each verified; also returns how
    /// many entries the node says the log holds (a hint: only the entries are proven).
    pub fn ask_access_log(
        &self,
        patient: &Address,
        from: u64,
        limit: usize,
    ) -> Result<(u64, Checked), ClientError> {
        let total = self.node.access_log(patient, from, limit)?.total;
        let end = total.min(from.saturating_add(limit as u64));
        let entries = (from..end)
            .map(|seq| {
                let question = Question::AccessLogEntry {
                    patient: *patient,
                    seq,
                };
                Ok(LoggedAnswer {
                    seq,
                    answer: self.node.state(&question.path())?,
                })
            })
            .collect::<Result<_, ClientError>>()?;
        let answer = Answer::AccessLog {
            patient: *patient,
            entries,
        };
        let checked = self.verifying(|| Checked::of(answer.clone(), &self.light))?;
        Ok((total, checked))
    }

    /// A finalized block, verified.
    pub fn ask_block(&self, height: u64) -> Result<Checked, ClientError> {
        let answer = Answer::Block {
            height,
            answer: self.node.block(height)?,
        };
        self.verifying(|| Checked::of(answer.clone(), &self.light))
    }
}
