//! Job operations, one module per seam: the send family and insert, claiming, settling by id,
//! and reads.

mod claim;
mod find;
mod send;
mod settle;
mod upsert;

pub use find::is_uuid;
pub(crate) use send::job_payload;
pub(crate) use send::may_conflict;
pub use send::{check_send_args, SendRequest};
pub use settle::completion_output;
pub(crate) use settle::uuid_input;
pub use upsert::{check_update_args, CreatedJobs, UpdateOutcome, UpdateRequest};
