//! API errors: a status code, a stable machine-readable code, a message, and what to do next.

use crate::chain::{AdmitError, BlockError};
use crate::mempool::AdmissionError;
use axum::{Json, http::StatusCode, response::IntoResponse};
use medchain_api::ErrorBody;
use medchain_state::ExecError;

/// An error a handler returns.
#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
}

impl ApiError {
    fn new(
        status: StatusCode,
        error: &'static str,
        message: impl ToString,
        hint: &'static str,
    ) -> Self {
        Self {
            status,
            body: ErrorBody {
                error: error.into(),
                // Messages may quote the request (serde's and axum's do): never echo it whole.
                message: medchain_api::elide(&message.to_string(), medchain_api::MAX_MESSAGE_CHARS),
                hint: hint.into(),
            },
        }
    }

    /// An error with its own status, code and hint.
    pub(crate) fn with_hint(
        status: StatusCode,
        error: &'static str,
        message: impl ToString,
        hint: &'static str,
    ) -> Self {
        Self::new(status, error, message, hint)
    }

    /// A malformed request parameter or body.
    pub fn bad_request(message: impl ToString, hint: &'static str) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message, hint)
    }

    /// Nothing at that id or height.
    pub fn not_found(message: impl ToString) -> Self {
        Self::new(
            StatusCode::NOT_FOUND,
            "not_found",
            message,
            "check the id; finalized data appears only after its block is committed",
        )
    }

    /// The node itself failed.
    pub fn internal(message: impl ToString) -> Self {
        Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "node_unavailable",
            message,
            "retry later; if it persists, check the node's logs",
        )
    }
}

impl From<AdmitError> for ApiError {
    fn from(error: AdmitError) -> Self {
        use medchain_types::TxError;
        match &error {
            AdmitError::Invalid(TxError::WrongChain { .. }) => Self::new(
                StatusCode::BAD_REQUEST,
                "wrong_chain",
                error,
                "sign the transaction with this node's chain id (GET /v1/status)",
            ),
            AdmitError::Invalid(TxError::Malformed(_) | TxError::TooLarge(_)) => Self::new(
                StatusCode::BAD_REQUEST,
                "malformed_transaction",
                error,
                "send the hex of a canonically encoded signed transaction",
            ),
            AdmitError::Invalid(TxError::NotAKey { .. }) => Self::new(
                StatusCode::BAD_REQUEST,
                "invalid_address",
                error,
                "name parties by their address as `medchain address --key FILE` prints it",
            ),
            AdmitError::Invalid(_) => Self::new(
                StatusCode::BAD_REQUEST,
                "bad_signature",
                error,
                "sign with the sender's key; embedded attestations and endorsements must be signed by the named parties",
            ),
            AdmitError::Rejected(rejection) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "rejected",
                error.to_string(),
                rejection_hint(rejection),
            ),
            AdmitError::Mempool(AdmissionError::Full) => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "mempool_full",
                error,
                "retry after a few blocks",
            ),
            AdmitError::Mempool(AdmissionError::SenderFull { .. }) => Self::new(
                StatusCode::TOO_MANY_REQUESTS,
                "sender_limit",
                error,
                "wait until this sender's waiting transactions are finalized (GET /v1/transactions/{id}), then send more",
            ),
            AdmitError::Mempool(AdmissionError::FeeTooLow { .. }) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "fee_too_low",
                error,
                "name at least the minimum fee: the genesis fee schedule's base plus its per-byte fee times the signed transaction's size (the CLI does this unless --fee says otherwise)",
            ),
            AdmitError::Mempool(AdmissionError::CannotAfford { .. }) => Self::new(
                StatusCode::PAYMENT_REQUIRED,
                "cannot_afford",
                error,
                "fund the sender's balance (a transfer to it with --to-balance), or wait until its waiting transactions are finalized",
            ),
            AdmitError::Mempool(AdmissionError::InputConflict { .. }) => Self::new(
                StatusCode::CONFLICT,
                "input_conflict",
                error,
                "another waiting transaction spends this output: wait until it is finalized or dropped (GET /v1/transactions/{id}), then list the unspent outputs again (GET /v1/lists/outputs/{address})",
            ),
            AdmitError::Mempool(AdmissionError::UnknownInput(_)) => Self::new(
                StatusCode::UNPROCESSABLE_ENTITY,
                "unknown_input",
                error,
                "spend only finalized unspent outputs (GET /v1/lists/outputs/{address}); if the output comes from a transaction you just sent, wait until it is finalized",
            ),
            AdmitError::Mempool(_) => Self::new(
                StatusCode::CONFLICT,
                "nonce_conflict",
                error,
                "use the sender's next nonce (GET /v1/state/accounts/{address})",
            ),
            AdmitError::State(_) => Self::internal(error),
        }
    }
}

/// What to do about each rule the state machine enforces: the next step differs per rule, so
/// every rejection carries its own (the match is exhaustive: a new rule needs its hint).
fn rejection_hint(rejection: &ExecError) -> &'static str {
    use ExecError as E;
    match rejection {
        E::State(_) => "the node could not read its state; retry later, or ask another node",
        E::WrongChain { .. } => "sign the transaction with this node's chain id (GET /v1/status)",
        E::BadNonce { .. } => {
            "sign again with the sender's next nonce (GET /v1/state/accounts/{address})"
        }
        E::NonceExhausted => "this account can send no more transactions; use a new key",
        E::NoTokens => {
            "this chain was created without tokens (its genesis has no `tokens` section): there is nothing to transfer or stake"
        }
        // Fees, balances and transfers (issue 11).
        E::FeeTooLow { .. } => {
            "raise the fee to at least the minimum in the message (the genesis fee schedule: base + per byte of the signed transaction)"
        }
        E::InsufficientBalance { .. } => {
            "fund the account first (a transfer with a `to balance` output), or send less (GET /v1/state/accounts/{address})"
        }
        E::AmountOverflow => "the amounts are too large: send smaller amounts",
        E::RewardAboveLimit { .. } => {
            "the consent now asks the reward in the message, more than this request's max_reward: re-read the consent (GET /v1/state/consents/{id}) and send again with --max-reward set to that reward if you accept it"
        }
        E::UnknownOutput(_) => {
            "the output is spent or never existed: list the sender's unspent outputs again (GET /v1/lists/outputs/{address})"
        }
        E::DuplicateInput => "list each input once",
        E::EmptyTransfer => "a transfer spends inputs or balance and creates at least one output",
        E::TransferTooLarge { .. } => {
            "split the transfer: at most 16 inputs, 16 outputs and 8 cosignatures each"
        }
        E::OutputsExceedInputs { .. } => {
            "spend more inputs (or balance), or pay out less: outputs plus fee must equal what is spent"
        }
        E::FeeMismatch { .. } => {
            "inputs + balance spent - outputs must equal the fee exactly: add a change output to yourself for the rest"
        }
        E::MissingSignature { .. } => {
            "every input's owner signs: add the owner's cosignature (k of the keys of a k-of-m output)"
        }
        E::OutputLocked { .. } => "wait until the output's lock time has passed, then spend it",
        E::ContractLocked => {
            "an escrow's coins move only by its release or refund (`medchain token escrow release|refund`)"
        }
        E::ContractOutput => {
            "to lock coins in a contract, open an escrow (`medchain token escrow open`)"
        }
        E::ZeroValueOutput => "every output carries a positive amount",
        E::InvalidMultisig => {
            "a k-of-m lock names 1 to 5 distinct keys and a threshold from 1 to the number of keys"
        }
        E::UnknownEscrow => {
            "check the escrow id: it is the id of the opening transaction (GET /v1/state/escrows/{id})"
        }
        E::ArbiterIsPayer => {
            "name a third party as the escrow's arbiter: a payer refereeing its own escrow could take the coins back at any time"
        }
        E::EscrowAlreadySettled => "nothing to do: the escrow was released or refunded already",
        E::NotEscrowParty => {
            "release with the payer's or arbiter's key; refund with the payee's or arbiter's key (or the payer's after the refund time)"
        }
        E::RefundNotYet => {
            "wait until the escrow's refund time, or ask the payee or arbiter to refund"
        }
        E::TxExpired { .. } => {
            "the transaction's deadline (valid_until_ms) has passed: sign it again with a later deadline"
        }
        E::RegulatorCannotRegister => {
            "register the organisation with the key of its first member, not the regulator's"
        }
        E::RegulatorCannotJoin => {
            "the regulator stays outside every organisation; join with a member's own key"
        }
        E::OrgExists(_) => {
            "choose another name, or join the existing organisation with an endorsement from one of its members"
        }
        E::AlreadyMember(_) => {
            "an address belongs to one organisation; use another key for another organisation"
        }
        E::NotRegulator => "sign with the regulator's key (named in the genesis document)",
        E::UnknownOrg(_) => {
            "check the name's spelling and case (GET /v1/state/orgs/{name}); register it first if it is new"
        }
        E::StateUnchanged(_) => {
            "nothing to do: the organisation is already in that state (GET /v1/state/orgs/{name})"
        }
        E::OrgNotAudited(_) => {
            "wait until the regulator approves the organisation, then join (GET /v1/state/orgs/{name})"
        }
        E::EndorserNotMember(_) => {
            "ask a member of this organisation for the endorsement (GET /v1/state/members/{address})"
        }
        E::NotAuditedHospitalMember => {
            "doctors and hospitals enrol with the key of a member of an audited hospital (GET /v1/state/members/{address})"
        }
        E::RecordAlreadyReleased(_) => {
            "this record is on chain already: use the record id in the message"
        }
        E::FiledOnMed(_) => {
            "doctors release with `medchain doctor write` and patients file entries with `medchain patient entry`: both go through the hospital's gateway (POST /v1/entries for entries) onto MED, and SUP imports them when it checkpoints their Mblock"
        }
        E::UnknownRecord(_) => {
            "check the record id: it is the id of the release transaction (GET /v1/state/records/{id})"
        }
        E::NotPatient(_) => "sign with the key of the patient the record is about",
        E::EmptyGrant | E::TooManyRecords(_) | E::DuplicateRecord(_) => {
            "list each record once: at least one, and no more than the limit"
        }
        E::SelfGrant => "a patient reads its own records without consent: grant to someone else",
        E::ExpiryInPast => {
            "choose an expiry after the chain's current block time and height (GET /v1/blocks/latest)"
        }
        E::UnknownConsent(_) => {
            "check the consent id: it is the id of the grant transaction (GET /v1/state/consents/{id})"
        }
        E::NotGrantor(_) => "only the patient who granted a consent revokes it: sign with that key",
        E::AlreadyRevoked(_) => "nothing to do: the consent is already revoked",
        // Identity, licences and the revocation list (issue 8).
        E::IdentityTaken { .. } => {
            "that identity belongs to another address: choose another name (GET /v1/state/identities/{name})"
        }
        E::AddressAlreadyEnrolled(_) => {
            "an address holds one identity for good; use another key for another identity (GET /v1/state/identities/by-address/{address})"
        }
        E::PseudonymMismatch { .. } => {
            "a patient enrols under the pseudonym in the message (`patient:` and its address), never a name"
        }
        E::ReservedIdentity(_) => {
            "names starting with `patient:` are patients' pseudonyms: choose a name like dr-kim@seoul-general"
        }
        E::InvalidKeyPart => {
            "send the compressed BLS12-381 G1 point x_U·P that `medchain identity enrol` computes"
        }
        E::NotEnrolled => {
            "enrol the sender's identity first (`medchain identity enrol`); releasing records needs an enrolled, licensed doctor"
        }
        E::NotAHospital(_) => "licences are issued and renewed with the key of a hospital identity",
        E::UnknownIdentity(_) => {
            "check the identity's spelling (GET /v1/state/identities/{name}); the doctor must enrol first"
        }
        E::NotADoctor(_) => "only a doctor identity is licensed, revoked or releases records",
        E::DoctorOfAnotherOrg { .. } => {
            "a hospital licenses only doctors enrolled with its own organisation; ask the doctor's hospital"
        }
        E::LicenceExpiryInPast => {
            "choose an expiry after the chain's current block time (GET /v1/blocks/latest)"
        }
        E::LicenceExists(_) => "the doctor is licensed already: renew the licence instead",
        E::Unlicensed(_) => {
            "ask the doctor's hospital for a licence (`medchain licence issue`; GET /v1/state/licences/{doctor})"
        }
        E::LicenceExpired { .. } => {
            "the licence has expired: ask the doctor's hospital to renew it (`medchain licence renew`)"
        }
        E::DoctorRevoked(_) => {
            "the doctor is on the revocation list (GET /v1/state/revocations/{doctor}); only the revoker or the regulator lifts it"
        }
        E::NotRevoker(_) => {
            "sign with the key of the doctor's licensing hospital (or of whoever revoked, to lift) or the regulator's"
        }
        E::DoctorAlreadyRevoked(_) => "nothing to do: the doctor is already revoked",
        E::NotRevoked(_) => "nothing to do: the doctor is not on the revocation list",
        // The threshold PKG's dealer logs are sent by the validators' nodes themselves.
        E::NotValidator | E::DealerLogSigner { .. } => {
            "dealer logs are published by each genesis validator's node, signed with its own validator key; nothing to send by hand"
        }
        E::PkgAlreadyReady { .. } => {
            "nothing to do: the threshold PKG is set up (GET /v1/state/pkg)"
        }
        E::WrongDkgRound { .. } => "publish the log for the running DKG round (0)",
        E::DuplicateDealerLog(_) => {
            "nothing to do: this validator's dealer log is on chain already"
        }
        E::MalformedDealerLog(_) | E::DealerLogSignature | E::UnusableDealerLog(_) => {
            "the validator's node must deal again for this chain (restart it with its data directory); check its log for DKG errors"
        }
        // Staking, election and slashing (issue 11, S1-dpos).
        E::NotACandidate => {
            "delegate to a registered candidate (GET /v1/lists/candidates); a node key becomes one with `medchain stake register`"
        }
        E::CandidateExists => "nothing to do: this node key is a candidate already",
        E::EndorserNotHospital => {
            "only audited hospital organisations run validators: register for a hospital, endorsed by one of its members"
        }
        E::TooManyCandidates(_) => {
            "a hospital runs at most 4 candidate nodes: delegate to one of its candidates instead of registering another"
        }
        E::CandidateJailed => {
            "this candidate was slashed for double-signing and is never elected again: delegate to another candidate"
        }
        E::StakeTooLow => "stake a positive amount, large enough to buy at least one share",
        E::InsufficientStake => {
            "undelegate at most what the delegation is worth now (GET /v1/state/delegations/{candidate}/{delegator} and the candidate's pool)"
        }
        E::NothingToWithdraw => {
            "undelegate first (`medchain stake undelegate`), then withdraw once the unbonding delay has passed"
        }
        E::StillUnbonding { .. } => {
            "wait until the release epoch in the message (GET /v1/status shows the epoch), then withdraw"
        }
        E::BadEvidence(_) => {
            "report only conflicting votes signed by a validator of the evidence's epoch on this chain"
        }
        E::EvidenceTooOld => {
            "evidence is taken only within the unbonding window; this one can no longer be acted on"
        }
        E::AlreadySlashed => "nothing to do: this validator was slashed for that epoch already",
        E::UnknownEpoch(_) => "the evidence names an epoch that has not started on this chain",
        // EMR entries, vouching keys, emergencies and served access (issue 9).
        E::NotRecordCustodian(_) => {
            "sign with the key of the record's patient, or file through the gateway of the hospital that released it (only its hospital identity may; GET /v1/state/records/{id} names the hospital)"
        }
        E::BadVouchingProof => {
            "sign the proof of possession with the vouching key itself, for the sender's address and this chain's id"
        }
        E::NoVouchingKey(_) => {
            "the doctor and its hospital each register a vouching key first (GET /v1/state/vouching-keys/{address})"
        }
        E::StaleEmergency { .. } => {
            "issue the emergency request again with the current time (GET /v1/blocks/latest shows the chain's time)"
        }
        E::BadVouch => {
            "both the doctor and its hospital sign exactly this request (doctor, hospital, record, h_ur, issue time); aggregate the two signatures"
        }
        E::NotRecordHolder(_) => {
            "ask the gateway of the hospital that released the record: only that hospital's identity (the gateway's key) files its access decisions, not its doctors or staff"
        }
        E::DuplicateEmergency(_) => {
            "nothing to do: this request is on chain already (GET /v1/state/emergencies/{id}); a new emergency needs a new h_ur and vouch"
        }
        E::CircuitExists => {
            "this verifying key is registered already: studies name it by its digest (GET /v1/state/research/circuits/{digest})"
        }
        E::BadVerifyingKey(_) => {
            "register the verifying key `medchain zk setup` wrote, unaltered; a degenerate key would accept forged proofs"
        }
        E::UnknownCircuit(_) => {
            "name a circuit the regulator registered (GET /v1/state/research/circuits/{digest}), or ask the regulator to register it"
        }
        E::NotAPatient => {
            "enrol the sender as a patient identity first (`medchain patient enrol`), then file the nullifier key"
        }
        E::NotAFieldElement(_) => {
            "send the value the zk library produced, unaltered: it must be a canonical BN254 field element"
        }
        E::NullifierKeyExists => {
            "nothing to do: the patient's nullifier key is on chain (GET /v1/state/research/nullifier-keys/{address})"
        }
        E::NoNullifierKey(_) => {
            "the patient files its nullifier key first (`medchain patient enrol-study` does it), then the hospital attests"
        }
        E::AlreadyAttested(_) => {
            "nothing to do: the record's commitment is attested (GET /v1/state/research/attestations/{record})"
        }
        E::NotRecordHospital(_) => {
            "sign with the hospital identity of the organisation that released the record"
        }
        E::AccumulatorFull => {
            "the accumulator holds 2^24 commitments; a new accumulator needs a new circuit generation"
        }
        E::NotCloudMember => {
            "join an audited cloud organisation first (`medchain org join`), then register as a proxy"
        }
        E::ProxyExists => {
            "nothing to do: the sender is a registered proxy (GET /v1/state/research/proxies/{address})"
        }
        E::NotResearchMember => "publish from a member of an audited research organisation",
        E::NotResearchPurpose(_) => "a study's purpose is research",
        E::BadPredicate(_) | E::PredicateTooLarge(_) => {
            "write the predicate in the zk text form over the circuit's schema, with no more clauses than the circuit has slots (`medchain research publish --help`)"
        }
        E::BadThreshold { .. } => "name a threshold between 1 and the number of proxies",
        E::DuplicateProxy(_) => "name each proxy once",
        E::UnknownProxy(_) => {
            "name registered proxies only (GET /v1/state/research/proxies/{address})"
        }
        E::NoParticipants => "accept at least one participant",
        E::DeadlineInPast => "set a deadline after the current block time (GET /v1/status)",
        E::NotResearcher => "sign with the key that published the study",
        E::UnknownStudy(_) => "name a published study (GET /v1/lists/studies)",
        E::StudyClosed { .. } => "enrol in an open study (`medchain patient studies`)",
        E::StudyFull { .. } => "the study has all its participants; pick another",
        E::StudyUnfunded { .. } => {
            "wait until the researcher funds the study (GET /v1/state/research/studies/{id} shows its pool)"
        }
        E::ZeroFunding => "fund with a positive amount",
        E::UnknownRoot => {
            "prove against the accumulator the chain proves (GET /v1/state/research/accumulator): the commitment must be attested by its hospital"
        }
        E::MalformedProof(_) | E::ProofRejected => {
            "prove again with the registered proving key, for this study, from the one-time key that signs the enrolment"
        }
        E::AlreadyEnrolled => "nothing to do: this record is enrolled in the study already",
        E::ExclusivelyLicensed { .. } => {
            "the record is licensed exclusively to another study and cannot be sold again"
        }
        E::SharedBefore => {
            "an exclusive study takes only records never shared with a study; pick a non-exclusive study"
        }
        E::UnknownEnrolment(_) => {
            "name an accepted enrolment (GET /v1/lists/study-enrolments/{study})"
        }
        E::NotStudyProxy => "only a proxy the study names logs its re-encryptions",
        E::AlreadyLogged => "nothing to do: this proxy's re-encryption is logged",
        E::StudyStillOpen { .. } => "refund after the study's deadline",
        E::NothingToRefund => {
            "nothing to do: the study's pool holds no free tokens (owed rewards stay until claimed)"
        }
        E::UnknownSchema(_) => {
            "register a circuit for a schema the proving system knows (clinical_v1)"
        }
        E::SchemaShapeMismatch { .. } => {
            "set the circuit up with the schema's number of attributes (`medchain zk setup --attributes`)"
        }
        E::RewardBelowFee { .. } => {
            "offer a reward of at least an enrolment's fee (the error names it), so a patient's one-time key can pay it"
        }
        E::DisputeWindowTooLong { .. } => "set a dispute window of at most 30 days",
        E::NotPending { .. } => {
            "nothing to do: the enrolment is already acknowledged, disputed or settled (GET /v1/state/research/enrolments/{id})"
        }
        E::DisputeWindowClosed { .. } => {
            "the dispute window has passed: the patient may claim the owed reward"
        }
        E::NotDisputed { .. } => "only a disputed enrolment is resolved",
        E::NotPayee => {
            "claim with the one-time key that filed the enrolment (`medchain patient claim`)"
        }
        E::ClaimTooEarly { .. } => {
            "wait until the researcher acknowledges the record or the dispute window passes"
        }
        E::NotClaimable { .. } => {
            "nothing to claim: the enrolment was disputed and not resolved in the payee's favour, or is claimed already"
        }
        E::NothingOwed => "nothing to do: the enrolment's whole reward was paid as its advance",
    }
}

impl From<BlockError> for ApiError {
    fn from(error: BlockError) -> Self {
        Self::internal(error)
    }
}

impl From<medchain_storage::StorageError> for ApiError {
    fn from(error: medchain_storage::StorageError) -> Self {
        Self::internal(error)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> axum::response::Response {
        (self.status, Json(self.body)).into_response()
    }
}

impl ApiError {
    /// The JSON body, for embedding in a batch response.
    pub fn into_body(self) -> ErrorBody {
        self.body
    }
}

/// Rejections of axum's extractors (unparsable JSON, bad query strings or paths) become the
/// same JSON errors as everything else.
macro_rules! rejection_into_api_error {
    ($($rejection:ty => $hint:literal),+ $(,)?) => {$(
        impl From<$rejection> for ApiError {
            fn from(rejection: $rejection) -> Self {
                Self::new(rejection.status(), "bad_request", rejection.body_text(), $hint)
            }
        }
    )+};
}

rejection_into_api_error!(
    axum::extract::rejection::JsonRejection => "send a JSON body as documented at /openapi.json",
    axum::extract::rejection::QueryRejection => "check the query parameters at /openapi.json",
    axum::extract::rejection::PathRejection => "check the path parameters at /openapi.json",
);

/// The answer to a route that does not exist.
pub(super) async fn no_such_route() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "no_such_route",
        "no such route",
        "the routes are listed at /openapi.json",
    )
}

/// The answer to a known route called with the wrong method.
pub(super) async fn wrong_method() -> ApiError {
    ApiError::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "this route does not accept that method",
        "the methods of each route are listed at /openapi.json",
    )
}
