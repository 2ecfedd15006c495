//! Real servers for tests (feature `testkit`): a throwaway PostgreSQL cluster and a moto S3
//! server, each started on a free loopback port and stopped when its guard drops. The gateway's
//! own tests and the workspace's end-to-end scenarios use them; nothing here is a mock.

mod moto;
mod postgres;

pub use moto::Moto;
pub use postgres::PostgresServer;
