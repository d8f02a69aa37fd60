use std::path::PathBuf;

/// Why a capture could not be read at all. Every message is one line that says what is wrong and
/// what to do.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaptureError {
    #[error("{}: no such file; check the path", path.display())]
    NotFound { path: PathBuf },
    #[error("{}: is a directory; give a capture file (pcap or pcapng) inside it", path.display())]
    IsDirectory { path: PathBuf },
    #[error("{}: cannot read: {source}; check that the file is readable", path.display())]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{name}: empty file; nothing was captured (did tcpdump run long enough?)")]
    Empty { name: String },
    #[error("{name}: not a packet capture (starts with {magic}); give a pcap or pcapng file, e.g. from tcpdump -w or kubectl sniff -o")]
    NotACapture { name: String, magic: String },
    /// The file starts like a capture but ends inside its file header: it holds no packet.
    #[error("{name}: the {format} file header is cut short ({have} of {need} bytes), so the capture holds no packets; capture again and let the capture run until packets are written")]
    HeaderCut {
        name: String,
        format: &'static str,
        have: usize,
        need: usize,
    },
    /// No interface of the capture has a link type the decoder reads.
    #[error("{name}: unsupported link type {found}; mtlscan reads {supported}; convert the capture (e.g. editcap -T ether) or capture on another interface (tcpdump -i any)")]
    UnsupportedLinkType {
        name: String,
        found: String,
        supported: String,
    },
    /// The file starts like a capture but its file header is invalid.
    #[error("{name}: damaged capture file header: {detail}; capture again, or repair the file (e.g. with pcapfix)")]
    BadHeader { name: String, detail: String },
}
