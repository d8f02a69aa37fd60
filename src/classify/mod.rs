//! Classification: decides, from a flow's reassembled bytes, who the client is and whether the
//! flow was mutual TLS, TLS, plaintext, opaque or empty.

pub mod entropy;
pub mod plaintext;
pub mod tls;

use crate::flow::Flow;
use crate::model::Classification;
pub use tls::KeyLog;

/// What classification may use besides the flow itself.
#[derive(Debug, Default)]
pub struct Context {
    pub keylog: KeyLog,
}

/// Decides the client of a flow whose handshake was not captured.
pub fn orient(flow: &mut Flow) {
    let _ = flow;
}

/// Classifies one flow (`flow.a` is the client).
pub fn classify(flow: &Flow, ctx: &Context) -> Classification {
    let _ = (flow, ctx);
    unimplemented!()
}
