//! The hospital gateway.
pub mod emr;
pub mod fhir;
