//! `medchain hospital`: runs the hospital gateway (`medchain_gateway::service`) with the
//! hospital's key file until the process is stopped.

use crate::{cli::HospitalArgs, connect, error::CliError, logs};
use medchain_client::{StateQuery, WaitPolicy};
use medchain_gateway::service::{HospitalConfig, HospitalService};
use std::time::Duration;

/// `medchain hospital`.
pub fn run(args: &HospitalArgs) -> Result<(), CliError> {
    logs::to_stderr("info");
    let material = connect::key_material(&args.key)?;
    let Some(entity_keys) = material.entity_keys else {
        return Err(CliError::Usage(format!(
            "{} holds no identity keys: enrol the hospital first (`medchain identity enrol --role hospital --name NAME --key {}`)",
            args.key.display(),
            args.key.display()
        )));
    };
    let client = connect::client(&args.connection)?;
    let pkg = client
        .read(&StateQuery::pkg())
        .map_err(|error| connect::explain(&client, error))?
        .value
        .ok_or_else(|| {
            CliError::Hospital(
                "the chain's threshold PKG has no key yet: wait for the validators' key generation"
                    .into(),
            )
        })?;
    let p_pub = pkg
        .public_polynomial
        .first()
        .ok_or_else(|| CliError::Inconsistent("the chain's PKG state has no public key".into()))?;
    let params = taka::PublicParams::from_bytes(&p_pub.0)
        .map_err(|e| CliError::Inconsistent(format!("the chain's PKG public key: {e}")))?;
    let identity_keys = taka::EntityKeys::from_bytes(&params, &entity_keys).map_err(|e| {
        CliError::Inconsistent(format!(
            "the identity keys in {} do not fit this chain's PKG: {e}",
            args.key.display()
        ))
    })?;
    let handle = HospitalService::start(HospitalConfig {
        chain: client,
        wait: WaitPolicy {
            timeout: Duration::from_secs(args.timeout),
            ..WaitPolicy::default()
        },
        chain_key: material.key,
        identity_keys,
        params,
        listen: args.listen,
        data_dir: args.data_dir.clone(),
        database: args.database.clone(),
        blobs: args.blobs.clone(),
        public_url: args.public_url.clone(),
        max_access_reward: args.max_access_reward,
    })
    .map_err(|e| CliError::Hospital(e.to_string()))?;
    if args.connection.json {
        // One line a supervisor can read the bound address from (`--listen 127.0.0.1:0`).
        let started = serde_json::json!({
            "listen": handle.addr().to_string(),
            "public_url": handle.public_url(),
        });
        println!("{started}");
    } else {
        println!(
            "hospital gateway serving on {} (public URL {}); Ctrl-C stops it",
            handle.addr(),
            handle.public_url()
        );
    }
    handle.join();
    Ok(())
}
