/// A link-layer header type (LINKTYPE_* value of the pcap and pcapng specifications).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LinkType(pub u32);

impl LinkType {
    pub const NULL: LinkType = LinkType(0);
    pub const ETHERNET: LinkType = LinkType(1);
    pub const RAW: LinkType = LinkType(101);
    pub const LOOP: LinkType = LinkType(108);
    pub const LINUX_SLL: LinkType = LinkType(113);
    pub const IPV4: LinkType = LinkType(228);
    pub const IPV6: LinkType = LinkType(229);
    pub const LINUX_SLL2: LinkType = LinkType(276);
    /// Linux netfilter log (NFLOG): packets logged by a firewall rule.
    pub const NFLOG: LinkType = LinkType(239);
    /// Raw IP as some BSDs number it (12, 14); read like 101.
    pub const RAW_BSD_12: LinkType = LinkType(12);
    pub const RAW_BSD_14: LinkType = LinkType(14);

    /// Every link type the decoder understands, for error messages.
    pub const SUPPORTED: [LinkType; 11] = [
        LinkType::ETHERNET,
        LinkType::LINUX_SLL,
        LinkType::LINUX_SLL2,
        LinkType::RAW,
        LinkType::RAW_BSD_12,
        LinkType::RAW_BSD_14,
        LinkType::IPV4,
        LinkType::IPV6,
        LinkType::NULL,
        LinkType::LOOP,
        LinkType::NFLOG,
    ];

    /// Short name used in reports (`ethernet`, `linux-sll2`, ...), or `linktype-N`.
    pub fn name(self) -> String {
        match self {
            LinkType::NULL => "null".into(),
            LinkType::ETHERNET => "ethernet".into(),
            LinkType::RAW | LinkType::RAW_BSD_12 | LinkType::RAW_BSD_14 => "raw".into(),
            LinkType::LOOP => "loop".into(),
            LinkType::LINUX_SLL => "linux-sll".into(),
            LinkType::IPV4 => "ipv4".into(),
            LinkType::IPV6 => "ipv6".into(),
            LinkType::LINUX_SLL2 => "linux-sll2".into(),
            LinkType::NFLOG => "nflog".into(),
            LinkType(n) => format!("linktype-{n}"),
        }
    }

    pub fn is_supported(self) -> bool {
        LinkType::SUPPORTED.contains(&self)
    }
}
