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
    /// ARCNET with BSD (7) and Linux (129) headers.
    pub const ARCNET_BSD: LinkType = LinkType(7);
    pub const ARCNET_LINUX: LinkType = LinkType(129);
    pub const RAW_BSD_12: LinkType = LinkType(12);
    pub const RAW_BSD_14: LinkType = LinkType(14);

    /// Every link type the decoder understands, for error messages.
    pub const SUPPORTED: [LinkType; 13] = [
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
        LinkType::ARCNET_BSD,
        LinkType::ARCNET_LINUX,
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
            LinkType::ARCNET_BSD | LinkType::ARCNET_LINUX => "arcnet".into(),
            LinkType(n) => format!("linktype-{n}"),
        }
    }

    /// The name and number for messages, e.g. `ieee802.11-radiotap (127)`.
    pub fn describe(self) -> String {
        let name = match self.0 {
            9 => "ppp".into(),
            105 => "ieee802.11".into(),
            113 => "linux-sll".into(),
            127 => "ieee802.11-radiotap".into(),
            147..=162 => "user".into(),
            189 => "usb-linux".into(),
            220 => "usb-linux-mmapped".into(),
            239 => "nflog".into(),
            _ => self.name(),
        };
        format!("{name} ({})", self.0)
    }

    /// The supported link types for messages: `ethernet (1), linux-sll (113), ...`.
    pub fn supported_list() -> String {
        LinkType::SUPPORTED
            .iter()
            .map(|l| l.describe())
            .collect::<Vec<_>>()
            .join(", ")
    }

    pub fn is_supported(self) -> bool {
        LinkType::SUPPORTED.contains(&self)
    }
}
