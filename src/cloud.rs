//! `medchain cloud`: runs a cloud proxy of the research market (`medchain_cloud`, S4-flow
//! steps 6–8) with the key of a member of an audited cloud organisation until the process is
//! stopped. Its encryption key lives in its data directory (made on first start); it registers
//! itself on chain unless it is registered already.

use crate::{cli::CloudArgs, connect, error::CliError, logs};
use medchain_client::WaitPolicy;
use medchain_cloud::{CloudConfig, CloudService};

/// The proxy's encryption key inside its data directory.
const PROXY_KEY: &str = "proxy.key";

/// `medchain cloud`.
pub fn run(args: &CloudArgs) -> Result<(), CliError> {
    logs::to_stderr("info");
    let key = connect::key(&args.key)?;
    let client = connect::client(&args.connection)?;
    std::fs::create_dir_all(&args.data_dir).map_err(CliError::io(&args.data_dir))?;
    let handle = CloudService::start(CloudConfig {
        chain: client,
        wait: WaitPolicy::default(),
        key,
        proxy_key_file: args.data_dir.join(PROXY_KEY),
        listen: args.listen,
        data_dir: args.data_dir.clone(),
        public_url: args.public_url.clone(),
    })
    .map_err(|e| CliError::Cloud(e.to_string()))?;
    if args.connection.json {
        // One line a supervisor can read the bound address from (`--listen 127.0.0.1:0`).
        let started = serde_json::json!({
            "listen": handle.addr().to_string(),
            "public_url": handle.public_url(),
            "proxy": handle.proxy(),
        });
        println!("{started}");
    } else {
        println!(
            "cloud proxy {} serving on {} (public URL {}); Ctrl-C stops it",
            handle.proxy(),
            handle.addr(),
            handle.public_url()
        );
    }
    handle.join();
    Ok(())
}
