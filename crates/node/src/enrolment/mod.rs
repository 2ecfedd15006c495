//! The enrolment service (S3-register with a threshold PKG): this validator's side of key
//! extraction, served over the HTTP API (`POST /v1/pkg/commitments`, `POST
//! /v1/pkg/partial-keys`).

pub mod nonces;
