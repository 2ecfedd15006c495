//! Finalization certificates, as the light client decodes the hex a node sends with a header.

use crate::fixtures;
use commonware_codec::{Copying, Decode as _, Encode as _};
use commonware_consensus::simplex::types::Finalization;
use commonware_cryptography::certificate::Verifier as _;
use medchain_client::{ConsensusScheme, Finality};
use medchain_types::Hash32;

/// The input is a certificate for the fixture chain's height-1 header. The light client
/// ([`medchain_client::LightClient::verify_header`]) must refuse it with a typed error unless
/// it is a quorum of genesis validators' signatures over exactly that header's digest; and
/// whatever the certificate codec accepts, it re-encodes to bytes it decodes again to the same
/// certificate.
pub fn certificate(data: &[u8]) {
    let chain = fixtures::chain();
    if let Ok(finalized) = chain
        .light
        .verify_header(&chain.header_view, Some(&hex::encode(data)))
    {
        assert_eq!(finalized.header, chain.header);
        let Finality::Certificate {
            signers,
            validators,
        } = finalized.finality
        else {
            panic!("a height-1 header was accepted without a certificate");
        };
        assert!(
            3 * signers > 2 * validators,
            "{signers} of {validators} signers accepted as a quorum"
        );
    }

    let participants = chain
        .genesis
        .validator_set()
        .expect("the fixture genesis is valid");
    let codec = ConsensusScheme::verifier(&chain.genesis.consensus_namespace(), participants)
        .certificate_codec_config();
    let decode =
        |bytes: &[u8]| Finalization::<ConsensusScheme, Hash32>::decode_cfg(Copying(bytes), &codec);
    if let Ok(finalization) = decode(data) {
        let encoded = finalization.encode();
        let again = decode(&encoded).expect("a decoded certificate re-encodes decodably");
        assert_eq!(
            again.encode(),
            encoded,
            "certificate decode → encode is not stable"
        );
    }
}
