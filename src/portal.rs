//! `medchain portal`: serves the web portal (`medchain_portal`) for the key file's account
//! until the process is stopped.

use crate::{cli::PortalArgs, connect, error::CliError, logs};
use medchain_client::WaitPolicy;
use medchain_portal::{Portal, PortalConfig};
use std::time::Duration;

/// `medchain portal`.
pub fn run(args: &PortalArgs) -> Result<(), CliError> {
    logs::to_stderr("warn");
    let material = connect::key_material(&args.key)?;
    let client = connect::client(&args.connection)?;
    // Fail now, with the reason, rather than on the first page: the node must run the
    // genesis's chain.
    client
        .check_chain()
        .map_err(|error| connect::explain(&client, error))?;
    let portal = Portal::start(PortalConfig {
        chain: client,
        key: material.key,
        entity_keys: material.entity_keys,
        wallet: material.wallet,
        listen: args.listen,
        wait: WaitPolicy {
            timeout: Duration::from_secs(args.timeout),
            ..WaitPolicy::default()
        },
    })
    .map_err(|e| CliError::Portal(e.to_string()))?;
    if args.connection.json {
        let started = serde_json::json!({
            "url": portal.login_url(),
            "address": portal.address(),
        });
        println!("{started}");
    } else {
        println!(
            "medchain portal for {} — open this URL in your browser (it signs you in; keep it to yourself):\n  {}\nCtrl-C stops it.",
            portal.address(),
            portal.login_url()
        );
    }
    portal.join();
    Ok(())
}
