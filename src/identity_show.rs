//! `medchain identity show` (S3-register, S4-ca): an identity by name, or the one bound to an
//! address, verified against a finalized block. Enrolment (`identity enrol`) lives elsewhere:
//! it needs the threshold PKG's key extraction.

use crate::{cli::IdentityShowArgs, connect, error::CliError, exit::Status, query};
use medchain_client::{Question, StateQuery};

/// Shows the identity named, or bound to the address given; an address bound to nothing is
/// shown as its proven absence.
pub fn show(args: IdentityShowArgs) -> Result<Status, CliError> {
    let IdentityShowArgs {
        name,
        address,
        reading,
    } = args;
    let name = match (name, address) {
        (Some(name), _) => name,
        (None, Some(address)) => {
            let client = connect::client(&reading.connection)?;
            let bound = client
                .read(&StateQuery::identity_of(&address))
                .map_err(|error| connect::explain(&client, error))?;
            match bound.value {
                Some(name) => name,
                None => return query::state(&reading, Question::IdentityOf { address }),
            }
        }
        (None, None) => {
            return Err(CliError::Usage(
                "give an identity name or --address ADDRESS".into(),
            ));
        }
    };
    query::state(&reading, Question::Identity { name })
}
