//! sea-orm entities, one file per table. Times are unix milliseconds (`i64`), so that both
//! backends store and sort them alike.

pub mod approval;
pub mod audit;
pub mod event;
pub mod message;
pub mod run;
pub mod session;
pub mod token;
