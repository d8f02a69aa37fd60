use super::{Flow, FlowLimits};
use crate::decode::Segment;

/// Groups segments into flows and reassembles each direction's prefix.
#[derive(Debug)]
pub struct FlowTable {
    limits: FlowLimits,
    flows: Vec<Flow>,
}

impl FlowTable {
    pub fn new(limits: FlowLimits) -> Self {
        FlowTable {
            limits,
            flows: Vec::new(),
        }
    }

    /// Adds one segment captured in frame `frame` at `ts_nanos`.
    pub fn push(&mut self, frame: u64, ts_nanos: i64, seg: &Segment<'_>) {
        let _ = (frame, ts_nanos, seg, &self.limits);
    }

    /// Ends reassembly (pending out-of-order data is placed after a hole) and returns every flow,
    /// ordered by first frame.
    pub fn finish(self) -> Vec<Flow> {
        self.flows
    }
}
