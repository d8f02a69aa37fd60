use std::path::PathBuf;

/// Why a capture could not be read at all. Every message says what is wrong and what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    #[error("{}: no such file; check the path", path.display())]
    NotFound { path: PathBuf },
    #[error("{}: is a directory; give a capture file (pcap or pcapng) inside it", path.display())]
    IsDirectory { path: PathBuf },
    #[error("{}: cannot read: {source}", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{name}: empty file; nothing was captured (did tcpdump run long enough?)")]
    Empty { name: String },
    #[error("{name}: not a packet capture (starts with {magic}); give a pcap or pcapng file, e.g. from tcpdump -w or kubectl sniff -o")]
    NotACapture { name: String, magic: String },
}
