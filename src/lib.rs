//! mtlscan: reads a packet capture and proves, flow by flow (TCP and UDP), whether traffic was
//! protected by mutual TLS, by TLS without a client certificate, by another encryption (SSH,
//! WireGuard), or crossed the wire in plaintext.
//!
//! Data flows one way, one module per stage:
//!
//! ```text
//! bytes --capture--> Frame --decode--> Segment --flow--> Flow --classify--> Classification --report--> exporters
//! ```
//!
//! [`analyze::analyze`] runs the whole pipeline; [`run::run`] adds the reports and the policy as
//! the command makes them, and the binary is a thin shell over it.
#![forbid(unsafe_op_in_unsafe_fn)]
#![warn(missing_debug_implementations)]

pub mod analyze;
pub mod capture;
pub mod classify;
pub mod decode;
pub mod flow;
#[doc(hidden)]
pub mod fuzzing;
mod hash;
mod intern;
pub mod live;
pub mod mesh;
pub mod model;
pub mod names;
pub mod proof;
pub mod report;
pub mod run;
mod workers;

pub use analyze::{analyze, Analysis, AnalysisOptions, AnalyzeError, Progress, ProgressHook};
pub use workers::Workers;
