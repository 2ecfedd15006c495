//! The hospital gateway (`medchain hospital`): a hospital's own service beside its validator, a
//! client of the node's API. See the crate README for what each module owns.

pub mod emr;
pub mod fhir;
